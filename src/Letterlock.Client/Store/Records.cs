using System.Text.Json.Serialization;
using Letterlock.Client.Validation;

namespace Letterlock.Client.Store;

/// <summary>What the account does when a recipient has no usable key.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<EncryptionPolicy>))]
public enum EncryptionPolicy
{
    /// <summary>Encrypt when every recipient has a usable key, otherwise send as is (the default).</summary>
    Opportunistic,

    /// <summary>Refuse to send unless every recipient gets an encrypted copy.</summary>
    EncryptedOnly,
}

/// <summary>An account held by this client.</summary>
/// <param name="Id">Local identifier.</param>
/// <param name="Address">The account's mail address (normalized to lower case).</param>
/// <param name="DisplayName">Name shown in From, if any.</param>
/// <param name="ProviderUrl">Base URL of the provider's API.</param>
/// <param name="Policy">Encryption policy for outgoing mail.</param>
/// <param name="CreatedAt">When the account was added to this client.</param>
/// <param name="ProviderDomain">The provider's mail domain (signed into device authentication), once registered.</param>
/// <param name="RemoteAccountId">The provider's id of the account, once registered.</param>
/// <param name="DeviceId">This device's id at the provider, once registered.</param>
public sealed record AccountRecord(
    AccountId Id,
    string Address,
    string? DisplayName,
    Uri? ProviderUrl,
    EncryptionPolicy Policy,
    DateTimeOffset CreatedAt,
    string? ProviderDomain = null,
    Guid? RemoteAccountId = null,
    Guid? DeviceId = null);

/// <summary>SPECIAL-USE roles of folders (RFC 6154) plus the inbox.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<FolderRole>))]
public enum FolderRole
{
    /// <summary>A user folder.</summary>
    None,

    /// <summary>INBOX.</summary>
    Inbox,

    /// <summary>\Sent.</summary>
    Sent,

    /// <summary>\Drafts.</summary>
    Drafts,

    /// <summary>\Archive.</summary>
    Archive,

    /// <summary>\Trash.</summary>
    Trash,

    /// <summary>\Junk.</summary>
    Junk,
}

/// <summary>A folder of an account.</summary>
/// <param name="Id">Local identifier.</param>
/// <param name="Account">Owning account.</param>
/// <param name="Name">Full name (hierarchy separated by '/'); INBOX is always "INBOX".</param>
/// <param name="Role">SPECIAL-USE role.</param>
/// <param name="Subscribed">Whether the folder is subscribed (IMAP LSUB).</param>
/// <param name="UidValidity">IMAP UIDVALIDITY.</param>
/// <param name="UidNext">The UID the next message will get.</param>
/// <param name="HighestModSeq">CONDSTORE HIGHESTMODSEQ.</param>
public sealed record FolderRecord(
    FolderId Id,
    AccountId Account,
    string Name,
    FolderRole Role,
    bool Subscribed,
    uint UidValidity,
    uint UidNext,
    ulong HighestModSeq);

/// <summary>A mailbox in an envelope: optional display name and the address.</summary>
public sealed record EnvelopeAddress(string? Name, string Address);

/// <summary>How a message reached this client, for the security summary shown to mail apps.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<EncryptionState>))]
public enum EncryptionState
{
    /// <summary>Not end-to-end encrypted (encrypted on arrival at the provider only).</summary>
    None,

    /// <summary>End-to-end encrypted (PGP/MIME or the native protocol), integrity verified.</summary>
    EndToEnd,

    /// <summary>
    /// Encrypted, but refused: integrity protection missing or failing, malformed, or no key of this account opens it
    /// (<see cref="MessageSecurity.Failure"/>). Nothing decrypted is shown; the mail app sees a notice.
    /// </summary>
    Failed,
}

/// <summary>Why an encrypted message was refused.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<DecryptionFailure>))]
public enum DecryptionFailure
{
    /// <summary>The encryption has no integrity protection, or it does not verify (altered, truncated, or crafted).</summary>
    Integrity,

