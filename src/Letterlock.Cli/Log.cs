using Microsoft.Extensions.Logging;

namespace Letterlock.Cli;

/// <summary>
/// Every log message the command line writes through a logger (source-generated; ids stable and listed in
/// docs/design/logging.md). Most commands write to the terminal instead; this is the provider's banner when its
/// log is JSON and stdout must carry only log objects.
/// </summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 8001, Level = LogLevel.Information, Message = "{Line}")]
    public static partial void ProviderBanner(ILogger logger, string line);
}
