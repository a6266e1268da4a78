using System.Text;

namespace Letterlock.Imap.Mime;

/// <summary>One address of an ENVELOPE: <c>address = "(" addr-name SP addr-adl SP addr-mailbox SP addr-host ")"</c>.</summary>
/// <param name="Name">addr-name (still RFC 2047-encoded, as ENVELOPE carries it).</param>
/// <param name="Mailbox">addr-mailbox: the local part, or a group's name at the start of a group.</param>
/// <param name="Host">addr-host; null in group syntax.</param>
public sealed record EnvelopeAddress(string? Name, string? Mailbox, string? Host);

/// <summary>
/// The fields of an ENVELOPE read back from its wire form (<see cref="MessageStructure.Envelope"/>, or what a
/// backend keeps): SORT and THREAD need the date, subject, first addresses and message IDs of many messages, and
/// every backend already serves ENVELOPE without reading message bodies (the bridge keeps it sealed per message).
/// <code>
/// envelope = "(" env-date SP env-subject SP env-from SP env-sender SP env-reply-to SP env-to SP env-cc SP
///            env-bcc SP env-in-reply-to SP env-message-id ")"          (RFC 9051, 9)
/// env-from = "(" 1*address ")" / nil   (and so on for the address fields)
/// nstring  = string / nil ; string = quoted / literal
/// </code>
/// </summary>
public sealed class EnvelopeFields
{
    private EnvelopeFields()
    {
    }

    /// <summary>env-date: the raw Date field.</summary>
    public string? Date { get; private init; }

    /// <summary>env-subject: the raw Subject field (encoded words still encoded).</summary>
    public string? Subject { get; private init; }

    /// <summary>env-from.</summary>
    public IReadOnlyList<EnvelopeAddress> From { get; private init; } = [];

    /// <summary>env-to.</summary>
    public IReadOnlyList<EnvelopeAddress> To { get; private init; } = [];

    /// <summary>env-cc.</summary>
    public IReadOnlyList<EnvelopeAddress> Cc { get; private init; } = [];

    /// <summary>env-in-reply-to: the raw In-Reply-To field.</summary>
    public string? InReplyTo { get; private init; }

    /// <summary>env-message-id: the raw Message-ID field.</summary>
    public string? MessageId { get; private init; }

    /// <summary>Reads an ENVELOPE; null when the bytes are not one.</summary>
    public static EnvelopeFields? Parse(ReadOnlySpan<byte> envelope)
    {
        var reader = new Reader(envelope);
        try
        {
            reader.Expect('(');
            var date = reader.NString();
            reader.Expect(' ');
            var subject = reader.NString();
            var lists = new IReadOnlyList<EnvelopeAddress>[6];
            for (int i = 0; i < lists.Length; i++)
            {
                reader.Expect(' ');
                lists[i] = reader.Addresses();
            }

            reader.Expect(' ');
            var inReplyTo = reader.NString();
            reader.Expect(' ');
            var messageId = reader.NString();
            reader.Expect(')');
            return new EnvelopeFields { Date = date, Subject = subject, From = lists[0], To = lists[3], Cc = lists[4], InReplyTo = inReplyTo, MessageId = messageId };
        }
        catch (FormatException)
        {
            return null;
        }
    }

    private ref struct Reader(ReadOnlySpan<byte> input)
    {
        private readonly ReadOnlySpan<byte> _input = input;
        private int _at;

        public void Expect(char c)
        {
            if (_at >= _input.Length || _input[_at] != c)
            {
                throw new FormatException("Not an envelope");
            }

            _at++;
        }

        private readonly bool Peek(char c) => _at < _input.Length && _input[_at] == c;

        private bool TryNil()
        {
            if (_input[_at..].StartsWith("NIL"u8))
            {
                _at += 3;
                return true;
            }

            return false;
        }

        public string? NString()
        {
            if (TryNil())
            {
                return null;
            }

            if (Peek('"'))
            {
                _at++;
                var bytes = new List<byte>();
                while (_at < _input.Length && _input[_at] != '"')
                {
                    if (_input[_at] == '\\')
                    {
                        _at++;
                    }

                    if (_at >= _input.Length)
                    {
                        break;
                    }

                    bytes.Add(_input[_at++]);
                }

                Expect('"');
                return Encoding.UTF8.GetString(bytes.ToArray());
            }

            // literal = "{" number64 "}" CRLF *CHAR8
            Expect('{');
            int close = _input[_at..].IndexOf((byte)'}');
            if (close < 0 || !int.TryParse(Encoding.ASCII.GetString(_input.Slice(_at, close)), out int length))
            {
                throw new FormatException("Bad literal");
            }

            _at += close + 1;
            Expect('\r');
            Expect('\n');
            if (length < 0 || _at + length > _input.Length)
            {
                throw new FormatException("Truncated literal");
            }

            var text = Encoding.UTF8.GetString(_input.Slice(_at, length));
            _at += length;
            return text;
        }

        public IReadOnlyList<EnvelopeAddress> Addresses()
        {
            if (TryNil())
            {
                return [];
            }

            var list = new List<EnvelopeAddress>();
            Expect('(');
            while (Peek('('))
            {
                _at++;
                var name = NString();
                Expect(' ');
                _ = NString(); // addr-adl
                Expect(' ');
                var mailbox = NString();
                Expect(' ');
                var host = NString();
                Expect(')');
                list.Add(new EnvelopeAddress(name, mailbox, host));
            }

            Expect(')');
            return list;
        }
    }
}
