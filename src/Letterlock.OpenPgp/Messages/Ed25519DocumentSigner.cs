using System.Buffers.Binary;
using Org.BouncyCastle.Bcpg;
using Org.BouncyCastle.Bcpg.OpenPgp;
using Org.BouncyCastle.Crypto.Parameters;

namespace Letterlock.OpenPgp;

/// <summary>
/// Binary document signatures by EdDSA (legacy, algorithm 22) keys with SHA-512, built here:
/// BouncyCastle's generator hashes the data twice with its managed SHA-512 (once for the
/// signature, once for the two-octet hash prefix), which was half the cost of signing 10 KiB.
/// The packets are the v4 signature (RFC 9580 5.2.3) and one-pass signature (5.4) that
/// BouncyCastle writes, with the same subpackets; text signatures stay on BouncyCastle's path,
/// which canonicalises line endings.
/// </summary>
internal sealed class Ed25519DocumentSigner
{
    private const byte SignatureType = 0x00; // binary document
    private const byte HashAlgorithm = (byte)HashAlgorithmTag.Sha512;
    private const byte KeyAlgorithm = (byte)PublicKeyAlgorithmTag.EdDsa_Legacy;

    private readonly byte[] _keyId = new byte[8];
    private readonly byte[] _hashedPortion;
    private readonly byte[] _unhashed;
    private readonly Ed25519PrivateKeyParameters _key;
    private readonly SmallData.Sha512 _hash;

    private Ed25519DocumentSigner(KeyInfo key, Ed25519PrivateKeyParameters privateKey, DateTimeOffset now, IReadOnlyList<PgpPublicKey> recipients, bool managedHash)
    {
        _key = privateKey;
        _hash = SmallData.CreateSha512(managedHash);
        BinaryPrimitives.WriteInt64BigEndian(_keyId, key.PublicKey.KeyId);
        var fingerprint = key.PublicKey.GetFingerprint();

        // Hashed subpackets: Signature Creation Time (2), Issuer Fingerprint (33), Intended Recipient Fingerprint (35).
        var hashed = new List<byte>(64 + 23 * recipients.Count) { 5, 2 };
        var time = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(time, (uint)KeyGenerator.Truncate(now).ToUnixTimeSeconds());
        hashed.AddRange(time);
        hashed.AddRange([22, 33, 4]);
        hashed.AddRange(fingerprint);
        foreach (var recipient in recipients)
        {
            hashed.AddRange([22, 35, 4]);
            hashed.AddRange(recipient.GetFingerprint());
        }

        // version, type, public-key algorithm, hash algorithm, hashed subpacket length and data
        _hashedPortion = [4, SignatureType, KeyAlgorithm, HashAlgorithm, (byte)(hashed.Count >> 8), (byte)hashed.Count, .. hashed];
        _unhashed = [0, 10, 9, 16, .. _keyId]; // Issuer Key ID (16), for older readers
    }

    /// <summary>
    /// A signer per key when every signer is an EdDSA legacy key signing binary data, else null;
    /// <paramref name="managedHash"/> hashes with BouncyCastle instead of OpenSSL (<see cref="SmallData"/>).
    /// </summary>
    public static List<Ed25519DocumentSigner>? TryCreate(IReadOnlyList<(KeyInfo Info, PgpPrivateKey Private)> keys, SignatureMode mode, DateTimeOffset now, IReadOnlyList<PgpPublicKey> recipients, bool managedHash)
    {
        if (mode != SignatureMode.Binary || keys.Any(k => k.Info.PublicKey.Algorithm != PublicKeyAlgorithmTag.EdDsa_Legacy || k.Private.Key is not Ed25519PrivateKeyParameters))
        {
            return null;
        }

        return keys.Select(k => new Ed25519DocumentSigner(k.Info, (Ed25519PrivateKeyParameters)k.Private.Key, now, recipients, managedHash)).ToList();
    }

    public void Update(ReadOnlySpan<byte> data) => _hash.Append(data);

    /// <summary>One-Pass Signature packet: version 3, type, hash, key algorithm, key ID, last flag (1 = not nested).</summary>
    public byte[] OnePassPacket(bool nested) =>
        [0xC4, 13, 3, SignatureType, HashAlgorithm, KeyAlgorithm, .. _keyId, (byte)(nested ? 0 : 1)];

    /// <summary>The signature packet over everything passed to <see cref="Update"/>; call once.</summary>
    public byte[] SignaturePacket()
    {
        _hash.Append(_hashedPortion);
        Span<byte> trailer = [4, 0xFF, 0, 0, 0, 0];
        BinaryPrimitives.WriteInt32BigEndian(trailer[2..], _hashedPortion.Length);
        _hash.Append(trailer);
        var digest = _hash.Finish();
        _hash.Dispose(); // one signature per signer object

        // EdDSA (legacy) signs the digest; r and s are written as MPIs (RFC 9580 5.2.3, algorithm 22).
        var signature = new byte[64];
        _key.Sign(Org.BouncyCastle.Math.EC.Rfc8032.Ed25519.Algorithm.Ed25519, null, digest, signature);
        byte[] body = [.. _hashedPortion, .. _unhashed, digest[0], digest[1], .. Mpi(signature.AsSpan(0, 32)), .. Mpi(signature.AsSpan(32))];
        return body.Length < 192 ? [0xC2, (byte)body.Length, .. body] : [0xC2, (byte)(((body.Length - 192) >> 8) + 192), (byte)(body.Length - 192), .. body];
    }

    private static byte[] Mpi(ReadOnlySpan<byte> bigEndian)
    {
        var start = 0;
        while (start < bigEndian.Length - 1 && bigEndian[start] == 0)
        {
            start++;
        }

        var magnitude = bigEndian[start..];
        var bits = (magnitude.Length - 1) * 8 + (32 - System.Numerics.BitOperations.LeadingZeroCount((uint)magnitude[0]));
        return [(byte)(bits >> 8), (byte)bits, .. magnitude];
    }
}
