using System.Security.Cryptography;
using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.Crypto.Digests;
using Org.BouncyCastle.Crypto.Modes;
using Org.BouncyCastle.Crypto.Parameters;

namespace Letterlock.OpenPgp;

/// <summary>
/// Hashing and AES for the fast paths, chosen by size. .NET's SHA and AES run on OpenSSL, which is the fastest for
/// large data, but its first use in a process loads libcrypto and its configuration: about 2 ms of CPU and 200 page
/// faults, more than BouncyCastle's managed code takes for 64 KiB. A one-process-per-operation tool such as
/// `letterlock-sop` pays that on every signature or encryption of a small message (docs/PERFORMANCE.md,
/// "Start-up"), so data up to <see cref="Threshold"/> stays managed; both give the same bytes.
/// </summary>
internal static class SmallData
{
    /// <summary>The largest input hashed or encrypted with BouncyCastle's managed code.</summary>
    public const int Threshold = 64 * 1024;

    /// <summary>A SHA-512 for <paramref name="length"/> bytes of data (plus a signature trailer).</summary>
    public static Sha512 CreateSha512(long length) => new(length <= Threshold);

    /// <summary>SHA-1 of <paramref name="data"/> into <paramref name="destination"/> (20 bytes).</summary>
    public static void Sha1(ReadOnlySpan<byte> data, Span<byte> destination)
    {
        if (data.Length <= Threshold)
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

    /// <summary>SHA-256, -384 or -512 (by <paramref name="bits"/>) of a short input (a KDF's).</summary>
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
    public static byte[] AesCfbEncrypt(ReadOnlySpan<byte> key, byte[] plain)
    {
        if (plain.Length > Threshold)
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
