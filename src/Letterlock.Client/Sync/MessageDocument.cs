using System.Buffers;
using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Letterlock.Client.Store;
using Letterlock.Primitives;
using NSec.Cryptography;

namespace Letterlock.Client.Sync;

/// <summary>
/// The content of a <c>message</c> document: what every device of the account needs to show the
/// same mailbox. Sealed under the account master key before it leaves the device.
/// </summary>
/// <param name="Folder">The folder's name.</param>
/// <param name="Role">The folder's SPECIAL-USE role (so a renamed Sent folder is still Sent).</param>
/// <param name="Flags">IMAP flags and keywords.</param>
/// <param name="InternalDate">When the message arrived.</param>
/// <param name="Security">The security summary computed at receipt.</param>
/// <param name="Message">The message as stored (decrypted MIME with the summary headers).</param>
public sealed record MessageDocument(string Folder, FolderRole Role, IReadOnlyList<string> Flags, DateTimeOffset InternalDate,
    MessageSecurity Security, byte[] Message);

[JsonSerializable(typeof(MessageDocument))]
internal sealed partial class SyncJson : JsonSerializerContext;

/// <summary>
/// Seals account documents under a key derived from the account master key (AMK):
/// <c>version(1) || nonce(24) || XChaCha20-Poly1305(key, framed)</c> with associated data
/// <c>"letterlock.document.v1" 0 kind 0 id</c>, so a document cannot be replayed under another id or
/// kind. The plaintext is framed like inbox documents (<c>length(8) || json || zeros</c> up to the Padmé
/// length), so the provider learns only a padded size.
/// </summary>
public sealed class DocumentSealer : IDisposable
{
    private const byte Version = 1;
    private static readonly AeadAlgorithm Aead = AeadAlgorithm.XChaCha20Poly1305;
    private readonly Key _key;

    /// <summary>Derives the document key from the 32-byte account master key.</summary>
    public DocumentSealer(ReadOnlySpan<byte> accountMasterKey)
    {
        if (accountMasterKey.Length != 32)
        {
            throw new ArgumentException("The account master key is 32 bytes.", nameof(accountMasterKey));
        }

        _key = KeyDerivationAlgorithm.HkdfSha256.DeriveKey(accountMasterKey, "letterlock documents v1"u8, "message documents"u8, Aead,
            new KeyCreationParameters { ExportPolicy = KeyExportPolicies.None });
    }

    /// <summary>Seals a message document.</summary>
    public byte[] Seal(string id, string kind, MessageDocument document)
    {
        // Every buffer here has the message's size and is allocated, not rented: ArrayPool<byte>.Shared (which
        // SerializeToUtf8Bytes writes through) keeps such arrays per thread and size long after a sync, unseen by the
        // GC, and an idle bridge held hundreds of MiB that way. The JSON is written into a buffer of about its final size.
        var json = new ArrayBufferWriter<byte>(EstimatedJsonLength(document));
        using (var writer = new Utf8JsonWriter(json))
        {
            JsonSerializer.Serialize(writer, document, SyncJson.Default.MessageDocument);
        }

        var framed = new byte[Padme.PaddedLength(8 + json.WrittenCount)];
        BinaryPrimitives.WriteInt64BigEndian(framed, json.WrittenCount);
        json.WrittenSpan.CopyTo(framed.AsSpan(8));
        var output = new byte[1 + Aead.NonceSize + framed.Length + Aead.TagSize];
        output[0] = Version;
        RandomNumberGenerator.Fill(output.AsSpan(1, Aead.NonceSize));
        Aead.Encrypt(_key, output.AsSpan(1, Aead.NonceSize), AssociatedData(id, kind), framed, output.AsSpan(1 + Aead.NonceSize));
        CryptographicOperations.ZeroMemory(framed);
        json.Clear(); // wipes what was written
        return output;
    }

    /// <summary>Opens a message document, or returns null when it was altered, truncated, moved or is not ours.</summary>
    public MessageDocument? Open(string id, string kind, ReadOnlySpan<byte> sealedDocument)
    {
        if (sealedDocument.Length < 1 + Aead.NonceSize + Aead.TagSize + 8 || sealedDocument[0] != Version)
        {
            return null;
        }

        // The plaintext has the document's size: allocated rather than rented (see Seal), and wiped before it is left.
        int framedLength = sealedDocument.Length - 1 - Aead.NonceSize - Aead.TagSize;
        var framed = GC.AllocateUninitializedArray<byte>(framedLength);
        try
        {
            if (!Aead.Decrypt(_key, sealedDocument.Slice(1, Aead.NonceSize), AssociatedData(id, kind), sealedDocument[(1 + Aead.NonceSize)..], framed))
            {
                return null;
            }

            long length = BinaryPrimitives.ReadInt64BigEndian(framed);
            if (length < 0 || length > framed.Length - 8)
            {
                return null;
            }

            return JsonSerializer.Deserialize(framed.AsSpan(8, (int)length), SyncJson.Default.MessageDocument);
        }
        catch (JsonException)
        {
            return null;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(framed);
        }
    }

    /// <summary>About the length of a document's JSON: the message as base64 and room for the rest.</summary>
    internal static int EstimatedJsonLength(MessageDocument document) =>
        (int)Math.Min(Array.MaxLength, 4L * ((document.Message.Length + 2) / 3) + 1024 + 6L * (document.Folder.Length + document.Flags.Sum(f => f.Length + 3)));

    /// <inheritdoc/>
    public void Dispose() => _key.Dispose();

    private static byte[] AssociatedData(string id, string kind) => Encoding.UTF8.GetBytes($"letterlock.document.v1\0{kind}\0{id}");
}
