using System.Text.Json.Serialization;

namespace Letterlock.Api;

/// <summary>
/// <c>POST /v1/submission/token</c>: the calling device's SMTP submission credential for AUTH PLAIN on ports 587
/// (STARTTLS) and 465 (implicit TLS). It is bound to the device: revoking the device or asking for a new token ends it.
/// </summary>
/// <param name="UserName">The AUTH user name: the account's address.</param>
/// <param name="Password">The AUTH password: the token (shown once; the provider keeps only its hash).</param>
/// <param name="ExpiresAt">After this AUTH with it fails.</param>
/// <param name="DeviceId">The device it is bound to.</param>
public sealed record SubmissionTokenResponse(string UserName, string Password, DateTimeOffset ExpiresAt, Guid DeviceId);

/// <summary>The answer to <c>POST /v1/submission</c> (202 Accepted): every recipient is delivered or queued durably.</summary>
/// <param name="SubmissionId">The relay queue id (or a random id when every recipient was local).</param>
/// <param name="Recipients">One entry per distinct recipient.</param>
public sealed record SubmissionResponse(string SubmissionId, IReadOnlyList<SubmissionRecipient> Recipients);

/// <summary>What happened to one recipient of a submission.</summary>
/// <param name="Address">The recipient.</param>
/// <param name="Disposition"><see cref="SubmissionDispositions.Delivered"/> (a user of this provider) or <see cref="SubmissionDispositions.Queued"/> (relayed).</param>
public sealed record SubmissionRecipient(string Address, string Disposition);

/// <summary>The values of <see cref="SubmissionRecipient.Disposition"/>.</summary>
public static class SubmissionDispositions
{
    /// <summary>In the recipient's inbox on this provider already.</summary>
    public const string Delivered = "delivered";

    /// <summary>In the relay queue for another server.</summary>
    public const string Queued = "queued";
}

/// <summary>
/// The envelope of a <c>POST /v1/submission</c>: the first part (<c>application/json</c>) of its <c>multipart/mixed</c>
/// body, before the raw message (<c>message/rfc822</c>). Addresses are Unicode strings (RFC 6531: a UTF-8 local part,
/// a domain in U-labels or A-labels); they travel in the body because HTTP header values are ASCII.
/// </summary>
/// <param name="RcptTo">The envelope recipients; Bcc recipients go here only.</param>
/// <param name="MailFrom">The envelope sender; optional, the account's address when absent (and it must be that address).</param>
public sealed record SubmissionEnvelope(IReadOnlyList<string> RcptTo, string? MailFrom = null);

/// <summary>The media types of a <c>POST /v1/submission</c> body.</summary>
public static class SubmissionMediaTypes
{
    /// <summary>The body: two parts, the <see cref="Envelope"/> and then the <see cref="Message"/> (RFC 2046, 5.1.3).</summary>
    public const string Multipart = "multipart/mixed";

    /// <summary>The first part: the <see cref="SubmissionEnvelope"/> as JSON.</summary>
    public const string Envelope = "application/json";

    /// <summary>The second part: the raw RFC 5322 message, CRLF line ends, 8-bit allowed.</summary>
    public const string Message = "message/rfc822";
}

/// <summary>
/// Request headers of the first form of <c>POST /v1/submission</c>, whose body is the raw message alone
/// (<c>message/rfc822</c>). Still accepted for clients that send it, but HTTP header values are ASCII, so it cannot carry
/// an internationalised address: send a <see cref="SubmissionMediaTypes.Multipart"/> body with a
/// <see cref="SubmissionEnvelope"/> instead.
/// </summary>
public static class SubmissionHeaders
{
    /// <summary>The envelope sender; optional, the account's address when absent (and it must be that address).</summary>
    public const string MailFrom = "Letterlock-Mail-From";

    /// <summary>The envelope recipients: comma-separated, the header may repeat. Bcc recipients go here only.</summary>
    public const string RcptTo = "Letterlock-Rcpt-To";

    /// <summary>
    /// Optional on either form (draft-ietf-httpapi-idempotency-key-header): a client's unique name for this submission. A
    /// retry with the same key within 24 hours, after an answer was lost, gets the first answer and sends nothing again;
    /// while the first is still handled it gets 409 (<see cref="SubmissionProblemTypes.InProgress"/>, Retry-After); the
    /// same key with another message or envelope gets 422 (<see cref="SubmissionProblemTypes.KeyReused"/>).
    /// </summary>
    public const string IdempotencyKey = "Idempotency-Key";

    /// <summary>The longest <see cref="IdempotencyKey"/> (visible ASCII characters, without the quotes).</summary>
    public const int MaxIdempotencyKeyLength = 255;
}

/// <summary>Problem types of the submission endpoints beyond <see cref="ProblemTypes"/>.</summary>
public static class SubmissionProblemTypes
{
    /// <summary>422: a recipient of this provider does not exist, is disabled, or its mailbox is full; nothing was sent.</summary>
    public const string RecipientRefused = "urn:letterlock:problem:recipient-refused";

    /// <summary>
    /// 422: the message exceeds a limit on its MIME structure (header block size, header fields, folding, parts, nesting);
    /// the detail names the setting (<c>mx.maxMimeParts</c>, ...). Nothing was sent.
    /// </summary>
    public const string TooComplex = "urn:letterlock:problem:too-complex";

    /// <summary>409: a submission with the same <see cref="SubmissionHeaders.IdempotencyKey"/> is being handled; ask again after Retry-After.</summary>
    public const string InProgress = "urn:letterlock:problem:submission-in-progress";

    /// <summary>422: the <see cref="SubmissionHeaders.IdempotencyKey"/> was used for a different message or envelope; nothing was sent.</summary>
    public const string KeyReused = "urn:letterlock:problem:idempotency-key-reused";
}

/// <summary>System.Text.Json source-generated metadata for the submission contracts.</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    RespectRequiredConstructorParameters = true,
    RespectNullableAnnotations = true)]
[JsonSerializable(typeof(SubmissionTokenResponse))]
[JsonSerializable(typeof(SubmissionResponse))]
[JsonSerializable(typeof(SubmissionEnvelope))]
public sealed partial class SubmissionJsonContext : JsonSerializerContext;
