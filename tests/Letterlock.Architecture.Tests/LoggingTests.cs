using System.Text.RegularExpressions;

namespace Letterlock.Architecture.Tests;

/// <summary>
/// One logging style (docs/design/logging.md): pure libraries report through delegate sinks and take no logger
/// (<see cref="LayeringTests"/>); a project that logs through <c>ILogger</c> writes every message as a
/// source-generated <c>[LoggerMessage]</c> method of its one <c>Log</c> class, with an event id unique in the
/// product and listed in the event id table of the logging design file.
/// </summary>
public sealed partial class LoggingTests
{
    [Fact]
    public void No_project_calls_the_logger_extension_methods()
    {
        var findings = new List<string>();
        foreach (var (file, text) in Sources())
        {
            foreach (Match match in DirectCall().Matches(text))
            {
                findings.Add($"{Path.GetRelativePath(LayeringTests.Root, file)}: '{match.Value.Split('(')[0]}(...)'");
            }
        }

        Assert.True(findings.Count == 0,
            "log through a [LoggerMessage] method of the project's Log class (and add its event id to docs/design/logging.md), " +
            $"not the ILogger extension methods:\n{string.Join("\n", findings)}");
    }

    [Fact]
    public void Every_logger_message_has_an_event_id_unique_in_the_product_and_documented()
    {
        string table = File.ReadAllText(Path.Combine(LayeringTests.Root, "docs", "design", "logging.md"));
        var seen = new Dictionary<int, string>();
        var findings = new List<string>();
        foreach (var (file, text) in Sources())
        {
            string where = Path.GetRelativePath(LayeringTests.Root, file);
            foreach (Match attribute in LoggerMessageAttribute().Matches(text))
            {
                var id = EventIdOf().Match(attribute.Value);
                if (!id.Success)
                {
                    findings.Add($"{where}: a [LoggerMessage] without an EventId");
                    continue;
                }

                int eventId = int.Parse(id.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
                if (!seen.TryAdd(eventId, where))
                {
                    findings.Add($"{where}: event id {eventId} is taken already by {seen[eventId]}");
                }

                if (!Regex.IsMatch(table, $@"^\|\s*{eventId}\s*\|", RegexOptions.Multiline))
                {
                    findings.Add($"{where}: event id {eventId} has no row in docs/design/logging.md");
                }
            }
        }

        Assert.True(seen.Count > 0, "no [LoggerMessage] found: the scan looks in the wrong place");
        Assert.True(findings.Count == 0, string.Join("\n", findings));
    }

    [Fact]
    public void The_scan_tells_extension_calls_from_the_interface_method()
    {
        Assert.Matches(DirectCall(), Clean("logger.LogWarning(e, \"failed\");"));
        Assert.Matches(DirectCall(), Clean("_log.LogInformation(message);"));
        Assert.Matches(DirectCall(), Clean("logger.Log(level, e.Exception, \"session {Session}\", id);"));
        Assert.Matches(DirectCall(), Clean("using var scope = logger.BeginScope(\"request {Id}\", id);"));

        // ILogger.Log<TState> itself (a sink or filter forwarding a record) and the generated methods are fine
        Assert.DoesNotMatch(DirectCall(), Clean("inner.Log(logLevel, eventId, state, exception, formatter);"));
        Assert.DoesNotMatch(DirectCall(), Clean("Log.SmtpSession(logger, level, e.Exception, e.SessionId, e.Message);"));
        Assert.DoesNotMatch(DirectCall(), Clean("// logger.LogWarning(\"in a comment\")\nstring s = \"logger.LogError(x)\";"));
    }

    /// <summary>The C# sources of every project under src/ (build output excluded), comments removed and every string literal reduced to <c>""</c>.</summary>
    private static IEnumerable<(string File, string Text)> Sources()
    {
        foreach (string project in Directory.EnumerateDirectories(Path.Combine(LayeringTests.Root, "src")))
        {
            foreach (string file in Directory.EnumerateFiles(project, "*.cs", SearchOption.AllDirectories).Where(f => !LayeringTests.IsBuildOutput(project, f)))
            {
                yield return (file, Clean(File.ReadAllText(file)));
            }
        }
    }

    private static string Clean(string source) =>
        LayeringTests.CommentOrString().Replace(source, m => m.Value[0] switch
        {
            '/' => " ",
            '\'' => "' '",
            _ => "\"\"",
        });

    /// <summary>
    /// A call of an <c>ILogger</c> extension method: <c>LogTrace</c> .. <c>LogCritical</c> (no interface member has
    /// these names), or <c>Log</c>/<c>BeginScope</c> given a message template (a string literal among the arguments;
    /// <c>ILogger.Log&lt;TState&gt;</c> takes a state and a formatter, never a template).
    /// </summary>
    [GeneratedRegex(@"\.Log(?:Trace|Debug|Information|Warning|Error|Critical)\s*\(|\.(?:Log|BeginScope)\s*\((?:[^();""]|\([^()]*\))*""")]
    private static partial Regex DirectCall();

    [GeneratedRegex(@"\[LoggerMessage\s*\([^\]]*\]")]
    private static partial Regex LoggerMessageAttribute();

    [GeneratedRegex(@"EventId\s*=\s*(\d+)")]
    private static partial Regex EventIdOf();
}
