using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography;
using Letterlock.Cryptography.Internal;

namespace Letterlock.Cryptography.Opaque;

/// <summary>
/// The key-stretching function (KSF) of RFC 9807, section 2.3: <c>Stretch(msg)</c>, a slow, collision-resistant
/// hash the client applies to the OPRF output. Whoever steals the server's records and oprf_seed pays one run of
/// it per password guess per account, so its cost sets the price of an offline attack.
/// </summary>
public interface IKeyStretchingFunction
{
    /// <summary>
    /// Stretches the 64-byte OPRF output into <paramref name="output"/> (64 bytes). Deterministic: the same input
    /// and parameters give the same output on every device, or the account could not log in elsewhere.
    /// </summary>
    void Stretch(ReadOnlySpan<byte> input, Span<byte> output);
}

/// <summary>
/// The identity KSF: <c>Stretch(msg) = msg</c>. The RFC 9807 test vectors use it; an account registered with it
/// costs an attacker who stole the server's database nothing beyond the OPRF per guess, so Letterlock uses
/// <see cref="Argon2idKeyStretching"/> for accounts.
/// </summary>
public sealed class IdentityKeyStretching : IKeyStretchingFunction
{
    private IdentityKeyStretching()
    {
    }

    /// <summary>The one instance.</summary>
    public static IdentityKeyStretching Instance { get; } = new();

    /// <inheritdoc/>
    public void Stretch(ReadOnlySpan<byte> input, Span<byte> output)
    {
        if (output.Length != input.Length)
        {
            throw new ArgumentException("The output must be as long as the input.", nameof(output));
        }

        input.CopyTo(output);
    }
}

/// <summary>
/// Argon2id (RFC 9106) as the KSF: <c>Argon2id(S = zeroes(16), p = 1, T = Nh, m, t, v = 0x13, K = nil, X = nil)</c>,
/// the shape of RFC 9807's recommended configuration (section 7) with one lane, because libsodium computes one.
/// The salt is constant on purpose: the OPRF key, secret and different for every account, already makes the
/// input unique, so no precomputation across accounts is possible.
/// </summary>
public sealed class Argon2idKeyStretching : IKeyStretchingFunction
{
    private static readonly byte[] Salt = new byte[16];

    /// <summary>
    /// Argon2id with the given parameters, which must lie inside <paramref name="limits"/> (the defaults of
    /// <see cref="OpaqueClientOptions"/> when null). Parameters that come from a server are checked first with
    /// <see cref="OpaqueClientOptions.Check"/>, which says which limit they break.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The parameters break a limit; the message names it.</exception>
    public Argon2idKeyStretching(Argon2idParameters parameters, OpaqueClientOptions? limits = null)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        limits ??= OpaqueClientOptions.Default;
        KeyStretchingCheck check = limits.Check(parameters);
        if (check != KeyStretchingCheck.Acceptable)
        {
            throw new ArgumentOutOfRangeException(nameof(parameters), $"The Argon2id parameters break a limit: {OpaqueClientOptions.Describe(check, limits)}.");
        }

        Parameters = parameters;
    }

    /// <summary>The parameters this function runs with.</summary>
    public Argon2idParameters Parameters { get; }

    /// <inheritdoc/>
    /// <exception cref="InsufficientMemoryException">The memory Argon2id needs could not be allocated.</exception>
    public void Stretch(ReadOnlySpan<byte> input, Span<byte> output)
    {
        if (output.Length != Kdf.HashLength)
        {
            throw new ArgumentException("The output must be Nh = 64 bytes.", nameof(output));
        }

        if (!Sodium.Argon2id(output, input, Salt, (ulong)Parameters.Iterations, (nuint)Parameters.MemoryKiB * 1024))
        {
            CryptographicOperations.ZeroMemory(output);
            throw new InsufficientMemoryException($"Argon2id could not allocate {Parameters.MemoryKiB} KiB.");
        }
    }
}

