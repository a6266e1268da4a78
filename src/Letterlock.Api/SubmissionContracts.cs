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

/// <summary>Request headers of <c>POST /v1/submission</c>, whose body is the raw message (<c>message/rfc822</c>).</summary>
public static class SubmissionHeaders
{
    /// <summary>The envelope sender; optional, the account's address when absent (and it must be that address).</summary>
    public const string MailFrom = "Letterlock-Mail-From";

    /// <summary>The envelope recipients: comma-separated, the header may repeat. Bcc recipients go here only.</summary>
    public const string RcptTo = "Letterlock-Rcpt-To";
}

/// <summary>Problem types of the submission endpoints beyond <see cref="ProblemTypes"/>.</summary>
public static class SubmissionProblemTypes
{
    /// <summary>422: a recipient of this provider does not exist, is disabled, or its mailbox is full; nothing was sent.</summary>
    public const string RecipientRefused = "urn:letterlock:problem:recipient-refused";
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
public sealed partial class SubmissionJsonContext : JsonSerializerContext;
