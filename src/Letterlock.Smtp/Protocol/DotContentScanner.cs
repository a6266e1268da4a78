namespace Letterlock.Smtp.Protocol;

/// <summary>
/// The DATA content grammar without I/O: finds the end <c>CRLF "." CRLF</c> (RFC 5321, 4.1.1.4), removes the
/// stuffed dot of lines that start with one (4.5.2) and stops at a bare LF, since RFC 5321, 2.3.8 allows LF only in
/// CRLF and a lenient end-of-data is what SMTP smuggling exploits. A bare CR is passed on as content. Content past
/// <c>maxSize</c> is counted but not copied.
/// </summary>
/// <param name="maxSize">The most bytes copied out.</param>
internal struct DotContentScanner(long maxSize)
{
    private State _state = State.LineStart;

    public enum Outcome
    {
        /// <summary>All input used; the end was not seen yet.</summary>
        NeedMore,

        /// <summary>The end was seen; <c>consumed</c> includes its final LF.</summary>
        End,

        /// <summary>A bare LF; <c>consumed</c> includes it.</summary>
        BareLf,
    }

    private enum State
    {
        LineStart,
        Middle,
        Cr,
        Dot,
        DotCr,
    }

    /// <summary>Bytes in the output chunk so far; the caller empties it (sets 0) after handing it on.</summary>
    public int Filled { get; set; }

    /// <summary>Content bytes seen so far (copied or not).</summary>
    public long Total { get; private set; }

    /// <summary>
    /// Scans <paramref name="input"/> into <paramref name="output"/> (from <see cref="Filled"/>) until the end, a bare
    /// LF, the input is used up, or the output is full.
    /// </summary>
    public Outcome Scan(ReadOnlySpan<byte> input, Span<byte> output, out int consumed)
    {
        consumed = 0;
        while (consumed < input.Length)
        {
            // room for the two bytes a step may emit (".\r" followed by a byte emits CR and that byte)
            if (Filled > output.Length - 2)
            {
                return Outcome.NeedMore;
            }

            byte b = input[consumed++];
            switch (_state)
            {
                case State.LineStart when b == (byte)'.':
                    _state = State.Dot;
                    break;
                case State.Dot when b == (byte)'\r':
                    _state = State.DotCr;
                    break;
                case State.DotCr when b == (byte)'\n':
                    return Outcome.End;
                case State.DotCr:
                    // "." CR then something else: the dot was stuffing, the CR is content
                    Emit(output, (byte)'\r');
                    if (b == (byte)'\n')
                    {
                        return Outcome.BareLf;
                    }

                    Emit(output, b);
                    _state = b == (byte)'\r' ? State.Cr : State.Middle;
                    break;
                case State.Cr when b == (byte)'\n':
                    Emit(output, b);
                    _state = State.LineStart;
                    break;
                case var _ when b == (byte)'\n':
                    return Outcome.BareLf;
                case var _ when b == (byte)'\r':
                    Emit(output, b);
                    _state = State.Cr;
                    break;
                default:
                    // after a line-initial dot this drops the dot: only the byte after it is emitted
                    Emit(output, b);
                    _state = State.Middle;
                    break;
            }
        }

        return Outcome.NeedMore;
    }

    private void Emit(Span<byte> output, byte b)
    {
        Total++;
        if (Total <= maxSize)
        {
            output[Filled++] = b;
        }
    }
}
