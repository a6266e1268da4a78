using System.Text.Json.Serialization;

namespace Letterlock.Api;

/// <summary><c>GET /.well-known/letterlock</c>: what a client needs to know before talking to a provider.</summary>
/// <param name="Domain">The mail domain this provider serves.</param>
/// <param name="ApiVersion">The API version, currently 1.</param>
/// <param name="SignUp"><c>open</c> or <c>invite</c>.</param>
/// <param name="ProviderSigningKey">The provider's Ed25519 public key (raw 32 bytes).</param>
/// <param name="MaxDocumentSize">Largest document body accepted by PUT, in bytes.</param>
public sealed record ProviderInfo(string Domain, int ApiVersion, string SignUp, byte[] ProviderSigningKey, long MaxDocumentSize);

/// <summary><c>POST /v1/accounts</c>: create an account and register its first device.</summary>
/// <param name="Address">The new address, <c>local@domain</c> (domain must be the provider's).</param>
/// <param name="InviteToken">An invite token from <c>letterlock provider invite</c>, when sign-up is by invitation.</param>
/// <param name="DevicePublicKey">The first device's Ed25519 public key (raw 32 bytes).</param>
/// <param name="DeviceName">A label for the device, shown in device lists (at most 100 characters).</param>
/// <param name="OpenPgpCertificate">The account's OpenPGP certificate, binary (not armored), public parts only.</param>
/// <param name="InboxPublicKey">The inbox public key the MX seals arriving mail to: raw X-Wing (1,216 bytes), or raw X25519
/// (32 bytes) for accounts made before X-Wing.</param>
/// <param name="Proof">Ed25519 signature by the device key over <see cref="DeviceAuthentication.RegistrationMessage"/>.</param>
public sealed record CreateAccountRequest(
    string Address,
    byte[] DevicePublicKey,
    string DeviceName,
    byte[] OpenPgpCertificate,
    byte[] InboxPublicKey,
    byte[] Proof,
    string? InviteToken = null);

/// <summary>The answer to <see cref="CreateAccountRequest"/> (201 Created).</summary>
/// <param name="AccountId">The new account's id.</param>
/// <param name="DeviceId">The first device's id; use it to authenticate.</param>
/// <param name="Address">The address as stored (local part lower-cased).</param>
public sealed record CreateAccountResponse(Guid AccountId, Guid DeviceId, string Address);

/// <summary><c>POST /v1/auth/challenge</c>: ask for a challenge to sign with a device key.</summary>
/// <param name="DeviceId">The device that will sign.</param>
public sealed record ChallengeRequest(Guid DeviceId);

/// <summary>A single-use challenge.</summary>
/// <param name="ChallengeId">Names the challenge in <see cref="TokenRequest"/>.</param>
/// <param name="Challenge">32 random bytes.</param>
/// <param name="ExpiresAt">After this the challenge is refused.</param>
public sealed record ChallengeResponse(Guid ChallengeId, byte[] Challenge, DateTimeOffset ExpiresAt);

/// <summary><c>POST /v1/auth/token</c>: trade a signed challenge for a bearer token.</summary>
/// <param name="ChallengeId">From <see cref="ChallengeResponse"/>.</param>
/// <param name="Signature">Ed25519 signature over <see cref="DeviceAuthentication.ChallengeMessage"/>.</param>
public sealed record TokenRequest(Guid ChallengeId, byte[] Signature);

/// <summary>A short-lived bearer token for <c>Authorization: Bearer</c>.</summary>
/// <param name="Token">The token (opaque, URL-safe).</param>
/// <param name="ExpiresAt">After this requests with it get 401.</param>
/// <param name="AccountId">The account the device belongs to.</param>
/// <param name="DeviceId">The device.</param>
public sealed record TokenResponse(string Token, DateTimeOffset ExpiresAt, Guid AccountId, Guid DeviceId);

/// <summary>A registered device.</summary>
/// <param name="DeviceId">Its id.</param>
/// <param name="PublicKey">Its Ed25519 public key.</param>
/// <param name="Name">Its label.</param>
/// <param name="CreatedAt">When it was registered.</param>
public sealed record DeviceInfo(Guid DeviceId, byte[] PublicKey, string Name, DateTimeOffset CreatedAt);

