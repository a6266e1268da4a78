namespace Letterlock.Client;

/// <summary>An account held by this client (several accounts share one local store).</summary>
public readonly record struct AccountId(Guid Value)
{
    /// <summary>A fresh random identifier.</summary>
    public static AccountId New() => new(Guid.NewGuid());

    /// <inheritdoc/>
    public override string ToString() => Value.ToString("N");
}

/// <summary>A folder (IMAP mailbox) of one account in the local store.</summary>
public readonly record struct FolderId(Guid Value)
{
    /// <summary>A fresh random identifier.</summary>
    public static FolderId New() => new(Guid.NewGuid());

    /// <inheritdoc/>
    public override string ToString() => Value.ToString("N");
}

/// <summary>A message in the local store; stable across moves between folders.</summary>
public readonly record struct MessageId(Guid Value)
{
    /// <summary>A fresh random identifier.</summary>
    public static MessageId New() => new(Guid.NewGuid());

    /// <inheritdoc/>
    public override string ToString() => Value.ToString("N");
}

/// <summary>A contact (one peer address as seen by one account).</summary>
public readonly record struct ContactId(Guid Value)
{
    /// <summary>A fresh random identifier.</summary>
    public static ContactId New() => new(Guid.NewGuid());

    /// <inheritdoc/>
    public override string ToString() => Value.ToString("N");
}

/// <summary>A unit of resumable work recorded in the store (see <see cref="Store.WorkQueue"/>).</summary>
public readonly record struct JobId(Guid Value)
{
    /// <summary>A fresh random identifier.</summary>
    public static JobId New() => new(Guid.NewGuid());

    /// <inheritdoc/>
    public override string ToString() => Value.ToString("N");
}

/// <summary>An IMAP unique identifier within one folder (RFC 9051, 2.3.1.1).</summary>
public readonly record struct Uid(uint Value)
{
    /// <inheritdoc/>
    public override string ToString() => Value.ToString(System.Globalization.CultureInfo.InvariantCulture);
}
