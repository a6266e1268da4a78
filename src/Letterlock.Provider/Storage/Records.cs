namespace Letterlock.Provider.Storage;

/// <summary>Account status; disabled accounts receive no mail and cannot authenticate.</summary>
public enum AccountStatus
{
    Active = 0,
    Disabled = 1,

    /// <summary>Deleted by its owner: documents and keys erased, the address held until the quarantine ends.</summary>
    Deleted = 2,
}

/// <summary>
/// An account. The record has room for an OPAQUE registration record (RFC 9807) so password login can be
/// added without a schema change; the provider never holds a password or an unwrapped private key.
/// </summary>
public sealed record AccountRecord(
    Guid Id,
    string LocalPart,
    string WkdHash,
    AccountStatus Status,
    long QuotaBytes,
    long UsedBytes,
    long DocumentCount,
    byte[] OpenPgpCertificate,
    byte[] InboxPublicKey,
    byte[]? OpaqueRegistration,
    DateTimeOffset CreatedAt,
    DateTimeOffset KeysUpdatedAt,
    DateTimeOffset? DeletedAt = null);

public sealed record DeviceRecord(Guid Id, Guid AccountId, byte[] PublicKey, string Name, DateTimeOffset CreatedAt, bool Revoked,
    DateTimeOffset? LastSeenAt = null, DateTimeOffset? RevokedAt = null);

public sealed record NewAccount(Guid Id, string LocalPart, string WkdHash, long QuotaBytes, byte[] OpenPgpCertificate, byte[] InboxPublicKey, DateTimeOffset CreatedAt);

public sealed record NewDevice(Guid Id, Guid AccountId, byte[] PublicKey, string Name, DateTimeOffset CreatedAt);

public sealed record ChallengeRecord(Guid Id, Guid DeviceId, byte[] Challenge, DateTimeOffset ExpiresAt);

public sealed record TokenRecord(Guid DeviceId, Guid AccountId, DateTimeOffset ExpiresAt);

public sealed record InviteRecord(string Id, DateTimeOffset CreatedAt, DateTimeOffset ExpiresAt, DateTimeOffset? UsedAt);

public enum CreateAccountOutcome
{
    Created,
    AddressTaken,
    InviteInvalid,
}

/// <summary>Where a document's ciphertext lives: inline bytes, or a blob in the content-addressed store.</summary>
public sealed record CiphertextRef(byte[]? Inline, string? BlobHash, long Size)
{
    public static CiphertextRef InlineBytes(byte[] bytes) => new(bytes, null, bytes.Length);

    public static CiphertextRef Blob(string hash, long size) => new(null, hash, size);
}

/// <summary>A PUT: create (<see cref="ExpectedRevision"/> null, the document must not exist) or replace revision N.</summary>
public sealed record DocumentWrite(Guid AccountId, string Id, string Kind, long? ExpectedRevision, CiphertextRef Content, DateTimeOffset Now);

/// <summary>
/// One write of a batch (<see cref="IProviderStore.WriteDocumentsAsync"/>): a PUT when <see cref="Content"/> is set (create
/// when <see cref="ExpectedRevision"/> is null), else a DELETE of revision <see cref="ExpectedRevision"/>. With
/// <see cref="Requires"/> it is done only while that other document is live at that revision (a conversion writes the
/// message document only while the inbox document it comes from is still there).
/// </summary>
public sealed record BatchWrite(string Id, string? Kind, CiphertextRef? Content, long? ExpectedRevision, DocumentRequirement? Requires = null);

/// <summary>A document that must be live at a revision for a batched write to be done.</summary>
public sealed record DocumentRequirement(string Id, long Revision);

/// <summary>A message sealed by the MX to an account's inbox key.</summary>
public sealed record InboxWrite(Guid AccountId, CiphertextRef Content, long PaddedSize, DateTimeOffset ArrivedAt);

public enum WriteStatus
{
    Ok,
    NotFound,
    Conflict,
    QuotaExceeded,
    AccountUnavailable,
}

public sealed record WriteOutcome(WriteStatus Status, StoredDocumentInfo? Document = null, long? CurrentRevision = null);

public sealed record StoredDocumentInfo(string Id, string Kind, long Revision, long Sequence, long Size, bool Deleted, DateTimeOffset ModifiedAt);

public sealed record StoredDocument(StoredDocumentInfo Info, CiphertextRef? Content);

public sealed record ChangesPage(IReadOnlyList<StoredDocumentInfo> Changes, long Next, bool HasMore);

