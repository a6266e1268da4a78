namespace Letterlock.Client.Store;

/// <summary>
/// The expected outcomes of an operation on an account's mail (<see cref="AccountMail"/>). Anything else
/// (a damaged file, a full disk, a bug) is an exception.
/// </summary>
public enum MailStatus
{
    /// <summary>Done.</summary>
    Ok,

    /// <summary>No such folder or message in this account.</summary>
    NotFound,

    /// <summary>A folder of that name exists already.</summary>
    AlreadyExists,

    /// <summary>Not allowed on this folder (INBOX cannot be renamed or deleted, nothing can be renamed to INBOX).</summary>
    NotAllowed,

    /// <summary>The folder name is empty, too long (<see cref="AccountMail.MaxFolderNameLength"/>) or has control characters.</summary>
    InvalidName,

    /// <summary>A flag is not a valid IMAP flag, or a message would carry too many (<see cref="LocalStoreOptions.MaxFlagsPerMessage"/>).</summary>
    InvalidFlags,

    /// <summary>The message is larger than <see cref="LocalStoreOptions.MaxMessageBytes"/>.</summary>
    TooLarge,

    /// <summary>The search has no word the index can match (every word shorter than two letters or digits).</summary>
    NothingToSearch,
}

/// <summary>The outcome of an operation on an account's mail: a status and, when it is <see cref="MailStatus.Ok"/>, the value.</summary>
/// <typeparam name="T">What the operation returns.</typeparam>
/// <param name="Status">What happened.</param>
/// <param name="Value">The result when <paramref name="Status"/> is <see cref="MailStatus.Ok"/>, otherwise null.</param>
/// <param name="Detail">For a refusal, a sentence for the user naming the limit or the rule (never content or secrets).</param>
public readonly record struct MailResult<T>(MailStatus Status, T? Value, string? Detail = null)
    where T : class
{
    /// <summary>Whether the operation was done.</summary>
    public bool IsOk => Status == MailStatus.Ok;

    /// <summary>A done operation's value.</summary>
    /// <exception cref="InvalidOperationException">The operation was refused (a caller that skipped the status check has a bug).</exception>
    public T Done => IsOk ? Value! : throw new InvalidOperationException($"The mail operation was refused ({Status}): {Detail}");

    /// <summary>Done, with its value.</summary>
    public static MailResult<T> Ok(T value) => new(MailStatus.Ok, value);

    /// <summary>Refused, with the reason.</summary>
    public static MailResult<T> Refused(MailStatus status, string detail) => new(status, null, detail);
}
