using MimeKit;

namespace Letterlock.OpenPgp.Mime;

/// <summary>
/// The one way mail from untrusted input is parsed: first checked against <see cref="MimeLimits"/> in one linear pass
/// (<see cref="MimeStructureScanner"/>), then parsed with <see cref="ParserOptions"/> derived from the same limits. Every
/// entry point (MX, submission, relay queue, bridge APPEND and SMTP, the client opening received or decrypted mail,
/// imports) goes through here, so no MimeKit parse sees a message beyond the configured limits.
/// </summary>
public static class BoundedMime
{
    /// <summary>
    /// MimeKit's options for a message already checked against <paramref name="limits"/>: the parser's own depth guard
    /// one past ours, so that the structure check (which names the limit) is what refuses.
    /// </summary>
    public static ParserOptions Options(MimeLimits? limits = null)
    {
        var options = ParserOptions.Default.Clone();
        options.MaxMimeDepth = (limits ?? MimeLimits.Default).MaxMimeDepth + 1;
        return options;
    }

    /// <summary>The first limit <paramref name="message"/> exceeds, or null.</summary>
    public static MimeLimitViolation? Check(ReadOnlySpan<byte> message, MimeLimits? limits = null) =>
        MimeStructureScanner.Check(message, limits);

    /// <summary>Checks <paramref name="message"/> against <paramref name="limits"/> and parses it.</summary>
    /// <exception cref="MimeLimitExceededException">A limit is exceeded (nothing was parsed).</exception>
    /// <exception cref="FormatException">The bytes are not a message.</exception>
    public static MimeMessage Load(ReadOnlyMemory<byte> message, MimeLimits? limits = null)
    {
        ThrowIfExceeded(message.Span, limits);
        using var stream = AsStream(message);
        return MimeMessage.Load(Options(limits), stream);
    }

    /// <summary>Checks <paramref name="message"/> against <paramref name="limits"/> and parses it.</summary>
    /// <exception cref="MimeLimitExceededException">A limit is exceeded (nothing was parsed).</exception>
    /// <exception cref="FormatException">The bytes are not a message.</exception>
    public static async Task<MimeMessage> LoadAsync(ReadOnlyMemory<byte> message, MimeLimits? limits, CancellationToken ct)
    {
        ThrowIfExceeded(message.Span, limits);
        using var stream = AsStream(message);
        return await MimeMessage.LoadAsync(Options(limits), stream, ct).ConfigureAwait(false);
    }

    /// <summary>Throws <see cref="MimeLimitExceededException"/> when <paramref name="message"/> exceeds a limit.</summary>
    public static void ThrowIfExceeded(ReadOnlySpan<byte> message, MimeLimits? limits = null)
    {
        if (Check(message, limits) is { } violation)
        {
            throw new MimeLimitExceededException(violation);
        }
    }

    private static MemoryStream AsStream(ReadOnlyMemory<byte> message) =>
        System.Runtime.InteropServices.MemoryMarshal.TryGetArray(message, out var segment) && segment.Array is not null
            ? new MemoryStream(segment.Array, segment.Offset, segment.Count, writable: false)
            : new MemoryStream(message.ToArray(), writable: false);
}

/// <summary>A message exceeds one of the <see cref="MimeLimits"/>; nothing of it was parsed.</summary>
public sealed class MimeLimitExceededException(MimeLimitViolation violation)
    : FormatException($"Message refused: {violation.Description} (limit {violation.Limit}, {violation.Allowed})")
{
    /// <summary>The limit exceeded, its value, and what exceeded it.</summary>
    public MimeLimitViolation Violation { get; } = violation;
}
