using Microsoft.Extensions.Logging;

namespace Letterlock.Relay;

/// <summary>
/// Every log message of the relay (one place, source-generated: no reflection, no boxing). Messages name
/// destinations, hosts, queue ids and reasons; never message content, subjects or credentials. Recipient
/// addresses appear only at debug level.
/// </summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 5001, Level = LogLevel.Warning, Message = "TLS policy failure for {Domain} at {MxHost} ({Policy}): {ResultType}; not delivering there")]
    public static partial void TlsPolicyFailure(ILogger logger, string domain, string mxHost, string policy, string resultType);

    [LoggerMessage(EventId = 5002, Level = LogLevel.Warning, Message = "MTA-STS testing policy of {Domain} would fail at {MxHost}: {ResultType}; delivering anyway and reporting")]
    public static partial void StsTestingFailure(ILogger logger, string domain, string mxHost, string resultType);

    [LoggerMessage(EventId = 5003, Level = LogLevel.Information, Message = "MTA-STS policy of {Domain} could not be obtained ({ResultType}: {Detail})")]
    public static partial void StsDiscoveryFailed(ILogger logger, string domain, string resultType, string detail);

    [LoggerMessage(EventId = 5004, Level = LogLevel.Information, Message = "cannot use {MxHost} for {Domain}: {Reason}")]
    public static partial void HostUnusable(ILogger logger, string domain, string mxHost, string reason);

    [LoggerMessage(EventId = 5005, Level = LogLevel.Information, Message = "connected to {MxHost} for {Domain}: tls={Encrypted} authenticated={Authenticated} policy={Policy}")]
    public static partial void Connected(ILogger logger, string domain, string mxHost, bool encrypted, bool authenticated, string policy);

    [LoggerMessage(EventId = 5006, Level = LogLevel.Information, Message = "no route to {Domain}: {Reason}")]
    public static partial void NoRoute(ILogger logger, string domain, string reason);

    [LoggerMessage(EventId = 5007, Level = LogLevel.Information, Message = "connection to {MxHost} lost during a transaction: {Reason}")]
    public static partial void ConnectionLost(ILogger logger, string mxHost, string reason);

    [LoggerMessage(EventId = 5010, Level = LogLevel.Information, Message = "queue {DeliveryId} to {Domain}: {Delivered} delivered, {Deferred} deferred, {Failed} failed (attempt {Attempt})")]
    public static partial void AttemptRecorded(ILogger logger, string deliveryId, string domain, int delivered, int deferred, int failed, int attempt);

    [LoggerMessage(EventId = 5011, Level = LogLevel.Warning, Message = "queue {DeliveryId} to {Domain} resumed after an interrupted attempt (lease lapsed, e.g. a crash): the destination may receive it twice")]
    public static partial void InterruptedAttempt(ILogger logger, string deliveryId, string domain);

    [LoggerMessage(EventId = 5012, Level = LogLevel.Warning, Message = "queue {DeliveryId} to {Domain} bounced: {Failed} recipient(s) failed permanently or expired")]
    public static partial void Bounced(ILogger logger, string deliveryId, string domain, int failed);

    [LoggerMessage(EventId = 5013, Level = LogLevel.Error, Message = "queue {DeliveryId} cannot be read (corrupt or wrong queue key); removed without delivery")]
    public static partial void Unreadable(ILogger logger, Exception exception, string deliveryId);

    [LoggerMessage(EventId = 5018, Level = LogLevel.Error, Message = "queued message of {DeliveryId} cannot be sent ({Reason}); its open recipients fail and the sender gets a DSN")]
    public static partial void Unsendable(ILogger logger, Exception exception, string deliveryId, string reason);

    [LoggerMessage(EventId = 5014, Level = LogLevel.Error, Message = "relay worker for {Destination} failed; its deliveries will be retried when their lease lapses")]
    public static partial void WorkerFailed(ILogger logger, Exception exception, string destination);

    [LoggerMessage(EventId = 5015, Level = LogLevel.Warning, Message = "lease of queue {DeliveryId} was lost before its result was recorded; another worker owns it now")]
    public static partial void LeaseLost(ILogger logger, string deliveryId);

    [LoggerMessage(EventId = 5016, Level = LogLevel.Error, Message = "handing a DSN for queue {DeliveryId} to local delivery failed; retrying later")]
    public static partial void DsnHandOffFailed(ILogger logger, Exception exception, string deliveryId);

    [LoggerMessage(EventId = 5017, Level = LogLevel.Error, Message = "relay scheduler loop failed; retrying")]
    public static partial void SchedulerFailed(ILogger logger, Exception exception);
}