/// <summary>
/// Argon2id cost parameters: memory in KiB and passes (one lane). Validated when set against what Argon2id itself
/// accepts; the limits a client accepts from a server are <see cref="OpaqueClientOptions"/>. Stored with an account
/// and sent to its devices, so an account keeps the cost it was registered with when the defaults change.
/// </summary>
public sealed record Argon2idParameters
{
    /// <summary>Wire and storage encoding tag: Argon2id v1.3, one lane, zero salt, 64-byte output.</summary>
    public const byte Argon2idTag = 0x01;

    /// <summary>The encoded length: tag(1) || memory KiB (uint32, big-endian) || passes (uint32, big-endian).</summary>
    public const int SerializedLength = 9;

    /// <summary>Argon2's smallest memory: 8 KiB per lane.</summary>
    public const int MinimumMemoryKiB = 8;

    private readonly int _memoryKiB = 64 * 1024;
    private readonly int _iterations = 3;

    /// <summary>The defaults: 64 MiB and 3 passes (about a quarter of a second on one core; docs/design/opaque.md).</summary>
    public static Argon2idParameters Default { get; } = new();

    /// <summary>Memory cost m in KiB (at least 8).</summary>
    public int MemoryKiB
    {
        get => _memoryKiB;
        init => _memoryKiB = value >= MinimumMemoryKiB
            ? value
            : throw new ArgumentOutOfRangeException(nameof(MemoryKiB), value, $"Argon2id needs at least {MinimumMemoryKiB} KiB.");
    }

    /// <summary>Time cost t: the number of passes over the memory (at least 1).</summary>
    public int Iterations
    {
        get => _iterations;
        init => _iterations = value >= 1
            ? value
            : throw new ArgumentOutOfRangeException(nameof(Iterations), value, "Argon2id needs at least one pass.");
    }

    /// <summary>tag || MemoryKiB || Iterations, <see cref="SerializedLength"/> bytes.</summary>
    public byte[] Serialize()
    {
        var bytes = new byte[SerializedLength];
        bytes[0] = Argon2idTag;
        BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(1), (uint)MemoryKiB);
        BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(5), (uint)Iterations);
        return bytes;
    }

    /// <summary>Parses <see cref="Serialize"/>'s encoding; false for another length, tag, or values Argon2id refuses.</summary>
    public static bool TryParse(ReadOnlySpan<byte> data, [NotNullWhen(true)] out Argon2idParameters? parameters)
    {
        parameters = null;
        if (data.Length != SerializedLength || data[0] != Argon2idTag)
        {
            return false;
        }

        uint memory = BinaryPrimitives.ReadUInt32BigEndian(data[1..]);
        uint iterations = BinaryPrimitives.ReadUInt32BigEndian(data[5..]);
        if (memory < MinimumMemoryKiB || memory > int.MaxValue || iterations < 1 || iterations > int.MaxValue)
        {
            return false;
        }

        parameters = new Argon2idParameters { MemoryKiB = (int)memory, Iterations = (int)iterations };
        return true;
    }
}

/// <summary>Whether Argon2id parameters lie inside a client's <see cref="OpaqueClientOptions"/>.</summary>
public enum KeyStretchingCheck
{
    /// <summary>Inside every limit.</summary>
    Acceptable,

    /// <summary>Less memory than <see cref="OpaqueClientOptions.MinArgon2idMemoryKiB"/>: too cheap to attack.</summary>
    MemoryBelowMinimum,

    /// <summary>More memory than <see cref="OpaqueClientOptions.MaxArgon2idMemoryKiB"/>.</summary>
    MemoryAboveMaximum,

    /// <summary>Fewer passes than <see cref="OpaqueClientOptions.MinArgon2idIterations"/>.</summary>
    IterationsBelowMinimum,

    /// <summary>More passes than <see cref="OpaqueClientOptions.MaxArgon2idIterations"/>.</summary>
    IterationsAboveMaximum,
}
