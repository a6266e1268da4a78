namespace Letterlock.Cryptography.Opaque;

/// <summary>
/// The limits an OPAQUE client puts on what a server may ask of it. The server keeps each account's Argon2id
/// parameters and hands them to a device that logs in; a hostile or broken server could ask for terabytes of
/// memory (the device falls over) or for almost none (the record it then stores is cheap to attack offline).
/// The client refuses both. Every value is validated when set; <see cref="Check"/> compares parameters.
/// </summary>
public sealed record OpaqueClientOptions
{
    private readonly int _minMemoryKiB = 19 * 1024;
    private readonly int _maxMemoryKiB = 1024 * 1024;
    private readonly int _minIterations = 1;
    private readonly int _maxIterations = 10;

    /// <summary>The defaults: 19 MiB to 1 GiB of memory, 1 to 10 passes.</summary>
    public static OpaqueClientOptions Default { get; } = new();

    /// <summary>
    /// Least Argon2id memory accepted, in KiB. Default 19 MiB (19456 KiB), OWASP's floor for Argon2id: less makes
    /// a stolen record cheap to attack on GPUs.
    /// </summary>
    public int MinArgon2idMemoryKiB
    {
        get => _minMemoryKiB;
        init => _minMemoryKiB = value >= Argon2idParameters.MinimumMemoryKiB
            ? value
            : throw new ArgumentOutOfRangeException(nameof(MinArgon2idMemoryKiB), value, $"Must be at least {Argon2idParameters.MinimumMemoryKiB} KiB.");
    }

    /// <summary>
    /// Most Argon2id memory accepted, in KiB. Default 1 GiB (1048576 KiB): a server cannot make a phone allocate
    /// more than that to log in.
    /// </summary>
    public int MaxArgon2idMemoryKiB
    {
        get => _maxMemoryKiB;
        init => _maxMemoryKiB = value >= Argon2idParameters.MinimumMemoryKiB
            ? value
            : throw new ArgumentOutOfRangeException(nameof(MaxArgon2idMemoryKiB), value, $"Must be at least {Argon2idParameters.MinimumMemoryKiB} KiB.");
    }

    /// <summary>Fewest Argon2id passes accepted. Default 1 (the memory floor carries the cost).</summary>
    public int MinArgon2idIterations
    {
        get => _minIterations;
        init => _minIterations = value >= 1
            ? value
            : throw new ArgumentOutOfRangeException(nameof(MinArgon2idIterations), value, "Must be at least 1.");
    }

    /// <summary>
    /// Most Argon2id passes accepted. Default 10: with the memory ceiling, a bound on the seconds one login may
    /// take.
    /// </summary>
    public int MaxArgon2idIterations
    {
        get => _maxIterations;
        init => _maxIterations = value >= 1
            ? value
            : throw new ArgumentOutOfRangeException(nameof(MaxArgon2idIterations), value, "Must be at least 1.");
    }

    /// <summary>Whether <paramref name="parameters"/> (for instance sent by a server) lie inside these limits.</summary>
    /// <exception cref="InvalidOperationException">A minimum of these options exceeds its maximum.</exception>
    public KeyStretchingCheck Check(Argon2idParameters parameters)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        if (MinArgon2idMemoryKiB > MaxArgon2idMemoryKiB)
        {
            throw new InvalidOperationException($"{nameof(MinArgon2idMemoryKiB)} ({MinArgon2idMemoryKiB}) exceeds {nameof(MaxArgon2idMemoryKiB)} ({MaxArgon2idMemoryKiB}).");
        }

        if (MinArgon2idIterations > MaxArgon2idIterations)
        {
            throw new InvalidOperationException($"{nameof(MinArgon2idIterations)} ({MinArgon2idIterations}) exceeds {nameof(MaxArgon2idIterations)} ({MaxArgon2idIterations}).");
        }

        return parameters switch
        {
            { MemoryKiB: var m } when m < MinArgon2idMemoryKiB => KeyStretchingCheck.MemoryBelowMinimum,
            { MemoryKiB: var m } when m > MaxArgon2idMemoryKiB => KeyStretchingCheck.MemoryAboveMaximum,
            { Iterations: var t } when t < MinArgon2idIterations => KeyStretchingCheck.IterationsBelowMinimum,
            { Iterations: var t } when t > MaxArgon2idIterations => KeyStretchingCheck.IterationsAboveMaximum,
            _ => KeyStretchingCheck.Acceptable,
        };
    }

    /// <summary>A sentence naming the limit a check result refers to, for error messages.</summary>
    public static string Describe(KeyStretchingCheck check, OpaqueClientOptions limits)
    {
        ArgumentNullException.ThrowIfNull(limits);
        return check switch
        {
            KeyStretchingCheck.Acceptable => "inside every limit",
            KeyStretchingCheck.MemoryBelowMinimum => $"memory below {nameof(MinArgon2idMemoryKiB)} ({limits.MinArgon2idMemoryKiB} KiB)",
            KeyStretchingCheck.MemoryAboveMaximum => $"memory above {nameof(MaxArgon2idMemoryKiB)} ({limits.MaxArgon2idMemoryKiB} KiB)",
            KeyStretchingCheck.IterationsBelowMinimum => $"passes below {nameof(MinArgon2idIterations)} ({limits.MinArgon2idIterations})",
            KeyStretchingCheck.IterationsAboveMaximum => $"passes above {nameof(MaxArgon2idIterations)} ({limits.MaxArgon2idIterations})",
            _ => throw new ArgumentOutOfRangeException(nameof(check)),
        };
    }
}
