using System.Security.Cryptography;

namespace Letterlock.Cryptography.Internal;

/// <summary>
/// The Diffie-Hellman group of OPAQUE-3DH (RFC 9807, section 6.4.1): DeriveDiffieHellmanKeyPair and
/// DiffieHellman. Letterlock uses <see cref="Ristretto255"/>; <see cref="Curve25519"/> exists so the RFC's
/// test vectors that pair the ristretto255 OPRF with an X25519 AKE can be replayed as well.
/// </summary>
internal abstract class AkeGroup
{
    /// <summary>Npk = Nsk = 32 for both groups.</summary>
    public const int KeyLength = 32;

    /// <summary>The group Letterlock uses: ristretto255, the same as the OPRF's.</summary>
    public static AkeGroup Ristretto255 { get; } = new Ristretto255Group();

    /// <summary>X25519 (RFC 9807, section 6.4.1.3); only for the test vectors.</summary>
    public static AkeGroup Curve25519 { get; } = new Curve25519Group();

    /// <summary>DeriveDiffieHellmanKeyPair(seed); false on the (negligible) derivation failure.</summary>
    public abstract bool DeriveKeyPair(ReadOnlySpan<byte> seed, Span<byte> privateKey, Span<byte> publicKey);

    /// <summary>DiffieHellman(k, B); false when B is not a valid public key or the result is the identity.</summary>
    public abstract bool DiffieHellman(ReadOnlySpan<byte> privateKey, ReadOnlySpan<byte> publicKey, Span<byte> shared);

    /// <summary>Whether <paramref name="publicKey"/> is acceptable from a peer (RFC 9807, section 10.7).</summary>
    public abstract bool IsValidPublicKey(ReadOnlySpan<byte> publicKey);

    /// <summary>Whether <paramref name="privateKey"/> is a usable private key of this group.</summary>
    public abstract bool IsValidPrivateKey(ReadOnlySpan<byte> privateKey);

    /// <summary>The public key of <paramref name="privateKey"/>; false when the private key is not valid.</summary>
    public abstract bool PublicKeyOf(ReadOnlySpan<byte> privateKey, Span<byte> publicKey);

    private sealed class Ristretto255Group : AkeGroup
    {
        private static readonly byte[] DeriveInfo = "OPAQUE-DeriveDiffieHellmanKeyPair"u8.ToArray();

        // DeriveKeyPair(seed, "OPAQUE-DeriveDiffieHellmanKeyPair") of RFC 9497, section 3.2.1.
        public override bool DeriveKeyPair(ReadOnlySpan<byte> seed, Span<byte> privateKey, Span<byte> publicKey) =>
            Oprf.DeriveKeyPair(seed, DeriveInfo, privateKey, publicKey);

        // Scalar multiplication after Decode (RFC 9496, section 4.3.1); libsodium refuses non-canonical
        // encodings and an identity result, the identity input is refused here.
        public override bool DiffieHellman(ReadOnlySpan<byte> privateKey, ReadOnlySpan<byte> publicKey, Span<byte> shared) =>
            IsValidPublicKey(publicKey) && Sodium.Ristretto255ScalarMult(privateKey, publicKey, shared);

        public override bool IsValidPublicKey(ReadOnlySpan<byte> publicKey) => Internal.Ristretto255.IsValidElement(publicKey);

        public override bool IsValidPrivateKey(ReadOnlySpan<byte> privateKey) =>
            Internal.Ristretto255.IsCanonicalScalar(privateKey) && !Internal.Ristretto255.IsZero(privateKey);

        public override bool PublicKeyOf(ReadOnlySpan<byte> privateKey, Span<byte> publicKey) =>
            IsValidPrivateKey(privateKey) && Sodium.Ristretto255ScalarMultBase(privateKey, publicKey);
    }

    private sealed class Curve25519Group : AkeGroup
    {
        // The private key is the seed itself (RFC 7748, section 5, clamps it when used).
        public override bool DeriveKeyPair(ReadOnlySpan<byte> seed, Span<byte> privateKey, Span<byte> publicKey)
        {
            seed.CopyTo(privateKey);
            return Sodium.X25519Base(privateKey, publicKey);
        }

        public override bool DiffieHellman(ReadOnlySpan<byte> privateKey, ReadOnlySpan<byte> publicKey, Span<byte> shared)
        {
            if (Sodium.X25519(privateKey, publicKey, shared))
            {
                return true;
            }

            CryptographicOperations.ZeroMemory(shared);
            return false;
        }

        public override bool IsValidPublicKey(ReadOnlySpan<byte> publicKey) => publicKey.Length == KeyLength;

        public override bool IsValidPrivateKey(ReadOnlySpan<byte> privateKey) => privateKey.Length == KeyLength;

        public override bool PublicKeyOf(ReadOnlySpan<byte> privateKey, Span<byte> publicKey) =>
            IsValidPrivateKey(privateKey) && Sodium.X25519Base(privateKey, publicKey);
    }
}
