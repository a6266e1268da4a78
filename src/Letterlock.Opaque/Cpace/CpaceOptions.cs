namespace Letterlock.Cryptography.Cpace;

/// <summary>Limits on what a CPace peer may send. Validated when set.</summary>
public sealed record CpaceOptions
{
    private readonly int _maxAssociatedDataLength = 4096;

    /// <summary>The defaults.</summary>
    public static CpaceOptions Default { get; } = new();

    /// <summary>
    /// Longest associated data accepted in a peer's message, in bytes. Default 4096: room for a device name, a
    /// public key and a version, while a relay cannot make a device buffer more. 0 to 1048576.
    /// </summary>
    public int MaxAssociatedDataLength
    {
        get => _maxAssociatedDataLength;
        init => _maxAssociatedDataLength = value is >= 0 and <= 1024 * 1024
            ? value
            : throw new ArgumentOutOfRangeException(nameof(MaxAssociatedDataLength), value, "Must be 0 to 1048576 bytes.");
    }
}
