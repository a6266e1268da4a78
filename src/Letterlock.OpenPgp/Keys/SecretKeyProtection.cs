using Org.BouncyCastle.Bcpg;
using Org.BouncyCastle.Bcpg.OpenPgp;
using Org.BouncyCastle.Crypto.Digests;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Security;

namespace Letterlock.OpenPgp;

/// <summary>
/// Passphrase protection of secret key packets (RFC 9580, section 5.5.3): S2K usage 254,
/// iterated and salted S2K with SHA-256 and 16 MiB of hashing, AES-256 in CFB mode over the
/// secret MPIs and their SHA-1 check hash. BouncyCastle's own protection hard-codes SHA-1 with
/// only 64 KiB of hashing, which makes guessing passphrases 256 times cheaper.
/// </summary>
internal static class SecretKeyProtection
{
    /// <summary>Coded S2K count 0xE0: (16 + 0) &lt;&lt; (14 + 6) = 16,777,216 bytes hashed per derivation.</summary>
    internal const int CodedCount = 0xE0;

    /// <summary>Protects every unprotected secret key packet of an encoded key ring; other packets are copied.</summary>
    public static byte[] Protect(byte[] ring, ReadOnlySpan<char> passphrase)
    {
        var chars = passphrase.ToArray();
        try
        {
            var input = new BcpgInputStream(new MemoryStream(ring, writable: false));
            using var output = new MemoryStream(ring.Length + 128);
            using (var writer = new BcpgOutputStream(output))
            {
                while (input.NextPacketTag() != (PacketTag)(-1))
                {
                    var packet = input.ReadPacket();
                    if (packet is SecretKeyPacket secret && secret.S2kUsage == SecretKeyPacket.UsageNone)
                    {
                        ProtectPacket(secret, chars).Encode(writer);
                    }
                    else if (packet is ContainedPacket contained)
                    {
                        contained.Encode(writer);
                    }
                }
            }

            return output.ToArray();
        }
        finally
        {
            Array.Clear(chars);
        }
    }

    /// <summary>
    /// Rewrites the unprotected secret packet of a legacy ECDH Curve25519 key (<paramref name="keyId"/>)
    /// in the standard form: the MPI of the reversed (big-endian) native scalar and a 2-octet
    /// checksum (RFC 9580 section 5.5.5.6, as gpg and Sequoia write it). BouncyCastle 2.7 writes
    /// a form only BouncyCastle reads.
    /// </summary>
    public static byte[] StandardizeCurve25519Secret(byte[] ring, long keyId, ReadOnlySpan<byte> nativePrivateKey)
    {
        var input = new BcpgInputStream(new MemoryStream(ring, writable: false));
        using var output = new MemoryStream(ring.Length);
        using (var writer = new BcpgOutputStream(output))
        {
            while (input.NextPacketTag() != (PacketTag)(-1))
            {
                var packet = input.ReadPacket();
                if (packet is SecretKeyPacket secret && secret.S2kUsage == SecretKeyPacket.UsageNone
                    && new PgpPublicKey(secret.PublicKeyPacket).KeyId == keyId)
                {
                    var scalar = nativePrivateKey.ToArray();
                    Array.Reverse(scalar);
                    var mpi = Mpi(scalar);
                    var checksum = 0;
                    foreach (var b in mpi)
                    {
                        checksum = (checksum + b) & 0xFFFF;
                    }

                    byte[] data = [.. mpi, (byte)(checksum >> 8), (byte)checksum];
                    SecretKeyPacket standard = secret is SecretSubkeyPacket
                        ? new SecretSubkeyPacket(secret.PublicKeyPacket, SymmetricKeyAlgorithmTag.Null, SecretKeyPacket.UsageNone, null, null, data)
                        : new SecretKeyPacket(secret.PublicKeyPacket, SymmetricKeyAlgorithmTag.Null, SecretKeyPacket.UsageNone, null, null, data);
                    standard.Encode(writer);
                    Array.Clear(scalar);
                }
                else if (packet is ContainedPacket contained)
                {
                    contained.Encode(writer);
                }
            }
        }

        return output.ToArray();
    }

