namespace Letterlock.Testing;

/// <summary>What a command-line entry point returned and wrote when run in the test's process.</summary>
/// <param name="Code">The exit code.</param>
/// <param name="Out">Everything written to standard output.</param>
/// <param name="Err">Everything written to standard error.</param>
public readonly record struct CliRun(int Code, string Out, string Err);

/// <summary>
/// Runs a command-line entry point in the test's process with its output captured, e.g.
/// <c>InProcessCli.RunAsync((o, e) =&gt; LetterlockCli.RunAsync(args, o, e))</c>. The entry point is passed in because
/// this project references no product project.
/// </summary>
public static class InProcessCli
{
    /// <summary>Runs <paramref name="main"/> with fresh writers for standard output and standard error.</summary>
    public static async Task<CliRun> RunAsync(Func<TextWriter, TextWriter, Task<int>> main)
    {
        ArgumentNullException.ThrowIfNull(main);
        using var output = new StringWriter();
        using var error = new StringWriter();
        int code = await main(output, error);
        return new CliRun(code, output.ToString(), error.ToString());
    }
}