    /// <summary>The encrypted structure or its OpenPGP packets are malformed.</summary>
    Malformed,

    /// <summary>None of this account's keys opens it.</summary>
    NoKey,

    /// <summary>Its decrypted content exceeds a limit on MIME structure (parts, nesting, header data).</summary>
    TooComplex,
}

/// <summary>The signature status of a message as a whole.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<SignatureState>))]
public enum SignatureState
{
    /// <summary>Not signed.</summary>
    None,

    /// <summary>Signed over the whole message by a key bound to the From address.</summary>
    Valid,

    /// <summary>A signature is present but does not verify, covers only part, or the signer is not From.</summary>
    Invalid,

    /// <summary>Signed by a key this client does not have.</summary>
    UnknownKey,

    /// <summary>
    /// A signature verifies over the whole message and its key carries the From address, but the key is not the
    /// address's pinned, transparent or verified key (a pending changed key, or any other key): not valid for From.
    /// </summary>
    UnverifiedSigner,
}

/// <summary>The security summary of a message.</summary>
/// <param name="Encryption">End-to-end encryption status.</param>
/// <param name="Signature">Signature status.</param>
/// <param name="SignerFingerprint">The signer's fingerprint when signed.</param>
/// <param name="SignerTrust">Validation level of the signer's key at receipt.</param>
/// <param name="Failure">Why an encrypted message was refused (<see cref="EncryptionState.Failed"/>).</param>
/// <param name="Sender">The sender check the account's provider recorded on arrival (DMARC), when there was one.</param>
/// <param name="Native">Arrived in the native protocol (forward secret, post-quantum); the signer is the sending device's key.</param>
public sealed record MessageSecurity(
    EncryptionState Encryption,
    SignatureState Signature,
    string? SignerFingerprint,
    KeyValidationLevel? SignerTrust,
    DecryptionFailure? Failure = null,
    Mail.ArrivalAuthentication? Sender = null,
    bool Native = false)
{
    /// <summary>Neither encrypted nor signed.</summary>
    public static MessageSecurity Plain { get; } = new(EncryptionState.None, SignatureState.None, null, null);
}

/// <summary>
/// What the mail app sees of a message without fetching its body (IMAP ENVELOPE, INTERNALDATE,
/// RFC822.SIZE) and the security summary. Stored encrypted; protected headers already restored.
/// </summary>
public sealed record MessageSummary(
    DateTimeOffset InternalDate,
    long Size,
    DateTimeOffset? Date,
    string? Subject,
    IReadOnlyList<EnvelopeAddress> From,
    IReadOnlyList<EnvelopeAddress> Sender,
    IReadOnlyList<EnvelopeAddress> ReplyTo,
    IReadOnlyList<EnvelopeAddress> To,
    IReadOnlyList<EnvelopeAddress> Cc,
    IReadOnlyList<EnvelopeAddress> Bcc,
    string? InReplyTo,
    string? MessageIdHeader,
    MessageSecurity Security);

/// <summary>The provider document a local message mirrors (for sync).</summary>
/// <param name="DocumentId">The provider's document id.</param>
/// <param name="Revision">The document revision last seen.</param>
public sealed record RemoteReference(string DocumentId, long Revision);

/// <summary>
/// The ids of the account's message documents, derived so that every attempt and every device agree on them: a message
/// made on a device goes up as <c>m-</c> + its local id, and an inbox document <c>I</c> (the provider names them
/// <c>in-</c>...) becomes the message document <c>m-I</c>. A write that reached the provider before a crash kept the
/// device from recording it is found again by these names.
/// </summary>
internal static class MessageDocumentIds
{
    private const string MessagePrefix = "m-";