    /// <summary>
    /// Rewrites every unprotected secret packet as its MPIs plus the 2-octet checksum (BouncyCastle
    /// sometimes appends a SHA-1 hash to unprotected packets, which other implementations reject).
    /// </summary>
    public static byte[] NormalizeUnprotected(byte[] ring)
    {
        var input = new BcpgInputStream(new MemoryStream(ring, writable: false));
        using var output = new MemoryStream(ring.Length);
        using (var writer = new BcpgOutputStream(output))
        {
            while (input.NextPacketTag() != (PacketTag)(-1))
            {
                var packet = input.ReadPacket();
                if (packet is SecretKeyPacket secret && secret.S2kUsage == SecretKeyPacket.UsageNone)
                {
                    var mpis = SecretMpis(secret);
                    var checksum = 0;
                    foreach (var b in mpis)
                    {
                        checksum = (checksum + b) & 0xFFFF;
                    }

                    byte[] data = [.. mpis, (byte)(checksum >> 8), (byte)checksum];
                    SecretKeyPacket standard = secret is SecretSubkeyPacket
                        ? new SecretSubkeyPacket(secret.PublicKeyPacket, SymmetricKeyAlgorithmTag.Null, SecretKeyPacket.UsageNone, null, null, data)
                        : new SecretKeyPacket(secret.PublicKeyPacket, SymmetricKeyAlgorithmTag.Null, SecretKeyPacket.UsageNone, null, null, data);
                    standard.Encode(writer);
                }
                else if (packet is ContainedPacket contained)
                {
                    contained.Encode(writer);
                }
            }
        }

        return output.ToArray();
    }

    /// <summary>The algorithm-specific secret MPIs of an unprotected packet, without what follows them.</summary>
    private static byte[] SecretMpis(SecretKeyPacket packet)
    {
        // Secret key material (RFC 9580, 5.5.5): RSA d, p, q, u; DSA/ElGamal x; ECDSA/EdDSA/ECDH one scalar.
        var count = packet.PublicKeyPacket.Algorithm switch
        {
            PublicKeyAlgorithmTag.RsaGeneral or PublicKeyAlgorithmTag.RsaEncrypt or PublicKeyAlgorithmTag.RsaSign => 4,
            PublicKeyAlgorithmTag.Dsa or PublicKeyAlgorithmTag.ElGamalEncrypt or PublicKeyAlgorithmTag.ElGamalGeneral
                or PublicKeyAlgorithmTag.ECDH or PublicKeyAlgorithmTag.ECDsa or PublicKeyAlgorithmTag.EdDsa_Legacy => 1,
            _ => throw new UnsupportedException($"cannot protect secret keys of algorithm {(int)packet.PublicKeyPacket.Algorithm}"),
        };
        var data = packet.GetSecretKeyData();
        var offset = 0;
        for (var i = 0; i < count; i++)
        {
            if (offset + 2 > data.Length)
            {
                throw new MalformedInputException("truncated secret key material");
            }

            var bits = (data[offset] << 8) | data[offset + 1];
            offset += 2 + (bits + 7) / 8;
        }

        return offset <= data.Length ? data[..offset] : throw new MalformedInputException("truncated secret key material");
    }

    // MPI = 2-octet bit count, then the big-endian magnitude without leading zero octets (RFC 9580, 3.2).
    private static byte[] Mpi(byte[] bigEndian)
    {
        var start = 0;
        while (start < bigEndian.Length - 1 && bigEndian[start] == 0)
        {
            start++;
        }

        var magnitude = bigEndian.AsSpan(start);
        var bits = (magnitude.Length - 1) * 8 + (32 - System.Numerics.BitOperations.LeadingZeroCount((uint)magnitude[0]));
        return [(byte)(bits >> 8), (byte)bits, .. magnitude];
    }

    private static SecretKeyPacket ProtectPacket(SecretKeyPacket packet, char[] passphrase)
    {
        var mpis = SecretMpis(packet);
        var plain = new byte[mpis.Length + 20];
        mpis.CopyTo(plain);
        var sha1 = new Sha1Digest();
        sha1.BlockUpdate(mpis);
        sha1.DoFinal(plain, mpis.Length);

        var salt = new byte[8];
        var iv = new byte[16];
        KeyGenerator.Random.NextBytes(salt);
        KeyGenerator.Random.NextBytes(iv);
        var s2k = new S2k(HashAlgorithmTag.Sha256, salt, CodedCount);
        var key = PgpUtilities.MakeKeyFromPassPhraseUtf8(SymmetricKeyAlgorithmTag.Aes256, s2k, passphrase);
        var cipher = CipherUtilities.GetCipher("AES/CFB/NoPadding");
        cipher.Init(true, new ParametersWithIV(key, iv));
        var encrypted = cipher.DoFinal(plain);
        Array.Clear(plain);
        return packet is SecretSubkeyPacket
            ? new SecretSubkeyPacket(packet.PublicKeyPacket, SymmetricKeyAlgorithmTag.Aes256, SecretKeyPacket.UsageSha1, s2k, iv, encrypted)
            : new SecretKeyPacket(packet.PublicKeyPacket, SymmetricKeyAlgorithmTag.Aes256, SecretKeyPacket.UsageSha1, s2k, iv, encrypted);
    }
}
