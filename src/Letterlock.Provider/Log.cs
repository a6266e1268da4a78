using Microsoft.Extensions.Logging;

namespace Letterlock.Provider;

/// <summary>
/// Every log message of the provider host (one place, source-generated: no reflection, no boxing). Event ids are
/// stable and listed in docs/design/logging.md; a new message takes the next free id of its group. Messages name
/// routes by template, sessions, queue and submission ids, sizes, counts and reasons; never message content,
/// credentials, tokens or a request's raw path.
/// </summary>
internal static partial class Log
{
    // 4001-4009: the HTTP API

    [LoggerMessage(EventId = 4001, Level = LogLevel.Information, Message = "{Method} {Route} {Status} {ElapsedMs} ms")]
    public static partial void RequestHandled(ILogger logger, string method, string route, int status, long elapsedMs);

    [LoggerMessage(EventId = 4002, Level = LogLevel.Error, Message = "API request {Method} {Route} failed: storage full")]
    public static partial void ApiStorageFull(ILogger logger, Exception exception, string method, string route);

    [LoggerMessage(EventId = 4003, Level = LogLevel.Error, Message = "API request {Method} {Route} failed")]
    public static partial void ApiRequestFailed(ILogger logger, Exception exception, string method, string route);

    [LoggerMessage(EventId = 4004, Level = LogLevel.Warning, Message = "API request {Method} {Route} failed: the database is unavailable ({Reason})")]
    public static partial void ApiDatabaseUnavailable(ILogger logger, string method, string route, string reason);

    [LoggerMessage(EventId = 4005, Level = LogLevel.Warning, Message = "HTTPS connection from proxy {Proxy} refused: {Reason}")]
    public static partial void ProxyHeaderRefused(ILogger logger, string proxy, string reason);

    // 4010-4019: inbound SMTP (MX)

    [LoggerMessage(EventId = 4010, Message = "smtp session {Session}: {Message}")]
    public static partial void SmtpSession(ILogger logger, LogLevel level, Exception? exception, Guid session, string message);

    [LoggerMessage(EventId = 4011, Level = LogLevel.Warning, Message = "session {Session}: message refused: {Limit} ({Allowed}) exceeded")]
    public static partial void MxLimitExceeded(ILogger logger, Guid session, string limit, long allowed);

    [LoggerMessage(EventId = 4012, Level = LogLevel.Information, Message = "session {Session}: message of {Size} bytes sealed to {Count} inbox(es)")]
    public static partial void MxSealed(ILogger logger, Guid session, long size, int count);

    [LoggerMessage(EventId = 4013, Level = LogLevel.Warning, Message = "session {Session}: message refused at commit: {Outcomes}")]
    public static partial void MxRefusedAtCommit(ILogger logger, Guid session, string outcomes);

    // 4020-4029: submission and delivery status notifications

    [LoggerMessage(EventId = 4020, Message = "submission session {Session}: {Message}")]
    public static partial void SubmissionSession(ILogger logger, LogLevel level, Exception? exception, Guid session, string message);

    [LoggerMessage(EventId = 4021, Level = LogLevel.Information, Message = "submission {Id}: {Local} local and {Remote} remote recipient(s), {Size} bytes")]
    public static partial void SubmissionAccepted(ILogger logger, string id, int local, int remote, int size);

    [LoggerMessage(EventId = 4022, Level = LogLevel.Information, Message = "submission session {Session}: sending limit reached")]
    public static partial void SubmissionRateLimited(ILogger logger, Guid session);

    [LoggerMessage(EventId = 4023, Level = LogLevel.Information, Message = "submission session {Session}: message refused ({Refusal})")]
    public static partial void SubmissionRefused(ILogger logger, Guid session, Outbound.SubmissionRefusal refusal);

    [LoggerMessage(EventId = 4024, Level = LogLevel.Warning, Message = "a DSN for a sender outside {Domain} was dropped")]
    public static partial void DsnOutsideDomain(ILogger logger, string domain);

    [LoggerMessage(EventId = 4025, Level = LogLevel.Warning, Message = "a DSN was dropped: its sender's account no longer receives mail")]
    public static partial void DsnAccountGone(ILogger logger);

    [LoggerMessage(EventId = 4026, Level = LogLevel.Warning, Message = "a DSN was dropped: the sender's inbox refused it ({Status})")]
    public static partial void DsnInboxRefused(ILogger logger, Storage.WriteStatus status);

    // 4030-4039: start-up and housekeeping

    [LoggerMessage(EventId = 4030, Level = LogLevel.Warning, Message = "no Public Suffix List (install Debian's publicsuffix package or set dns.publicSuffixList): DMARC takes the last two labels as the organizational domain")]
    public static partial void NoPublicSuffixList(ILogger logger);