/// <summary>
/// The provider's storage, narrow on purpose (after Garnet's session-to-storage API): expected outcomes
/// are status values, exceptions mean the unexpected. SQLite and PostgreSQL implement it with the same
/// behaviour; the same tests run against both.
/// </summary>
public interface IProviderStore : IAccountSecurityStore, IPrekeyStore, IAsyncDisposable
{
    string Description { get; }

    Task InitializeAsync(CancellationToken ct);

    Task<CreateAccountOutcome> CreateAccountAsync(NewAccount account, NewDevice device, byte[]? inviteHash, CancellationToken ct);

    Task<AccountRecord?> GetAccountAsync(Guid id, CancellationToken ct);

    Task<AccountRecord?> FindAccountAsync(string localPart, CancellationToken ct);

    Task<AccountRecord?> FindAccountByWkdHashAsync(string wkdHash, CancellationToken ct);

    Task<IReadOnlyList<AccountRecord>> ListAccountsAsync(CancellationToken ct);

    Task<bool> SetAccountStatusAsync(Guid id, AccountStatus status, CancellationToken ct);

    Task<bool> SetQuotaAsync(Guid id, long quotaBytes, CancellationToken ct);

    Task<bool> UpdateKeysAsync(Guid id, byte[] openPgpCertificate, byte[] inboxPublicKey, DateTimeOffset now, CancellationToken ct);

    Task<bool> AddDeviceAsync(NewDevice device, CancellationToken ct);

    Task<DeviceRecord?> GetDeviceAsync(Guid id, CancellationToken ct);

    Task<IReadOnlyList<DeviceRecord>> ListDevicesAsync(Guid accountId, CancellationToken ct);

    Task<bool> RevokeDeviceAsync(Guid accountId, Guid deviceId, CancellationToken ct);

    Task CreateInviteAsync(byte[] hash, DateTimeOffset createdAt, DateTimeOffset expiresAt, CancellationToken ct);

    Task StoreChallengeAsync(ChallengeRecord challenge, CancellationToken ct);

    /// <summary>Deletes and returns the challenge in one step, so it can be redeemed at most once, on any node.</summary>
    Task<ChallengeRecord?> ConsumeChallengeAsync(Guid id, CancellationToken ct);

    Task StoreTokenAsync(byte[] hash, TokenRecord token, CancellationToken ct);

    Task<TokenRecord?> FindTokenAsync(byte[] hash, CancellationToken ct);

    Task<WriteOutcome> PutDocumentAsync(DocumentWrite write, CancellationToken ct);

    /// <summary>Appends one sealed message to each recipient's inbox, all or nothing, durably committed before return.</summary>
    Task<IReadOnlyList<WriteOutcome>> AppendInboxAsync(IReadOnlyList<InboxWrite> writes, CancellationToken ct);

    Task<StoredDocument?> GetDocumentAsync(Guid accountId, string id, CancellationToken ct);

    /// <summary>Several documents at once (those that exist, deleted ones without content), in one read.</summary>
    Task<IReadOnlyList<StoredDocument>> GetDocumentsAsync(Guid accountId, IReadOnlyList<string> ids, CancellationToken ct);

    /// <summary>
    /// Several PUTs and DELETEs of one account in one transaction (one durable commit), in order, each with its own
    /// outcome as if done alone: one write's conflict does not stop the others.
    /// </summary>
    Task<IReadOnlyList<WriteOutcome>> WriteDocumentsAsync(Guid accountId, IReadOnlyList<BatchWrite> writes, DateTimeOffset now, CancellationToken ct);

    Task<WriteOutcome> DeleteDocumentAsync(Guid accountId, string id, long expectedRevision, DateTimeOffset now, CancellationToken ct);

    Task<ChangesPage> GetChangesAsync(Guid accountId, long since, int limit, CancellationToken ct);

    /// <summary>Whether any live document's ciphertext is the blob <paramref name="hash"/> (deleted documents keep none).</summary>
    Task<bool> IsBlobReferencedAsync(string hash, CancellationToken ct);

    Task PurgeExpiredAsync(DateTimeOffset now, CancellationToken ct);

    /// <summary>
    /// Counts one attempt of <paramref name="kind"/> by <paramref name="key"/> at <paramref name="now"/> in a fixed
    /// window of <paramref name="window"/> that began with the key's first attempt, and returns the count including
    /// it and when the window began: one atomic statement, so every node of a cluster counts in the same row. Once
    /// the window is over, a new one begins with this attempt.
    /// </summary>
    Task<(long Attempts, DateTimeOffset WindowStart)> CountAttemptAsync(string kind, string key, DateTimeOffset now, TimeSpan window, CancellationToken ct);
}
