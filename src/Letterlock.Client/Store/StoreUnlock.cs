using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using NSec.Cryptography;

namespace Letterlock.Client.Store;

/// <summary>
/// A way to unlock the local store: a passphrase (stretched with Argon2id) or a key file.
/// The store keeps one unlock slot per way, each wrapping the same random local key.
/// </summary>
public abstract class StoreUnlock
{
    private protected StoreUnlock() { }

    /// <summary>Unlock with a passphrase. The passphrase is used as its UTF-8 bytes.</summary>
    /// <exception cref="ArgumentException">The passphrase is empty.</exception>
    public static StoreUnlock WithPassphrase(string passphrase)
    {
        ArgumentException.ThrowIfNullOrEmpty(passphrase);
        return new PassphraseUnlock(passphrase);
    }

    /// <summary>Unlock with a key file made by <see cref="Store.KeyFile.Create"/>; it must have mode 0600.</summary>
    public static StoreUnlock WithKeyFile(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        return new KeyFileUnlock(Path.GetFullPath(path));
    }

    internal abstract string Kind { get; }

    internal sealed class PassphraseUnlock(string passphrase) : StoreUnlock
    {
        internal override string Kind => UnlockSlots.PassphraseKind;

        internal string Passphrase { get; } = passphrase;
    }

    internal sealed class KeyFileUnlock(string path) : StoreUnlock
    {
        internal override string Kind => UnlockSlots.KeyFileKind;

        internal string Path { get; } = path;
    }
}

/// <summary>One row of <c>unlock_slots</c>: the local key wrapped under a key-encryption key.</summary>
internal sealed record UnlockSlot(Guid Id, string Kind, byte[]? Salt, int MemoryKiB, int Passes, byte[] WrappedKey);

/// <summary>
/// Wraps and unwraps the local key. A slot's wrapped key is <c>nonce(24) || XChaCha20-Poly1305(KEK, local key)</c>
/// with associated data binding it to the store, the slot, its kind and its Argon2id parameters,
/// so parameters cannot be weakened in place and slots cannot move between stores.
/// </summary>
internal static class UnlockSlots
{
    public const string PassphraseKind = "passphrase";
    public const string KeyFileKind = "keyfile";
    private const int SaltSize = 16;
    private static readonly AeadAlgorithm Aead = AeadAlgorithm.XChaCha20Poly1305;

    public static UnlockSlot Create(StoreUnlock unlock, Guid storeId, ReadOnlySpan<byte> localKey, LocalStoreOptions options)
    {
        var id = Guid.NewGuid();
        byte[]? salt = null;
        int memory = 0, passes = 0;
        if (unlock is StoreUnlock.PassphraseUnlock)
        {
            salt = RandomNumberGenerator.GetBytes(SaltSize);
            memory = options.Argon2MemoryKiB;
            passes = options.Argon2Passes;
        }

        var slot = new UnlockSlot(id, unlock.Kind, salt, memory, passes, []);
        using var kek = DeriveKek(slot, unlock, options);
        var wrapped = new byte[Aead.NonceSize + localKey.Length + Aead.TagSize];
        RandomNumberGenerator.Fill(wrapped.AsSpan(0, Aead.NonceSize));
        Aead.Encrypt(kek, wrapped.AsSpan(0, Aead.NonceSize), AssociatedData(slot, storeId), localKey, wrapped.AsSpan(Aead.NonceSize));
        return slot with { WrappedKey = wrapped };
    }

    /// <summary>Returns the local key, or null when this unlock does not open the slot.</summary>
    public static byte[]? TryOpen(UnlockSlot slot, StoreUnlock unlock, Guid storeId, LocalStoreOptions options)
    {
        if (slot.Kind != unlock.Kind || slot.WrappedKey.Length != Aead.NonceSize + StoreCipher.LocalKeySize + Aead.TagSize)
        {
            return null;
        }

        using var kek = DeriveKek(slot, unlock, options);
        var localKey = GC.AllocateArray<byte>(StoreCipher.LocalKeySize, pinned: true);
        var ok = Aead.Decrypt(kek, slot.WrappedKey.AsSpan(0, Aead.NonceSize), AssociatedData(slot, storeId),
            slot.WrappedKey.AsSpan(Aead.NonceSize), localKey);
        return ok ? localKey : null;
    }

    private static Key DeriveKek(UnlockSlot slot, StoreUnlock unlock, LocalStoreOptions options)
    {
        var parameters = new KeyCreationParameters { ExportPolicy = KeyExportPolicies.None };
        switch (unlock)
        {
            case StoreUnlock.PassphraseUnlock p:
                if (slot.Salt is not { Length: SaltSize } || slot.MemoryKiB < 8 * 1024 || slot.Passes < 1)
                {
                    throw new StoreIntegrityException("A passphrase unlock slot of the store is malformed.");
                }

                if (slot.MemoryKiB > options.MaxArgon2MemoryKiB || slot.Passes > options.MaxArgon2Passes)
                {
                    throw new LocalStoreException(
                        $"the store asks for Argon2id with {slot.MemoryKiB} KiB and {slot.Passes} passes, more than the " +
                        $"configured limits ({options.MaxArgon2MemoryKiB} KiB, {options.MaxArgon2Passes} passes)");
                }

                var argon = PasswordBasedKeyDerivationAlgorithm.Argon2id(new Argon2Parameters
                {
                    DegreeOfParallelism = 1,
                    MemorySize = slot.MemoryKiB,
                    NumberOfPasses = slot.Passes,
                });
                var passphrase = Encoding.UTF8.GetBytes(p.Passphrase);
                try
                {
                    return argon.DeriveKey(passphrase, slot.Salt, Aead, parameters);
                }
                finally
                {
                    CryptographicOperations.ZeroMemory(passphrase);
                }

            case StoreUnlock.KeyFileUnlock k:
                var secret = KeyFile.ReadSecret(k.Path, options.MaxKeyFileBytes);
                try
                {
                    return Key.Import(Aead, secret, KeyBlobFormat.RawSymmetricKey, parameters);
                }
                finally
                {
                    CryptographicOperations.ZeroMemory(secret);
                }

            default:
                throw new ArgumentException("Unknown unlock kind.", nameof(unlock));
        }
    }

    private static byte[] AssociatedData(UnlockSlot slot, Guid storeId)
    {
        var prefix = "letterlock.slot\0"u8;
        var kind = Encoding.ASCII.GetBytes(slot.Kind);
        var ad = new byte[prefix.Length + 32 + kind.Length + 1 + 8 + SaltSize];
        prefix.CopyTo(ad);
        int at = prefix.Length;
        StoreCipher.WriteGuid(ad.AsSpan(at), storeId);
        StoreCipher.WriteGuid(ad.AsSpan(at + 16), slot.Id);
        at += 32;
        kind.CopyTo(ad, at);
        at += kind.Length + 1;
        BinaryPrimitives.WriteInt32BigEndian(ad.AsSpan(at), slot.MemoryKiB);
        BinaryPrimitives.WriteInt32BigEndian(ad.AsSpan(at + 4), slot.Passes);
        slot.Salt?.CopyTo(ad, at + 8);
        return ad;
    }
}
