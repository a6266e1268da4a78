namespace Letterlock.Cli.Tests;

public sealed class CliTests
{
    private static Task<CliRun> Run(params string[] args) =>
        InProcessCli.RunAsync((output, error) => LetterlockCli.RunAsync(args, output, error));

    [Fact]
    public async Task Version_prints_the_product_version()
    {
        var (code, output, _) = await Run("--version");
        Assert.Equal(0, code);
        Assert.StartsWith("0.1.0", output.Trim(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Help_shows_an_example()
    {
        var (code, output, _) = await Run("--help");
        Assert.Equal(0, code);
        Assert.Contains("Examples:", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Unknown_command_fails_with_a_message()
    {
        var (code, _, error) = await Run("no-such-command");
        Assert.NotEqual(0, code);
        Assert.Contains("no-such-command", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Root_help_lists_every_subsystem()
    {
        var (code, output, _) = await Run("--help");
        Assert.Equal(0, code);
        foreach (var name in new[] { "sop", "imap", "provider", "account", "contacts", "bridge", "web", "audit", "transparency", "sandbox", "sync", "search" })
        {
            Assert.Contains($"  {name}", output, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task A_subcommand_runs_with_only_its_own_tree_built()
    {
        var root = LetterlockCli.BuildRootCommand(["sop", "version"]);
        Assert.Equal(["sop"], root.Subcommands.Select(c => c.Name));
        var (code, _, error) = await Run("sop", "version");
        Assert.Equal(0, code);
        Assert.Empty(error);
    }

    [Fact]
    public async Task Sync_shows_an_example_and_fails_clearly_without_a_store_or_with_an_unreadable_ca()
    {
        var (code, output, _) = await Run("sync", "--help");
        Assert.Equal(0, code);
        Assert.Contains("letterlock sync alice@example.org", output, StringComparison.Ordinal);

        var empty = Path.Combine(Path.GetTempPath(), "letterlock-sync-" + Guid.NewGuid().ToString("N"));
        var (noStore, _, error) = await Run("sync", "--data", empty);
        Assert.Equal(1, noStore);
        Assert.Contains("no client store at", error, StringComparison.Ordinal);

        var (badCa, _, caError) = await Run("sync", "--data", empty, "--ca", Path.Combine(empty, "missing.pem"));
        Assert.Equal(2, badCa);
        Assert.Contains("--ca: cannot read a PEM certificate", caError, StringComparison.Ordinal);
        Assert.False(Directory.Exists(empty));
    }
}
