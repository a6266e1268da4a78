namespace Letterlock.Client.Import;

/// <summary>
/// One message read from an import source, or the reason it could not be read whole (then <see cref="Raw"/> is null
/// and <see cref="Problem"/> says why, naming the limit when there is one; never content).
/// </summary>
/// <param name="Folder">The destination folder, <c>/</c>-separated (<c>INBOX</c>, <c>Lists/dev</c>).</param>
/// <param name="Flags">IMAP flags from the source (<c>\Seen</c>, <c>\Answered</c>, ...).</param>
/// <param name="InternalDate">When the message arrived at the source (its INTERNALDATE), or null: the Date header, else now.</param>
/// <param name="Raw">The message's bytes as the source holds it (line endings are normalised on import), or null.</param>
/// <param name="Where">Where it was found, for messages to the user (a file and line, a folder and UID).</param>
/// <param name="Problem">Why the message is refused, or null.</param>
public sealed record SourceMessage(string Folder, IReadOnlyList<string> Flags, DateTimeOffset? InternalDate, byte[]? Raw, string Where,
    string? Problem = null);

/// <summary>How far a source has been read, for progress and an ETA.</summary>
/// <param name="Done">Units read so far.</param>
/// <param name="Total">Units in all, or null when unknown.</param>
/// <param name="Unit">What a unit is: <c>messages</c> or <c>bytes</c>.</param>
public sealed record SourcePosition(long Done, long? Total, string Unit);

/// <summary>A source of messages to import: an mbox file, a Maildir tree, an IMAP account.</summary>
public interface IImportSource
{
    /// <summary>A short description for the user (<c>mbox archive.mbox</c>).</summary>
    string Description { get; }

    /// <summary>How far reading has got.</summary>
    SourcePosition Position { get; }

    /// <summary>The messages, in the source's order.</summary>
    /// <exception cref="ImportSourceException">The source cannot be read on (a file vanished, the server failed or lied).</exception>
    IAsyncEnumerable<SourceMessage> ReadAsync(CancellationToken ct);
}

/// <summary>An import source that cannot be read (on): the message says what failed and where, never a secret.</summary>
public sealed class ImportSourceException : Exception
{
    /// <summary>Creates the exception.</summary>
    public ImportSourceException(string message, bool unreachable = false, Exception? inner = null)
        : base(message, inner) => Unreachable = unreachable;

    /// <summary>Creates the exception.</summary>
    public ImportSourceException()
    {
    }

    /// <summary>Creates the exception.</summary>
    public ImportSourceException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception.</summary>
    public ImportSourceException(string message, Exception inner)
        : base(message, inner)
    {
    }

    /// <summary>Whether the source could not be reached at all (nothing read), as opposed to failing part-way.</summary>
    public bool Unreachable { get; }
}
