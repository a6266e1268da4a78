using System.Text;
using Letterlock.Client.Store;

namespace Letterlock.Cli.Tests;

/// <summary><c>letterlock import</c> as a user runs it: plain progress and a summary, exit codes, a second run that imports nothing.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class ImportCliTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "letterlock-cli-import-" + Guid.NewGuid().ToString("N"));
    private readonly string _keyFile;

    public ImportCliTests()
    {
        Directory.CreateDirectory(_dir);
        _keyFile = Path.Combine(_dir, "store.key");
        KeyFile.Create(_keyFile);
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private Task<CliRun> Run(params string[] args) =>
        InProcessCli.RunAsync((output, error) => LetterlockCli.RunAsync([.. args, "--data", _dir, "--key-file", _keyFile], output, error));

    private static string Mbox(int count, bool truncateLast = false)
    {
        var text = new StringBuilder();
        for (int i = 0; i < count; i++)
        {
            text.Append($"From sender@example.org Mon Jan  {1 + (i % 9)} 10:00:{i % 60:D2} 2001\n");
            text.Append($"From: Sender <sender@example.org>\nSubject: message {i}\nMessage-ID: <{i}@example.org>\n" + (i % 2 == 0 ? "Status: RO\n" : "") + "\n");
            text.Append($"Body of message {i}.\n>From the archive: a quoted line.\n\n");
        }

        if (truncateLast)
        {
            text.Append("From sender@example.org Mon Jan  1 10:00:00 2001\nSubject: cut\n\nhalf");
        }

        return text.ToString();
    }

    [Fact]
    public async Task An_mbox_is_imported_once_and_a_second_run_skips_every_message_as_a_duplicate()
    {
        using (var store = await LocalStore.CreateAsync(Path.Combine(_dir, "client.db"), StoreUnlock.WithKeyFile(_keyFile)))
        {
            await store.Accounts.CreateAsync("alice@alpha.test", "Alice", new Uri("https://alpha.test/"));
        }

        var mbox = Path.Combine(_dir, "saved.mbox");
        await File.WriteAllTextAsync(mbox, Mbox(40));
        var (code, output, error) = await Run("import", "mbox", mbox, "--folder", "Archive/2001");
        Assert.True(code == 0, error + output);
        Assert.Contains("alice@alpha.test: 40 imported, 0 skipped as duplicates, 0 refused", output, StringComparison.Ordinal);

        (code, output, error) = await Run("import", "mbox", mbox, "--folder", "Archive/2001");
        Assert.True(code == 0, error + output);
        Assert.Contains("0 imported, 40 skipped as duplicates, 0 refused", output, StringComparison.Ordinal);

        using var reopened = await LocalStore.OpenAsync(Path.Combine(_dir, "client.db"), StoreUnlock.WithKeyFile(_keyFile));
        var alice = (await reopened.Accounts.ListAsync()).Single();
        var mail = reopened.Mail(alice.Id);
        var folder = (await mail.FindFolderAsync("Archive/2001"))!;
        var messages = await mail.ListAsync(folder.Id);
        Assert.Equal(40, messages.Count);
        Assert.Equal(20, messages.Count(m => m.Flags.Contains("\\Seen")));
        var body = Encoding.UTF8.GetString((await mail.ReadBodyAsync(messages[0].Id))!);
        Assert.Contains("\r\nFrom the archive: a quoted line.\r\n", body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_truncated_mbox_imports_the_whole_messages_and_exits_1_naming_the_refused_one()
    {
        using (var store = await LocalStore.CreateAsync(Path.Combine(_dir, "client.db"), StoreUnlock.WithKeyFile(_keyFile)))
        {
            await store.Accounts.CreateAsync("alice@alpha.test", "Alice", new Uri("https://alpha.test/"));
        }

        var mbox = Path.Combine(_dir, "cut.mbox");
        await File.WriteAllTextAsync(mbox, Mbox(5, truncateLast: true));
        var (code, output, _) = await Run("import", "mbox", mbox);
        Assert.Equal(1, code);
        Assert.Contains("5 imported, 0 skipped as duplicates, 1 refused", output, StringComparison.Ordinal);
        Assert.Contains("refused: " + mbox + ", line 44: the message is truncated", output, StringComparison.Ordinal);

        await File.WriteAllTextAsync(mbox, "Subject: not an mbox\n\nhello\n");
        (code, _, var error) = await Run("import", "mbox", mbox);
        Assert.Equal(4, code);
        Assert.Contains("is not an mbox file", error, StringComparison.Ordinal);

        (code, _, error) = await Run("import", "mbox", Path.Combine(_dir, "missing.mbox"));
        Assert.Equal(2, code);
        Assert.Contains("there is no file", error, StringComparison.Ordinal);

        (code, _, error) = await Run("import", "imap", "--host", "127.0.0.1", "--user", "alice");
        Assert.Equal(2, code);
        Assert.Contains("no IMAP password: pass --password-file FILE or set LETTERLOCK_IMPORT_PASSWORD", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Every_import_command_has_help_with_examples_and_exit_codes()
    {
        foreach (var command in new[] { new[] { "import" }, ["import", "mbox"], ["import", "maildir"], ["import", "imap"] })
        {
            var (code, output, _) = await Run([.. command, "--help"]);
            Assert.Equal(0, code);
            Assert.Contains("Examples:", output, StringComparison.Ordinal);
            Assert.Contains("Exit codes:", output, StringComparison.Ordinal);
        }
    }
}
