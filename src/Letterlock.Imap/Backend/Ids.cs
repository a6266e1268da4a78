namespace Letterlock.Imap.Backend;

/// <summary>Identifies a mailbox inside one account; stable across renames.</summary>
/// <param name="Value">The backend's own identifier.</param>
public readonly record struct MailboxId(Guid Value)
{
    /// <summary>Creates a fresh random identifier.</summary>
    public static MailboxId New() => new(Guid.NewGuid());

    /// <inheritdoc />
    public override string ToString() => Value.ToString("N");
}

/// <summary>A message's unique identifier within one mailbox and one <see cref="UidValidity"/> (RFC 9051, 2.3.1.1).</summary>
/// <param name="Value">A non-zero 32-bit number, strictly ascending in order of arrival.</param>
public readonly record struct Uid(uint Value) : IComparable<Uid>
{
    /// <inheritdoc />
    public int CompareTo(Uid other) => Value.CompareTo(other.Value);

    /// <inheritdoc />
    public override string ToString() => Value.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Orders UIDs numerically.</summary>
    public static bool operator <(Uid left, Uid right) => left.Value < right.Value;

    /// <summary>Orders UIDs numerically.</summary>
    public static bool operator >(Uid left, Uid right) => left.Value > right.Value;

    /// <summary>Orders UIDs numerically.</summary>
    public static bool operator <=(Uid left, Uid right) => left.Value <= right.Value;

    /// <summary>Orders UIDs numerically.</summary>
    public static bool operator >=(Uid left, Uid right) => left.Value >= right.Value;
}

/// <summary>The UIDVALIDITY of a mailbox: when it changes, every cached UID of that mailbox is void.</summary>
/// <param name="Value">A non-zero 32-bit number.</param>
public readonly record struct UidValidity(uint Value)
{
    /// <inheritdoc />
    public override string ToString() => Value.ToString(System.Globalization.CultureInfo.InvariantCulture);
}

/// <summary>A CONDSTORE modification sequence (RFC 7162): a positive 63-bit number per mailbox.</summary>
/// <param name="Value">Greater than zero and below 2^63.</param>
public readonly record struct ModSeq(ulong Value) : IComparable<ModSeq>
{
    /// <inheritdoc />
    public int CompareTo(ModSeq other) => Value.CompareTo(other.Value);

    /// <inheritdoc />
    public override string ToString() => Value.ToString(System.Globalization.CultureInfo.InvariantCulture);
}