/// <summary><c>POST /v1/devices</c>: register another device (authenticated by an existing one).</summary>
/// <param name="PublicKey">The new device's Ed25519 public key.</param>
/// <param name="Name">Its label.</param>
/// <param name="Proof">Signature by the new key over <see cref="DeviceAuthentication.AddDeviceMessage"/>.</param>
public sealed record AddDeviceRequest(byte[] PublicKey, string Name, byte[] Proof);

/// <summary><c>GET /v1/account</c>.</summary>
/// <param name="AccountId">The account id.</param>
/// <param name="Address">Its address.</param>
/// <param name="QuotaBytes">Its quota.</param>
/// <param name="UsedBytes">Bytes of documents stored.</param>
/// <param name="Devices">Its active devices.</param>
public sealed record AccountInfo(Guid AccountId, string Address, long QuotaBytes, long UsedBytes, IReadOnlyList<DeviceInfo> Devices);

/// <summary><c>PUT /v1/account/keys</c>: replace the published OpenPGP certificate and inbox key.</summary>
/// <param name="OpenPgpCertificate">The new certificate, binary.</param>
/// <param name="InboxPublicKey">The new inbox public key: raw X-Wing (1,216 bytes) or X25519 (32 bytes).</param>
public sealed record UpdateKeysRequest(byte[] OpenPgpCertificate, byte[] InboxPublicKey);

/// <summary><c>GET /v1/directory/{address}</c>: the public keys of one of this provider's addresses.</summary>
/// <param name="Address">The address.</param>
/// <param name="OpenPgpCertificate">Binary OpenPGP certificate.</param>
/// <param name="InboxPublicKey">Inbox public key: raw X-Wing (1,216 bytes) or X25519 (32 bytes).</param>
/// <param name="Devices">Active devices' Ed25519 keys.</param>
/// <param name="UpdatedAt">When the keys last changed.</param>
/// <param name="Transparency">The key-transparency lookup proof for the address (absent from providers without transparency).</param>
public sealed record DirectoryEntry(string Address, byte[] OpenPgpCertificate, byte[] InboxPublicKey, IReadOnlyList<DirectoryDevice> Devices, DateTimeOffset UpdatedAt,
    DirectoryTransparency? Transparency = null);

/// <summary>A device key in the directory.</summary>
/// <param name="DeviceId">The device id.</param>
/// <param name="PublicKey">Its Ed25519 public key.</param>
public sealed record DirectoryDevice(Guid DeviceId, byte[] PublicKey);

/// <summary>Metadata of one document, as in the change feed and PUT/DELETE answers.</summary>
/// <param name="Id">The document id (client-chosen, or assigned by the MX for inbox documents).</param>
/// <param name="Kind">The document kind (<c>inbox</c>, <c>message</c>, <c>flags</c>, ...).</param>
/// <param name="Revision">Increases by one with every change; the value for <c>If-Match</c>.</param>
/// <param name="Sequence">The account's change sequence number of the last change.</param>
/// <param name="Size">Ciphertext size in bytes; 0 for a deleted document.</param>
/// <param name="Deleted">True for a tombstone.</param>
/// <param name="ModifiedAt">When the change happened (for inbox documents: the arrival time).</param>
public sealed record DocumentInfo(string Id, string Kind, long Revision, long Sequence, long Size, bool Deleted, DateTimeOffset ModifiedAt);

/// <summary><c>GET /v1/changes?since=N</c>: the changes with a sequence number above N, in order.</summary>
/// <param name="Changes">At most <c>limit</c> changes.</param>
/// <param name="Next">Pass as <c>since</c> for the next page or poll.</param>
/// <param name="HasMore">True when another page is waiting.</param>
/// <param name="Contents">With <c>content=1</c>: the ciphertext of the page's live documents (a document too large for the page's byte budget is left out and fetched alone).</param>
public sealed record ChangesResponse(IReadOnlyList<DocumentInfo> Changes, long Next, bool HasMore, IReadOnlyList<DocumentContent>? Contents = null);

