using System.Security.Cryptography;
using System.Text;
using Letterlock.Cryptography;

namespace Letterlock.Client.Accounts;

/// <summary>What an account master key (AMK) is wrapped for at the provider.</summary>
public enum AmkSlotKind : byte
{
    /// <summary>Sealed to the key pair derived from OPAQUE's export key: opened by a login with the password.</summary>
    Password = 1,

    /// <summary>Sealed to the key pair derived from the recovery code.</summary>
    Recovery = 2,
}

/// <summary>
/// The account master key sealed for one way back in (docs/design/accounts.md, "Key hierarchy"):
/// <c>0x01 || kind(1) || enc(32) || ChaCha20-Poly1305(AMK)(48)</c>, HPKE base mode (RFC 9180,
/// DHKEM(X25519)/HKDF-SHA256/ChaCha20-Poly1305) to an X25519 key pair derived from the secret (the OPAQUE
/// export key, or the recovery code). HPKE's <c>info</c> binds the slot kind, the provider's account id and the
/// address, so a provider cannot pass one account's or one slot's wrap off as another's.
/// </summary>
/// <remarks>
/// Sealing to a public key rather than under a symmetric key lets any device of the account re-wrap a new AMK
/// for the password and the recovery slot without knowing the password or the code (the public keys are kept in
/// the key bundle), which a future AMK rotation needs.
/// </remarks>
public static class AccountKeyWrap
{
    /// <summary>Length of a wrapped AMK.</summary>
    public const int WrappedLength = 1 + 1 + Hpke.KeyLength + AmkLength + Hpke.TagLength;

    /// <summary>Length of an account master key.</summary>
    public const int AmkLength = 32;

    private const byte Format = 1;

    /// <summary>The key pair a password slot is sealed to, from OPAQUE's export key.</summary>
    public static HpkeKeyPair PasswordKeyPair(ReadOnlySpan<byte> exportKey)
    {
        byte[] seed = HKDF.DeriveKey(HashAlgorithmName.SHA512, exportKey.ToArray(), 32, "letterlock-amk-wrap-v1"u8.ToArray(), "password slot"u8.ToArray());
        try
        {
            return HpkeKeyPair.Derive(seed);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(seed);
        }
    }

    /// <summary>The key pair a recovery slot is sealed to, from the recovery code.</summary>
    public static HpkeKeyPair RecoveryKeyPair(RecoveryCode code)
    {
        ArgumentNullException.ThrowIfNull(code);
        byte[] seed = code.DeriveKey("amk wrap");
        try
        {
            return HpkeKeyPair.Derive(seed);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(seed);
        }
    }

    /// <summary>Seals <paramref name="amk"/> to <paramref name="recipientPublicKey"/> for one slot of one account.</summary>
    public static byte[] Seal(ReadOnlySpan<byte> amk, ReadOnlySpan<byte> recipientPublicKey, AmkSlotKind kind, Guid accountId, string address)
    {
        if (amk.Length != AmkLength)
        {
            throw new ArgumentException("The account master key is 32 bytes.", nameof(amk));
        }

        var (enc, context) = Hpke.SetupBaseSender(recipientPublicKey, Info(kind, accountId, address));
        using (context)
        {
            var output = new byte[WrappedLength];
            output[0] = Format;
            output[1] = (byte)kind;
            enc.CopyTo(output.AsSpan(2));
            context.Seal([], amk, output.AsSpan(2 + Hpke.KeyLength));
            return output;
        }
    }

    /// <summary>Opens a wrapped AMK; null when it is malformed, for another slot or account, or was altered.</summary>
    public static byte[]? Open(ReadOnlySpan<byte> wrapped, ReadOnlySpan<byte> recipientPrivateKey, AmkSlotKind kind, Guid accountId, string address)
    {
        if (wrapped.Length != WrappedLength || wrapped[0] != Format || wrapped[1] != (byte)kind)
        {
            return null;
        }

        try
        {
            using var context = Hpke.SetupBaseRecipient(wrapped.Slice(2, Hpke.KeyLength), recipientPrivateKey, Info(kind, accountId, address));
            return context.Open([], wrapped[(2 + Hpke.KeyLength)..]);
        }
        catch (HpkeException)
        {
            return null;
        }
    }

    private static byte[] Info(AmkSlotKind kind, Guid accountId, string address) =>
        Encoding.UTF8.GetBytes($"letterlock-amk-wrap-v1\0{(byte)kind}\0{accountId:D}\0{address.ToLowerInvariant()}");
}