    [LoggerMessage(EventId = 4031, Level = LogLevel.Information, Message = "moving the blobs of {Folder} into the database")]
    public static partial void BlobImportStarted(ILogger logger, string folder);

    [LoggerMessage(EventId = 4032, Level = LogLevel.Information, Message = "{Count} blobs moved")]
    public static partial void BlobImportProgress(ILogger logger, int count);

    [LoggerMessage(EventId = 4033, Level = LogLevel.Information, Message = "{Count} blobs moved into the database")]
    public static partial void BlobImportDone(ILogger logger, int count);

    [LoggerMessage(EventId = 4034, Level = LogLevel.Error, Message = "blob file {File} does not match its name: left in place, not moved")]
    public static partial void BlobImportCorrupt(ILogger logger, string file);

    [LoggerMessage(EventId = 4035, Level = LogLevel.Warning, Message = "purging expired challenges and tokens failed")]
    public static partial void PurgeFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 4036, Level = LogLevel.Information, Message = "blob sweep: {Removed} unreferenced blobs and {Temporaries} leftovers of interrupted writes removed ({Examined} examined)")]
    public static partial void BlobSweep(ILogger logger, int removed, int temporaries, int examined);

    [LoggerMessage(EventId = 4037, Level = LogLevel.Warning, Message = "sweeping unreferenced blobs failed")]
    public static partial void BlobSweepFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 4038, Level = LogLevel.Warning, Message = "setting '{Setting}': the private key {Path} can be read by its group (mode {Mode}); unless that group is only the provider's user, fix: chmod 600 that file")]
    public static partial void PrivateKeyGroupReadable(ILogger logger, string setting, string path, string mode);

    // 4040-4049: health checks of the operations listener

    [LoggerMessage(EventId = 4040, Level = LogLevel.Warning, Message = "health check: the database does not answer")]
    public static partial void HealthDatabase(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 4041, Level = LogLevel.Warning, Message = "health check: the blob folder {Folder} takes no write")]
    public static partial void HealthBlobFolder(ILogger logger, Exception exception, string folder);

    // 4050-4059: key transparency

    [LoggerMessage(EventId = 4050, Level = LogLevel.Error, Message = "key transparency: a key set of {Address} exceeds a transparency limit and is not published")]
    public static partial void TransparencyOverLimit(ILogger logger, string address);

    [LoggerMessage(EventId = 4051, Level = LogLevel.Information, Message = "key transparency: {Message}")]
    public static partial void TransparencyConflict(ILogger logger, string message);

    [LoggerMessage(EventId = 4052, Level = LogLevel.Information, Message = "key transparency: published epoch {Epoch} with {Changes} changed addresses in {Total} ms (key sets {Gathered} ms)")]
    public static partial void TransparencyPublished(ILogger logger, long epoch, int changes, long total, long gathered);

    [LoggerMessage(EventId = 4053, Level = LogLevel.Error, Message = "key transparency: publishing an epoch failed; retrying at the next interval")]
    public static partial void TransparencyFailed(ILogger logger, Exception exception);

    // 4060-4069: automatic certificates (ACME)

    [LoggerMessage(EventId = 4060, Level = LogLevel.Information, Message = "ACME: ordering a certificate for {Names} from {Directory} ({Challenge})")]
    public static partial void AcmeOrdering(ILogger logger, string names, string directory, string challenge);

    [LoggerMessage(EventId = 4061, Level = LogLevel.Information, Message = "ACME: new certificate for {Names}, serial {Serial}, valid until {NotAfter:u}; in use from the next connection on")]
    public static partial void AcmeIssued(ILogger logger, string names, string serial, DateTime notAfter);

    [LoggerMessage(EventId = 4062, Level = LogLevel.Error, Message = "ACME: could not obtain a certificate: {Error}; the current certificate stays in use, next attempt in {Minutes:0} minutes")]
    public static partial void AcmeFailed(ILogger logger, string error, double minutes);

    [LoggerMessage(EventId = 4063, Level = LogLevel.Error, Message = "ACME: could not obtain a certificate; the current certificate stays in use")]
    public static partial void AcmeFailedUnexpectedly(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 4064, Level = LogLevel.Information, Message = "ACME: answered the http-01 challenge for {Host}")]
    public static partial void AcmeHttpChallengeAnswered(ILogger logger, string host);

    [LoggerMessage(EventId = 4065, Level = LogLevel.Information, Message = "ACME: {Type} challenge for {Domain} started")]
    public static partial void AcmeChallengeStarted(ILogger logger, string type, string domain);
}