/// <summary>A document's ciphertext in a page of changes (<c>GET /v1/changes?content=1</c>).</summary>
/// <param name="Id">The document.</param>
/// <param name="Kind">Its kind.</param>
/// <param name="Revision">The revision the content is (the newest when the page was read: possibly newer than the change listed).</param>
/// <param name="Content">The ciphertext.</param>
public sealed record DocumentContent(string Id, string Kind, long Revision, byte[] Content);

/// <summary><c>POST /v1/documents/batch</c>: several PUTs and DELETEs in one request and one durable commit, done in order.</summary>
/// <param name="Operations">1 to <c>api.maxBatchOperations</c> operations.</param>
public sealed record DocumentBatchRequest(IReadOnlyList<DocumentOperation> Operations);

/// <summary>One operation of a batch: as <c>PUT</c> or <c>DELETE /v1/documents/{id}</c> with the same preconditions.</summary>
/// <param name="Op"><c>put</c> or <c>delete</c>.</param>
/// <param name="Id">The document id.</param>
/// <param name="Kind">For a put: the kind (not <c>inbox</c>).</param>
/// <param name="IfMatch">Replace (put) or delete this revision.</param>
/// <param name="IfNoneMatch">For a put: create (no live document may have the id).</param>
/// <param name="Content">For a put: the ciphertext (at most <c>api.maxDocumentSize</c>).</param>
/// <param name="Requires">Done only while this other document is live at this revision; otherwise <c>conflict</c>.</param>
public sealed record DocumentOperation(string Op, string Id, string? Kind = null, long? IfMatch = null, bool IfNoneMatch = false, byte[]? Content = null,
    RequiredRevision? Requires = null);

/// <summary>A document that must be live at a revision for an operation to be done.</summary>
/// <param name="Id">The document.</param>
/// <param name="Revision">Its revision.</param>
public sealed record RequiredRevision(string Id, long Revision);

/// <summary>The outcome of a batch: one result per operation, in order.</summary>
/// <param name="Results">The results.</param>
public sealed record DocumentBatchResponse(IReadOnlyList<DocumentOperationResult> Results);

/// <summary>The outcome of one operation of a batch.</summary>
/// <param name="Status">One of <see cref="DocumentOperationStatus"/>.</param>
/// <param name="Document">The document after a done operation.</param>
/// <param name="CurrentRevision">On a conflict: the live document's revision, if any.</param>
public sealed record DocumentOperationResult(string Status, DocumentInfo? Document = null, long? CurrentRevision = null);

/// <summary>The statuses of a batched operation (as the single requests' 200/201, 409, 404, 507).</summary>
public static class DocumentOperationStatus
{
    /// <summary>Done.</summary>
    public const string Ok = "ok";

    /// <summary>A precondition (<c>ifMatch</c>, <c>ifNoneMatch</c>, <c>requires</c>) did not hold; nothing was changed.</summary>
    public const string Conflict = "conflict";

    /// <summary>Delete of a document that does not exist.</summary>
    public const string NotFound = "not-found";

    /// <summary>The account's quota would be exceeded.</summary>
    public const string QuotaExceeded = "quota-exceeded";

    /// <summary>The account is disabled.</summary>
    public const string Forbidden = "forbidden";
}

/// <summary><c>GET /v1/quota</c>.</summary>
/// <param name="QuotaBytes">The account's quota.</param>
/// <param name="UsedBytes">Bytes used.</param>
/// <param name="DocumentCount">Live documents.</param>
public sealed record QuotaResponse(long QuotaBytes, long UsedBytes, long DocumentCount);

/// <summary>An error body, <c>application/problem+json</c> (RFC 9457).</summary>
/// <param name="Type">A URI naming the problem; see <see cref="ProblemTypes"/>.</param>
/// <param name="Title">A short summary of the problem type.</param>
/// <param name="Status">The HTTP status.</param>
/// <param name="Detail">What went wrong in this request (never secrets or content).</param>
public sealed record Problem(string Type, string Title, int Status, string? Detail = null);

/// <summary>The problem type URIs the API uses.</summary>
public static class ProblemTypes
{
    /// <summary>400: the body or a parameter is malformed.</summary>
    public const string InvalidRequest = "urn:letterlock:problem:invalid-request";

