using System.Security.Cryptography;
using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.Crypto.Digests;
using Org.BouncyCastle.Crypto.Modes;
using Org.BouncyCastle.Crypto.Parameters;

namespace Letterlock.OpenPgp;

/// <summary>
/// Hashing and AES for the fast paths, on OpenSSL (through .NET) or on BouncyCastle's managed code, as the caller
/// chooses (<see cref="OpenPgpOptions.ManagedCryptoThreshold"/>). OpenSSL is the faster once loaded, but its first
/// use in a process loads libcrypto and its configuration: about 2 ms of CPU and 200 page faults, more than the
/// managed code takes for 64 KiB, paid by every short-lived process (docs/PERFORMANCE.md, "Start-up"). Both give
/// the same bytes.
/// </summary>
internal static class SmallData
{
    /// <summary>An incremental SHA-512, managed or on OpenSSL.</summary>
    public static Sha512 CreateSha512(bool managed) => new(managed);

    /// <summary>SHA-1 of <paramref name="data"/> into <paramref name="destination"/> (20 bytes).</summary>
    public static void Sha1(ReadOnlySpan<byte> data, Span<byte> destination, bool managed)
    {
        if (managed)
        {
            var digest = new Sha1Digest();
            digest.BlockUpdate(data);
            digest.DoFinal(destination);
        }
        else
        {
            SHA1.HashData(data, destination);
        }
    }

    /// <summary>
    /// SHA-256, -384 or -512 (by <paramref name="bits"/>) of a short input (a KDF's), always managed: for tens of
    /// bytes OpenSSL saves nothing, and the fast path then needs it only for the message itself.
    /// </summary>
    public static byte[] ShortHash(int bits, ReadOnlySpan<byte> data)
    {
        IDigest digest = bits switch
        {
            256 => new Sha256Digest(),
            384 => new Sha384Digest(),
            _ => new Sha512Digest(),
        };
        digest.BlockUpdate(data);
        var result = new byte[digest.GetDigestSize()];
        digest.DoFinal(result);
        return result;
    }

    /// <summary>AES-CFB-128 with a zero IV over whole blocks (<paramref name="plain"/> is a multiple of 16 bytes).</summary>
    public static byte[] AesCfbEncrypt(ReadOnlySpan<byte> key, byte[] plain, bool managed)
    {
        if (!managed)
        {
            using var aes = Aes.Create();
            aes.Key = key.ToArray();
            return aes.EncryptCfb(plain, new byte[16], PaddingMode.None, 128);
        }

        var cfb = new CfbBlockCipher(new Org.BouncyCastle.Crypto.Engines.AesEngine(), 128);
        var keyBytes = key.ToArray();
        cfb.Init(true, new ParametersWithIV(new KeyParameter(keyBytes), new byte[16]));
        CryptographicOperations.ZeroMemory(keyBytes);
        var output = new byte[plain.Length];
        for (var offset = 0; offset < plain.Length; offset += 16)
        {
            cfb.ProcessBlock(plain.AsSpan(offset, 16), output.AsSpan(offset, 16));
        }

        return output;
    }

    /// <summary>An incremental SHA-512 on OpenSSL or, for small data, on BouncyCastle.</summary>
    internal sealed class Sha512(bool managed) : IDisposable
    {
        private readonly Sha512Digest? _managed = managed ? new Sha512Digest() : null;
        private readonly IncrementalHash? _native = managed ? null : IncrementalHash.CreateHash(HashAlgorithmName.SHA512);

        public void Append(ReadOnlySpan<byte> data)
        {
            if (_managed is not null)
            {
                _managed.BlockUpdate(data);
            }
            else
            {
                _native!.AppendData(data);
            }
        }

        public byte[] Finish()
        {
            if (_managed is null)
            {
                return _native!.GetHashAndReset();
            }

            var digest = new byte[64];
            _managed.DoFinal(digest);
            return digest;
        }

        public void Dispose() => _native?.Dispose();
    }
}
