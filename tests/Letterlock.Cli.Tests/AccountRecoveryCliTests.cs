using System.Text.RegularExpressions;
using Letterlock.Provider.Hosting;
using Microsoft.Extensions.Logging;

namespace Letterlock.Cli.Tests;

/// <summary>
/// <c>account create</c> prints a recovery code once; <c>account recovery-kit</c> writes a new one with the revocation
/// certificate (0600); <c>account recover</c> on another data folder brings the account back; <c>devices list</c> shows
/// both devices and marks this one; <c>devices revoke</c> removes the lost one. Against a real provider over HTTPS.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
[Trait(TestCategory.Name, TestCategory.Process)]
public sealed partial class AccountRecoveryCliTests : IAsyncLifetime
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "letterlock-cli-recover-" + Guid.NewGuid().ToString("N"));
    private ProviderHost _provider = null!;

    private string Data => Path.Combine(_dir, "provider");

    private string Url => $"https://127.0.0.1:{_provider.HttpsEndPoint.Port}/";

    private string Ca => Path.Combine(Data, "tls", "cert.pem");

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(_dir);
        ProviderKeys.Initialize(new ProviderKeys.InitOptions("alpha.test", Data, "mx.alpha.test", SmtpListen: "127.0.0.1:0", ApiListen: "127.0.0.1:0", SignUp: "open"));
        _provider = await ProviderHost.StartAsync(Data, null, new Letterlock.Dns.StaticDnsResolver(), LoggerFactory.Create(b => b.SetMinimumLevel(LogLevel.Warning)));
    }

    public async Task DisposeAsync()
    {
        await _provider.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    private Task<CliRun> Run(string client, params string[] args) =>
        InProcessCli.RunAsync((output, error) => LetterlockCli.RunAsync([.. args, "--data", client, "--key-file", Path.Combine(client, "store.key")], output, error));

    [GeneratedRegex("([0-9A-HJKMNP-TV-Z]{4}-){7}[0-9A-HJKMNP-TV-Z]{4}")]
    private static partial Regex CodePattern();

    [Fact]
    public async Task The_recovery_code_from_create_or_from_a_kit_brings_the_account_back_on_a_new_device()
    {
        var laptop = Path.Combine(_dir, "laptop");
        string passwordFile = Path.Combine(_dir, "password.txt");
        await File.WriteAllTextAsync(passwordFile, "correct horse battery staple\n");
        var (code, output, error) = await Run(laptop, "account", "create", "--provider", Url, "--address", "alice@alpha.test", "--name", "Alice", "--ca", Ca,
            "--password-file", passwordFile);
        Assert.True(code == 0, error);
        string printed = CodePattern().Match(output).Value;
        Assert.NotEmpty(printed);
        Assert.Contains("shown once", output, StringComparison.Ordinal);

        // A kit: a new code (the printed one stops working) and the revocation certificate, readable only by the owner.
        string kit = Path.Combine(_dir, "kit.txt");
        (code, output, error) = await Run(laptop, "account", "recovery-kit", "--out", kit, "--ca", Ca);
        Assert.True(code == 0, error);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(kit));
        string kitText = await File.ReadAllTextAsync(kit);
        string kitCode = CodePattern().Match(kitText).Value;
        Assert.NotEqual(printed, kitCode);
        Assert.Contains("-----BEGIN PGP ", kitText, StringComparison.Ordinal);
        Assert.Contains("-----END PGP ", kitText, StringComparison.Ordinal);
        (code, _, error) = await Run(laptop, "account", "recovery-kit", "--out", kit, "--ca", Ca);
        Assert.Equal(2, code);
        Assert.Contains("never overwritten", error, StringComparison.Ordinal);

        // The old code and a typo are refused, each with its own clear message; nothing is left in the new store.
        // (Recovery always sets a new password: whoever recovers may not know the old one, or fear someone else does.)
        var phone = Path.Combine(_dir, "phone");
        string recoveredFile = Path.Combine(_dir, "recovered-password.txt");
        await File.WriteAllTextAsync(recoveredFile, "chosen during recovery\n");
        string oldCodeFile = Path.Combine(_dir, "old.txt");
        await File.WriteAllTextAsync(oldCodeFile, printed);
        (code, _, error) = await Run(phone, "account", "recover", "--provider", Url, "--address", "alice@alpha.test", "--code-file", oldCodeFile, "--password-file", recoveredFile, "--ca", Ca);
        Assert.Equal(3, code);
        Assert.Contains("does not open alice@alpha.test", error, StringComparison.Ordinal);
        string typoFile = Path.Combine(_dir, "typo.txt");
        await File.WriteAllTextAsync(typoFile, (kitCode[0] == 'A' ? "B" : "A") + kitCode[1..]);
        (code, _, error) = await Run(phone, "account", "recover", "--provider", Url, "--address", "alice@alpha.test", "--code-file", typoFile, "--password-file", recoveredFile, "--ca", Ca);
        Assert.Equal(2, code);
        Assert.Contains("typo", error, StringComparison.Ordinal);
        (code, output, _) = await Run(phone, "account", "list");
        Assert.Equal(0, code);
        Assert.Contains("No accounts yet.", output, StringComparison.Ordinal);

        // The kit's code works.
        string codeFile = Path.Combine(_dir, "code.txt");
        await File.WriteAllTextAsync(codeFile, kitCode.ToLowerInvariant());
        (code, output, error) = await Run(phone, "account", "recover", "--provider", Url, "--address", "alice@alpha.test", "--code-file", codeFile,
            "--password-file", recoveredFile, "--device-name", "phone", "--ca", Ca);
        Assert.True(code == 0, error);
        Assert.Contains("Recovered alice@alpha.test", output, StringComparison.Ordinal);
        Assert.Contains("The old password no longer works", output, StringComparison.Ordinal);
        Assert.Contains("1 other device(s)", output, StringComparison.Ordinal);

        (code, output, error) = await Run(phone, "account", "show", "alice@alpha.test");
        Assert.True(code == 0, error);
        Assert.Contains("openpgp-secret", output, StringComparison.Ordinal);

        (code, output, error) = await Run(phone, "devices", "list", "--ca", Ca);
        Assert.True(code == 0, error);
        Assert.Contains("phone", output, StringComparison.Ordinal);
        Assert.Contains("(this device)", output, StringComparison.Ordinal);
        Assert.Equal(2, output.Split('\n').Count(l => l.Contains(" added ", StringComparison.Ordinal)));
        Assert.Contains("Password: yes", output, StringComparison.Ordinal);

        // A third device signs in with the password set during recovery; the one from before the recovery is now
        // wrong, refused with exit code 3, and leaves nothing.
        var tablet = Path.Combine(_dir, "tablet");
        (code, _, error) = await Run(tablet, "account", "login", "--provider", Url, "--address", "alice@alpha.test", "--password-file", passwordFile, "--ca", Ca);
        Assert.Equal(3, code);
        Assert.Contains("the password does not open alice@alpha.test", error, StringComparison.Ordinal);
        (code, output, error) = await Run(tablet, "account", "login", "--provider", Url, "--address", "alice@alpha.test", "--password-file", recoveredFile,
            "--device-name", "tablet", "--ca", Ca);
        Assert.True(code == 0, error);
        Assert.Contains("Signed in to alice@alpha.test", output, StringComparison.Ordinal);

        // The phone changes the password: the tablet keeps working, the old password no longer signs in.
        string newPasswordFile = Path.Combine(_dir, "new-password.txt");
        await File.WriteAllTextAsync(newPasswordFile, "an entirely new password");
        (code, _, error) = await Run(phone, "account", "password", "--password-file", newPasswordFile, "--ca", Ca);
        Assert.True(code == 0, error);
        (code, _, error) = await Run(tablet, "devices", "list", "--ca", Ca);
        Assert.True(code == 0, error);
        (code, _, _) = await Run(Path.Combine(_dir, "fourth"), "account", "login", "--provider", Url, "--address", "alice@alpha.test", "--password-file", recoveredFile, "--ca", Ca);
        Assert.Equal(3, code);

        // The phone revokes the lost laptop; the laptop can no longer reach the account.
        (code, output, error) = await Run(phone, "devices", "list", "--ca", Ca);
        Assert.True(code == 0, error);
        Assert.Contains("tablet", output, StringComparison.Ordinal);
        string laptopId = Regex.Match(output, @"^\s+([0-9a-f-]{36})\s+Letterlock client", RegexOptions.Multiline).Groups[1].Value;
        Assert.NotEmpty(laptopId);
        (code, output, error) = await Run(phone, "devices", "revoke", laptopId, "--ca", Ca);
        Assert.True(code == 0, error);
        (code, _, error) = await Run(laptop, "devices", "list", "--ca", Ca);
        Assert.NotEqual(0, code);
        Assert.Contains("the provider refused", error, StringComparison.Ordinal);

        // Removing a device while another remains needs only --yes; the last one also needs the explicit confirmation.
        (code, _, error) = await Run(phone, "devices", "revoke", Regex.Match((await Run(phone, "devices", "list", "--ca", Ca)).Out,
            @"^\s+([0-9a-f-]{36})\s+tablet", RegexOptions.Multiline).Groups[1].Value, "--ca", Ca);
        Assert.True(code == 0, error);
        (code, _, error) = await Run(phone, "account", "remove", "alice@alpha.test", "--yes", "--ca", Ca);
        Assert.Equal(2, code);
        Assert.Contains("this is the only device of alice@alpha.test", error, StringComparison.Ordinal);
        Assert.Contains("lost for good", error, StringComparison.Ordinal);
        (code, _, error) = await Run(phone, "account", "remove", "alice@alpha.test", "--yes", "--i-have-the-recovery-code", "--ca", Ca);
        Assert.True(code == 0, error);

        // Deleting needs the address twice; afterwards neither the password nor the code opens the account, and the
        // address is not given out again.
        var last = Path.Combine(_dir, "last");
        (code, _, error) = await Run(last, "account", "login", "--provider", Url, "--address", "alice@alpha.test", "--password-file", newPasswordFile, "--ca", Ca);
        Assert.True(code == 0, error);
        (code, _, error) = await Run(last, "account", "delete", "alice@alpha.test", "--ca", Ca);
        Assert.Equal(2, code);
        Assert.Contains("--confirm alice@alpha.test", error, StringComparison.Ordinal);
        (code, output, error) = await Run(last, "account", "delete", "alice@alpha.test", "--confirm", "alice@alpha.test", "--ca", Ca);
        Assert.True(code == 0, error);
        Assert.Contains("Deleted alice@alpha.test", output, StringComparison.Ordinal);
        (code, _, _) = await Run(Path.Combine(_dir, "after"), "account", "login", "--provider", Url, "--address", "alice@alpha.test", "--password-file", newPasswordFile, "--ca", Ca);
        Assert.Equal(3, code);
        (code, _, error) = await Run(Path.Combine(_dir, "squatter"), "account", "create", "--provider", Url, "--address", "alice@alpha.test", "--no-password", "--ca", Ca);
        Assert.Equal(1, code);
        Assert.Contains("Address taken", error, StringComparison.Ordinal);
    }

    [GeneratedRegex(@"devices approve ([0-9A-Z]{5}-[0-9A-Z]{6})")]
    private static partial Regex LinkCodePattern();

    [GeneratedRegex(@"shows?:\s+(\d{3} ?\d{3})")]
    private static partial Regex SasPattern();

    /// <summary>
    /// <c>devices link</c> and <c>devices approve</c> as two real processes, the person typing "yes" at the approving one:
    /// both print the same six digits, the new device holds the account (a device-only one, made with --no-password),
    /// and the account lists it. A wrong comparison (--sas-matches with other digits) aborts: nothing joins.
    /// </summary>
    [Fact]
    public async Task Devices_link_and_approve_as_processes_bring_a_device_only_account_to_a_new_device()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        var laptop = Path.Combine(_dir, "laptop");
        var (code, _, error) = await Run(laptop, "account", "create", "--provider", Url, "--address", "carol@alpha.test", "--name", "Carol", "--no-password", "--ca", Ca);
        Assert.True(code == 0, error);

        // A wrong comparison first: the approving side answers no (other digits), so neither side joins anything.
        var refusedPhone = Path.Combine(_dir, "refused-phone");
        using (var link = StartCli(refusedPhone, "devices", "link", "--provider", Url, "--device-name", "refused", "--ca", Ca))
        {
            string linkCode = await ReadUntilAsync(link.StandardOutput, LinkCodePattern(), timeout.Token);
            using var approve = StartCli(laptop, "devices", "approve", linkCode, "--sas-matches", "000 000", "--ca", Ca);
            await approve.WaitForExitAsync(timeout.Token);
            Assert.NotEqual(0, approve.ExitCode);
            Assert.Contains("did not show the same string", await approve.StandardError.ReadToEndAsync(timeout.Token), StringComparison.Ordinal);

            // The new device hears nothing more and would wait for its code to expire; the person stops it.
            link.Kill(entireProcessTree: true);
            await link.WaitForExitAsync(timeout.Token);
        }

        var (_, listed, _) = await Run(laptop, "devices", "list", "--ca", Ca);
        Assert.DoesNotContain("refused", listed, StringComparison.Ordinal);

        // Then the real thing: both screens show the same digits, the person says yes.
        var phone = Path.Combine(_dir, "phone");
        using (var link = StartCli(phone, "devices", "link", "--provider", Url, "--device-name", "phone", "--ca", Ca))
        {
            string linkCode = await ReadUntilAsync(link.StandardOutput, LinkCodePattern(), timeout.Token);
            using var approve = StartCli(laptop, "devices", "approve", linkCode, "--ca", Ca);
            await approve.StandardInput.WriteLineAsync("yes");
            await approve.StandardInput.FlushAsync(timeout.Token);
            string approverSas = await ReadUntilAsync(approve.StandardOutput, SasPattern(), timeout.Token);
            string linkSas = await ReadUntilAsync(link.StandardOutput, SasPattern(), timeout.Token);
            Assert.Equal(approverSas.Replace(" ", "", StringComparison.Ordinal), linkSas.Replace(" ", "", StringComparison.Ordinal));
            await approve.WaitForExitAsync(timeout.Token);
            await link.WaitForExitAsync(timeout.Token);
            Assert.True(approve.ExitCode == 0, await approve.StandardError.ReadToEndAsync(timeout.Token));
            Assert.True(link.ExitCode == 0, await link.StandardError.ReadToEndAsync(timeout.Token));
        }

        (code, listed, error) = await Run(phone, "devices", "list", "--ca", Ca);
        Assert.True(code == 0, error);
        Assert.Contains("carol@alpha.test", listed, StringComparison.Ordinal);
        Assert.Matches(@"\*\s+[0-9a-f-]{36}\s+phone", listed);
        Assert.Contains("Password: no", listed, StringComparison.Ordinal);
    }

    private static System.Diagnostics.Process StartCli(string client, params string[] args)
    {
        var start = new System.Diagnostics.ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false,
        };
        foreach (var arg in new[] { Path.Combine(AppContext.BaseDirectory, "letterlock.dll") }.Concat(args).Concat(["--data", client, "--key-file", Path.Combine(client, "store.key")]))
        {
            start.ArgumentList.Add(arg);
        }

        return System.Diagnostics.Process.Start(start)!;
    }

    /// <summary>Reads lines until one matches; the first group of the match. Fails when the output ends first.</summary>
    private static async Task<string> ReadUntilAsync(StreamReader output, Regex pattern, CancellationToken ct)
    {
        var seen = new System.Text.StringBuilder();
        while (await output.ReadLineAsync(ct) is { } line)
        {
            seen.AppendLine(line);
            if (pattern.Match(line) is { Success: true } match)
            {
                return match.Groups[1].Value;
            }
        }

        throw new Xunit.Sdk.XunitException($"the output ended without {pattern}:\n{seen}");
    }
}