    /// <summary>401: no token, an expired or unknown token, or a bad signature.</summary>
    public const string Unauthorized = "urn:letterlock:problem:unauthorized";

    /// <summary>401: the challenge is unknown, expired or was already used.</summary>
    public const string ChallengeInvalid = "urn:letterlock:problem:challenge-invalid";

    /// <summary>403: the account or device is disabled, or sign-up needs a valid invite.</summary>
    public const string Forbidden = "urn:letterlock:problem:forbidden";

    /// <summary>404: no such document, address or device.</summary>
    public const string NotFound = "urn:letterlock:problem:not-found";

    /// <summary>409: the address is taken.</summary>
    public const string AddressTaken = "urn:letterlock:problem:address-taken";

    /// <summary>409: <c>If-Match</c>/<c>If-None-Match</c> did not hold; fetch the document and retry.</summary>
    public const string RevisionConflict = "urn:letterlock:problem:revision-conflict";

    /// <summary>413: the document is larger than the provider accepts.</summary>
    public const string TooLarge = "urn:letterlock:problem:too-large";

    /// <summary>428: PUT/DELETE without <c>If-Match</c> or <c>If-None-Match: *</c>.</summary>
    public const string PreconditionRequired = "urn:letterlock:problem:precondition-required";

    /// <summary>507: the provider's own storage (disk, database) is full; nothing was changed; try again later.</summary>
    public const string InsufficientStorage = "urn:letterlock:problem:insufficient-storage";

    /// <summary>507: the account's quota would be exceeded.</summary>
    public const string QuotaExceeded = "urn:letterlock:problem:quota-exceeded";

    /// <summary>429: too many requests.</summary>
    public const string RateLimited = "urn:letterlock:problem:rate-limited";

    /// <summary>500: an unexpected failure on the provider; nothing was changed.</summary>
    public const string ServerError = "urn:letterlock:problem:server-error";

    /// <summary>503: the provider cannot reach its database right now; nothing was changed; try again later (<c>Retry-After</c>).</summary>
    public const string Unavailable = "urn:letterlock:problem:unavailable";

    /// <summary>502: another provider, asked on the caller's behalf, did not answer usefully.</summary>
    public const string UpstreamFailed = "urn:letterlock:problem:upstream-failed";
}

/// <summary>HTTP header names of the document API.</summary>
public static class ApiHeaders
{
    /// <summary>The document kind on PUT and GET.</summary>
    public const string Kind = "Letterlock-Kind";

    /// <summary>The document's revision on GET (also in <c>ETag</c>).</summary>
    public const string Revision = "Letterlock-Revision";

    /// <summary>The document's change sequence on GET.</summary>
    public const string Sequence = "Letterlock-Sequence";
}

/// <summary>System.Text.Json source-generated metadata for every contract (AOT-safe, no reflection).</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    RespectRequiredConstructorParameters = true,
    RespectNullableAnnotations = true)]
[JsonSerializable(typeof(ProviderInfo))]
[JsonSerializable(typeof(CreateAccountRequest))]
[JsonSerializable(typeof(CreateAccountResponse))]
[JsonSerializable(typeof(ChallengeRequest))]
[JsonSerializable(typeof(ChallengeResponse))]
[JsonSerializable(typeof(TokenRequest))]
[JsonSerializable(typeof(TokenResponse))]
[JsonSerializable(typeof(DeviceInfo))]
[JsonSerializable(typeof(AddDeviceRequest))]
[JsonSerializable(typeof(AccountInfo))]
[JsonSerializable(typeof(UpdateKeysRequest))]
[JsonSerializable(typeof(DirectoryEntry))]
[JsonSerializable(typeof(DocumentInfo))]
[JsonSerializable(typeof(ChangesResponse))]
[JsonSerializable(typeof(DocumentBatchRequest))]
[JsonSerializable(typeof(DocumentBatchResponse))]
[JsonSerializable(typeof(QuotaResponse))]
[JsonSerializable(typeof(Problem))]
public sealed partial class ApiJsonContext : JsonSerializerContext;
