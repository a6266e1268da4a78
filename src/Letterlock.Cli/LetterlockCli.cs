using System.CommandLine;
using System.CommandLine.Invocation;

namespace Letterlock.Cli;

/// <summary>Builds the `letterlock` command tree and runs it.</summary>
internal static class LetterlockCli
{
    public static RootCommand BuildRootCommand(IReadOnlyList<string>? args = null)
    {
        var root = new RootCommand(
            "Letterlock: secure email people can use. One executable for the provider and the client.\n\n" +
            "Examples:\n" +
            "  letterlock --version\n" +
            "  letterlock sandbox");

        // Each subsystem contributes its own subcommand tree (one file under Commands/ each).
        foreach (var command in CommandCatalog.For(args ?? []))
        {
            root.Subcommands.Add(command);
        }

        // The built-in --version reads the entry assembly, which is not ours when hosted (tests).
        foreach (var option in root.Options.OfType<VersionOption>())
        {
            option.Action = new PrintVersionAction();
        }

        return root;
    }

    /// <summary>The informational version without the source revision suffix.</summary>
    public static string ProductVersion { get; } =
        (typeof(LetterlockCli).Assembly
            .GetCustomAttributes(typeof(System.Reflection.AssemblyInformationalVersionAttribute), false)
            .OfType<System.Reflection.AssemblyInformationalVersionAttribute>()
            .FirstOrDefault()?.InformationalVersion ?? "0.0.0")
        .Split('+')[0];

    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter error)
    {
        var root = BuildRootCommand(args);
        // CliException must reach the catch below (its message and exit code), not the default handler.
        var config = new InvocationConfiguration { Output = output, Error = error, EnableDefaultExceptionHandler = false };
        try
        {
            return await root.Parse(args).InvokeAsync(config).ConfigureAwait(false);
        }
        catch (CliException e)
        {
            await error.WriteLineAsync($"letterlock: {e.Message}").ConfigureAwait(false);
            return e.ExitCode;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // A bug, not a user error: say so in one line (no stack trace, no data) and exit EX_SOFTWARE.
            await error.WriteLineAsync($"letterlock: internal error ({e.GetType().Name}): {e.Message}").ConfigureAwait(false);
            return 70;
        }
    }

    private sealed class PrintVersionAction : SynchronousCommandLineAction
    {
        public override int Invoke(ParseResult parseResult)
        {
            parseResult.InvocationConfiguration.Output.WriteLine(ProductVersion);
            return 0;
        }
    }
}