    /// <summary>The document a message made on this device is pushed as.</summary>
    public static string ForNew(MessageId id) => MessagePrefix + id.Value.ToString("N", System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>The message document an inbox document becomes.</summary>
    public static string ForInbox(string inboxDocumentId) => MessagePrefix + inboxDocumentId;

    /// <summary>Whether a document id names an inbox document (not converted yet).</summary>
    public static bool IsInbox(string documentId) => documentId.StartsWith("in-", StringComparison.Ordinal);

    /// <summary>What a message document id was derived from: a local message id, or an inbox document id.</summary>
    public static (MessageId? Local, string? Inbox) Origin(string documentId)
    {
        if (!documentId.StartsWith(MessagePrefix, StringComparison.Ordinal))
        {
            return (null, null);
        }

        var rest = documentId[MessagePrefix.Length..];
        return Guid.TryParseExact(rest, "N", out var id) ? (new MessageId(id), null) : IsInbox(rest) ? (null, rest) : (null, null);
    }
}

/// <summary>A message to add to a folder.</summary>
/// <param name="Summary">Envelope and security summary.</param>
/// <param name="Body">The full decrypted RFC 5322 message as the mail app will see it.</param>
/// <param name="Flags">Initial IMAP flags and keywords.</param>
/// <param name="IndexText">Plain text of the body for the search index (null: index headers only).</param>
/// <param name="SearchText">The text IMAP SEARCH string keys look in (<c>MessageSummaryBuilder.SearchTextOf</c>);
/// null: the store parses the body for it.</param>
public sealed record NewMessage(
    MessageSummary Summary,
    ReadOnlyMemory<byte> Body,
    IReadOnlyCollection<string> Flags,
    string? IndexText = null,
    string? SearchText = null);

/// <summary>A message as listed from a folder (everything but the body).</summary>
public sealed record StoredMessage(
    MessageId Id,
    AccountId Account,
    FolderId Folder,
    Uid Uid,
    ulong ModSeq,
    IReadOnlySet<string> Flags,
    MessageSummary Summary,
    RemoteReference? Remote);

/// <summary>Autocrypt Level 1 peer state (Autocrypt spec, 2.3), as computed by the OpenPGP layer.</summary>
/// <param name="LastSeen">Effective date of the newest message seen from the peer.</param>
/// <param name="AutocryptTimestamp">Effective date of the newest message with a valid Autocrypt header.</param>
/// <param name="PublicKey">The key of that header.</param>
/// <param name="PreferEncryptMutual">Whether the peer asked for mutual encryption.</param>
/// <param name="GossipTimestamp">Effective date of the newest gossip about the peer.</param>
/// <param name="GossipKey">The key of that gossip.</param>
/// <param name="PublicKeyAuthentication">How the mail that carried <paramref name="PublicKey"/> was authenticated (null in
/// states stored before this was recorded, read as unauthenticated).</param>
public sealed record AutocryptPeerState(
    DateTimeOffset LastSeen,
    DateTimeOffset? AutocryptTimestamp,
    byte[]? PublicKey,
    bool PreferEncryptMutual,
    DateTimeOffset? GossipTimestamp,
    byte[]? GossipKey,
    KeyAuthentication? PublicKeyAuthentication = null);

/// <summary>A peer address as seen by one account, with its key validation state.</summary>
public sealed record ContactRecord(
    ContactId Id,
    AccountId Account,
    string Address,
    string? DisplayName,
    ContactKeyState KeyState,
    AutocryptPeerState? Autocrypt,
    bool EncryptedOnly);

/// <summary>Private key material of an account (OpenPGP secret key, inbox key, device key, account master key).</summary>
/// <param name="Id">Row identifier.</param>
/// <param name="Purpose">What the key is for, e.g. <c>openpgp-secret</c>.</param>
/// <param name="Material">The key bytes (sealed at rest under the local key).</param>
/// <param name="CreatedAt">When it was stored.</param>
public sealed record StoredKey(Guid Id, string Purpose, byte[] Material, DateTimeOffset CreatedAt);
