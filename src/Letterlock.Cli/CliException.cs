namespace Letterlock.Cli;

/// <summary>
/// A failure to report to the user as one line on stderr with a non-zero exit code.
/// The message must never contain secrets or message content.
/// </summary>
internal sealed class CliException(string message, int exitCode = 1) : Exception(message)
{
    public int ExitCode { get; } = exitCode;
}
