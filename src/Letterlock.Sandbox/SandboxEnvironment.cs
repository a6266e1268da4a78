using System.Diagnostics;
using System.Net;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Letterlock.Bridge;
using Letterlock.Client;
using Letterlock.Client.Discovery;
using Letterlock.Client.Net;
using Letterlock.Client.Store;
using Letterlock.Client.Sync;
using Letterlock.Dns;
using Letterlock.Provider.Configuration;
using Letterlock.Provider.Hosting;
using Letterlock.Relay.Dkim;
using MailKit.Net.Smtp;
using MailKit.Security;
using Microsoft.Extensions.Logging;
using MimeKit;

namespace Letterlock.Sandbox;

/// <summary>
/// <c>letterlock sandbox</c>: everything Letterlock is, on one machine and on loopback only. Two providers,
/// <c>alpha.test</c> and <c>beta.test</c>, with TLS certificates from the sandbox's own CA and a static DNS map (MX, SPF,
/// DKIM, DMARC, MTA-STS in <c>enforce</c> mode), federated through their relays; two client devices (alice's and bob's,
/// each its own encrypted store unlocked by a key file) with their bridges. The first run creates
/// <c>alice@alpha.test</c> and <c>bob@beta.test</c> and sends a first end-to-end encrypted message from alice to bob
/// through alice's bridge, as a mail app would, and waits until bob's bridge has it. Later runs on the same folder
/// reuse everything.
/// </summary>
/// <remarks>
/// Folder layout: <c>ca/</c> (root certificate and key), <c>providers/DOMAIN/</c> (a provider data folder as
/// <c>letterlock provider init</c> makes it), <c>clients/NAME/</c> (<c>client.db</c>, <c>store.key</c>,
/// <c>bridge-cert.pem</c>), <c>logs/</c>, <c>sandbox.json</c>. Nothing listens on anything but 127.0.0.1, and no name is
/// resolved outside the static maps.
/// </remarks>
public sealed class SandboxEnvironment : IAsyncDisposable
{
    private const string FirstSubject = "Welcome to Letterlock";
    private static readonly (string Name, string Address, string Display, string Domain)[] People =
    [
        ("alice", "alice@alpha.test", "Alice", "alpha.test"),
        ("bob", "bob@beta.test", "Bob", "beta.test"),
    ];

    private readonly List<ProviderHost> _providers = [];
    private readonly List<(LocalStore Store, BridgeHost Bridge)> _clients = [];
    private readonly List<Web.WebHost> _webs = [];
    private readonly List<FileLoggerProvider> _logs = [];
    private readonly List<ILoggerFactory> _loggerFactories = [];
    private LocalCertificateAuthority? _ca;

    private SandboxEnvironment(SandboxOptions options)
    {
        Options = options;
    }

    /// <summary>The options the sandbox runs with.</summary>
    public SandboxOptions Options { get; }

    /// <summary>What a mail app needs (set once started).</summary>
    public SandboxInfo Info { get; private set; } = null!;

    /// <summary>The sandbox's own domains, whose DNS records it keeps to itself.</summary>
    public static IReadOnlyList<string> Domains { get; } = [.. People.Select(p => p.Domain)];

    /// <summary>The running providers, alpha.test first.</summary>
    public IReadOnlyList<ProviderHost> Providers => _providers;

    /// <summary>The client devices: alice's, then bob's (store and bridge).</summary>
    public IReadOnlyList<(LocalStore Store, BridgeHost Bridge)> Clients => _clients;

    /// <summary>The clients' web apps, alice's then bob's (empty when <see cref="SandboxOptions.Web"/> is off).</summary>
    public IReadOnlyList<Web.WebHost> Webs => _webs;

    /// <summary>The sandbox CA's root (trusted by the clients and the relays, nowhere else).</summary>
    public X509Certificate2 CaRoot => _ca!.Root;

    /// <summary>
    /// Cancelled when the operating system asked the process to stop (SIGINT, SIGTERM): the providers' ASP.NET Core
    /// hosts take those signals over, so a caller waiting for Ctrl-C must watch this as well as its own token.
    /// </summary>
    public CancellationToken Stopping => _providers.Count == 0 ? CancellationToken.None : _providers[0].Stopping;

    /// <summary>The host map the clients use (provider names to loopback ports).</summary>
    public StaticHostMap HostMap { get; } = new() { AllowSystemDns = false };

    /// <summary>The DNS map the providers use.</summary>
    public StaticDnsResolver Dns { get; } = new();

    /// <summary>Starts everything; <paramref name="progress"/> hears each step.</summary>
    /// <exception cref="SandboxException">Something could not start; the message says what.</exception>
    public static async Task<SandboxEnvironment> StartAsync(SandboxOptions options, IProgress<string>? progress = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        var sandbox = new SandboxEnvironment(options);
        try
        {
            await sandbox.RunStartAsync(progress, ct);
            return sandbox;
        }
        catch
        {
            await sandbox.DisposeAsync();
            throw;
        }
    }

    private async Task RunStartAsync(IProgress<string>? progress, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        void Step(string text) => progress?.Report($"[{clock.Elapsed.TotalSeconds,5:0.0}s] {text}");
        string root = Path.GetFullPath(Options.DataDirectory);
        bool existing = File.Exists(Path.Combine(root, "sandbox.json"));
        try
        {
            if (!existing && Directory.Exists(root) && Directory.EnumerateFileSystemEntries(root).Any(e => !IsSandboxEntry(Path.GetFileName(e))))
            {
                // Never mix the sandbox's files into a folder that holds something else.
                throw new SandboxException($"{root} is not empty and not a sandbox folder; give --data an empty or new folder");
            }

            CreatePrivateDirectory(root);
            CreatePrivateDirectory(Path.Combine(root, "logs"));
            // Written now, so a folder the sandbox cannot write to is reported before anything starts.
            await File.WriteAllTextAsync(Path.Combine(root, "README.txt"), "The state of `letterlock sandbox --data " + root + "` (CA, providers, client stores, logs).\n", ct);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new SandboxException($"cannot use {root} as the sandbox's folder: {e.Message}", e);
        }

        var state = ReadState(root);
        if (existing)
        {
            Step($"reusing the sandbox in {root} (accounts, keys and mail from earlier runs)");
        }
        else
        {
            WriteState(root, state);
        }

        _ca = LoadOrCreateCa(Path.Combine(root, "ca"));
        string caPem = Path.Combine(root, "ca", "ca.pem");
        Step("sandbox CA ready (" + caPem + ")");

        // Both providers start at once: most of the time is key generation and ASP.NET start-up.
        _providers.AddRange(await AllOrNothingAsync(People.Select(p => StartProviderAsync(p.Domain, root, caPem, ct)).ToList(), p => p.DisposeAsync()));

        // From here Ctrl-C and SIGTERM reach the providers' hosts first: starting stops with them, it does not wait on.
        using var stopping = CancellationTokenSource.CreateLinkedTokenSource(ct, _providers[0].Stopping, _providers[1].Stopping);
        ct = stopping.Token;

        foreach (var from in _providers)
        {
            foreach (var to in _providers.Where(p => p != from))
            {
                // The relays reach each other's MX and MTA-STS policy on their loopback ports.
                from.Outbound.PortOverrides["mx." + to.Settings.Domain] = to.SmtpEndPoint.Port;
                from.Outbound.PortOverrides["mta-sts." + to.Settings.Domain] = to.HttpsEndPoint.Port;
                // ... and each other's API, for prekey bundles fetched on a user's behalf (native protocol).
                from.Outbound.PortOverrides[to.Settings.Domain] = to.HttpsEndPoint.Port;
            }

            foreach (var name in new[] { "", "openpgpkey.", "mta-sts." })
            {
                HostMap.Add(name + from.Settings.Domain, from.HttpsEndPoint);
            }

            Step($"provider {from.Settings.Domain} ready: https {from.HttpsEndPoint}, smtp {from.SmtpEndPoint}");
        }

        if (Options.DnsRecords is { } extra)
        {
            // a third domain (a real Postfix or Exim, a test's listener): its records, and the port its MX listens on
            Dns.AddRecords(extra.DnsText);
            foreach (var provider in _providers)
            {
                foreach (var (host, port) in extra.Ports)
                {
                    provider.Outbound.PortOverrides[host] = port;
                }
            }

            Step($"extra DNS records added ({extra.Ports.Count} MX port(s))");
        }

        var http = new HttpClient(HttpFetch.CreateHandler(HostMap, [_ca.Root])) { Timeout = Timeout.InfiniteTimeSpan };
        try
        {
            _clients.AddRange(await AllOrNothingAsync(People.Select((p, i) => StartClientAsync(p.Name, p.Address, p.Display, root, http, i, state.BridgePorts, Step, ct)).ToList(),
                async c =>
                {
                    await c.Bridge.DisposeAsync();
                    c.Store.Dispose();
                }));
        }
        finally
        {
            http.Dispose();
        }

        if (Options.Web)
        {
            for (int i = 0; i < _clients.Count; i++)
            {
                int port = i == 0 ? Options.WebPorts.Alice : Options.WebPorts.Bob;
                try
                {
                    _webs.Add(await Web.WebHost.StartAsync(_clients[i].Bridge, new Web.WebOptions { Port = port }, ct: ct));
                }
                catch (IOException e)
                {
                    throw new SandboxException($"{People[i].Name}'s web app cannot listen on 127.0.0.1:{port}: {e.Message} (choose another port, or 0 for a free one)", e);
                }

                Step($"{People[i].Name}'s web app ready: {_webs[i].Url}");
            }
        }

        var accounts = new List<SandboxAccount>();
        for (int i = 0; i < People.Length; i++)
        {
            var (store, bridge) = _clients[i];
            var settings = (await bridge.GetSettingsAsync(ct)).Single();
            string clientDir = Path.Combine(root, "clients", People[i].Name);
            string certificatePath = Path.Combine(clientDir, "bridge-cert.pem");
            await File.WriteAllTextAsync(certificatePath, bridge.Certificate.ExportCertificatePem() + "\n", ct);
            string muttrc = Path.Combine(clientDir, "muttrc");
            var account = new SandboxAccount(settings.Address, settings.UserName, settings.Password, settings.ImapHost, settings.ImapPort, settings.ImapSecurity,
                settings.SmtpHost, settings.SmtpPort, settings.SmtpSecurity, settings.CertificateSha256, certificatePath, clientDir,
                Path.Combine(clientDir, "store.key"), muttrc, Options.Web ? _webs[i].Url.ToString() : null, Options.Web ? _webs[i].NewLoginLink().ToString() : null);
            // Holds the bridge password: readable by the user only, like the store's key file.
            WriteSecret(muttrc, MuttConfig(account, People[i].Display));
            accounts.Add(account);
        }

        state = state with { BridgePorts = [accounts[0].ImapPort, accounts[0].SmtpPort, accounts[1].ImapPort, accounts[1].SmtpPort] };
        WriteState(root, state);

        Step("waiting until both devices are native-capable (prekeys published, device keys in the transparency log)");
        await WaitForNativeAsync(ct);
        Step("alice and bob can write to each other in the native protocol");

        string first = "delivered earlier";
        if (!state.FirstMessageDelivered)
        {
            var sent = Stopwatch.StartNew();
            if (await FindSentFirstMessageAsync(_clients[0].Store, ct) is { } messageId)
            {
                // An earlier run sent it but stopped before bob had it: wait for that one instead of sending another.
                Step("the first message was sent in an earlier run; waiting for it to reach bob's bridge (not sending it again)");
                await WaitForMessageAsync(_clients[1].Store, messageId, ct);
            }
            else
            {
                Step("sending a first encrypted message from alice to bob through alice's bridge");
                await SendFirstMessageAsync(accounts[0], _clients[0].Bridge, _clients[1].Store, ct);
            }

            first = "delivered";
            WriteState(root, state with { FirstMessageDelivered = true });
            Step($"bob's bridge has it ({sent.Elapsed.TotalSeconds:0.0}s from alice's bridge to bob's)");
        }
        else
        {
            Step("the first message reached bob in an earlier run; not sending it again");
        }

        Info = new SandboxInfo(root, caPem,
            _providers.Select(p => new SandboxProvider(p.Settings.Domain, p.HttpsEndPoint.ToString(), p.SmtpEndPoint.ToString(),
                p.Listeners.First(l => l.Protocol == "submission").EndPoint.ToString(), p.Settings.DataDirectory)).ToList(),
            accounts, first, Math.Round(clock.Elapsed.TotalSeconds, 1));
        Step("ready");
    }

    private async Task<ProviderHost> StartProviderAsync(string domain, string root, string caPem, CancellationToken ct)
    {
        string data = Path.Combine(root, "providers", domain);
        string mx = "mx." + domain;
        // A fresh server certificate every run (the CA stays), so it never expires under a long-lived sandbox folder.
        Directory.CreateDirectory(Path.Combine(data, "tls"));
        string certificatePath = Path.Combine(data, "tls", "sandbox-cert.pem");
        string keyPath = Path.Combine(data, "tls", "sandbox-key.pem");
        using (var certificate = _ca!.IssueServerCertificate([mx, domain, "openpgpkey." + domain, "mta-sts." + domain, "localhost"], [IPAddress.Loopback]))
        {
            await File.WriteAllTextAsync(certificatePath, certificate.ExportCertificatePem() + "\n", ct);
            using var key = certificate.GetECDsaPrivateKey()!;
            WriteSecret(keyPath, key.ExportPkcs8PrivateKeyPem() + "\n");
        }

        if (!File.Exists(Path.Combine(data, ProviderSettingsLoader.FileName)))
        {
            await Task.Run(() => ProviderKeys.Initialize(new ProviderKeys.InitOptions(domain, data, mx, certificatePath, keyPath,
                SmtpListen: "127.0.0.1:0", ApiListen: "127.0.0.1:0", SignUp: "open")), ct);
            EditSettings(data, settings =>
            {
                var relay = settings["relay"]!;
                relay["trustedRoots"] = caPem;
                relay["initialRetrySeconds"] = 2;
                relay["maxRetrySeconds"] = 60;
                relay["pollSeconds"] = 2;
                relay["delayWarningHours"] = 0;
                relay["connectTimeoutSeconds"] = 10;
                relay["useIPv6"] = false;
                // Both providers publish MTA-STS enforce: relaying checks the peer's certificate against the sandbox CA.
                settings["mtaSts"]!["mode"] = "enforce";
                settings["transparency"] ??= new JsonObject();
                settings["transparency"]!["epochIntervalSeconds"] = 5;
            });
        }

        var settings = ProviderSettingsLoader.Load(data);
        Dns.AddMx(domain, 10, mx).AddAddress(mx, IPAddress.Loopback).AddAddress("mta-sts." + domain, IPAddress.Loopback).AddAddress(domain, IPAddress.Loopback);
        Dns.AddTxt(domain, "v=spf1 ip4:127.0.0.1 -all");
        Dns.AddTxt("_dmarc." + domain, "v=DMARC1; p=reject; adkim=s; aspf=s");
        Dns.AddTxt("_mta-sts." + domain, "v=STSv1; id=sandbox1");
        foreach (var (selector, file) in new[] { (settings.Dkim.Selector, settings.Dkim.Key), (settings.Dkim.Ed25519Selector, settings.Dkim.Ed25519Key) })
        {
            var dkim = DkimKey.FromPem(selector, await File.ReadAllTextAsync(settings.ResolvePath(file), ct));
            Dns.AddTxt(dkim.DnsName(domain), dkim.TxtRecord);
        }

        var log = new FileLoggerProvider(Path.Combine(root, "logs", domain + ".log"));
        var factory = LoggerFactory.Create(b => b.AddProvider(log).SetMinimumLevel(LogLevel.Information));
        lock (_logs)
        {
            _logs.Add(log);
            _loggerFactories.Add(factory);
        }

        try
        {
            return await ProviderHost.StartAsync(data, null, Dns, factory, ct);
        }
        catch (SettingsException e)
        {
            throw new SandboxException($"provider {domain} did not start: {e.Message}", e);
        }
    }

    private async Task<(LocalStore Store, BridgeHost Bridge)> StartClientAsync(string name, string address, string display, string root, HttpClient http,
        int index, int[]? remembered, Action<string> step, CancellationToken ct)
    {
        string dir = Path.Combine(root, "clients", name);
        CreatePrivateDirectory(dir);
        string keyFile = Path.Combine(dir, "store.key");
        string storePath = Path.Combine(dir, "client.db");
        LocalStore store;
        if (File.Exists(storePath))
        {
            store = await LocalStore.OpenAsync(storePath, StoreUnlock.WithKeyFile(keyFile), ct: ct);
        }
        else
        {
            if (!File.Exists(keyFile))
            {
                KeyFile.Create(keyFile);
            }

            store = await LocalStore.CreateAsync(storePath, StoreUnlock.WithKeyFile(keyFile), ct: ct);
        }

        try
        {
            if (await store.Accounts.FindAsync(address, ct) is null)
            {
                await AccountRegistration.CreateAsync(store, new ProviderClient(http, new Uri($"https://{MailAddress.Split(address).Domain}/")), address, display,
                    deviceName: $"{display}'s sandbox device", ct: ct);
                step($"{address} created: keys generated on {name}'s device, public keys published");
            }
            else
            {
                step($"{address} reused from an earlier run ({storePath})");
            }

            var log = new FileLoggerProvider(Path.Combine(root, "logs", name + "-bridge.log"));
            lock (_logs)
            {
                _logs.Add(log);
            }

            // Ports asked for win; else the ones of the last run (so a mail app set up then still works); else free ones.
            int askedImap = index == 0 ? Options.ImapPorts.Alice : Options.ImapPorts.Bob;
            int askedSmtp = index == 0 ? Options.SmtpPorts.Alice : Options.SmtpPorts.Bob;
            bool known = remembered is { Length: 4 };
            int imapPort = askedImap != 0 ? askedImap : known ? remembered![index * 2] : 0;
            int smtpPort = askedSmtp != 0 ? askedSmtp : known ? remembered![index * 2 + 1] : 0;
            bool reused = (askedImap == 0 && imapPort != 0) || (askedSmtp == 0 && smtpPort != 0);

            BridgeHost bridge;
            try
            {
                bridge = await StartBridgeAsync(store, name, imapPort, smtpPort, log, ct);
            }
            catch (System.Net.Sockets.SocketException) when (reused)
            {
                bridge = await StartBridgeAsync(store, name, askedImap, askedSmtp, log, ct);
                step($"{name}'s bridge could not have its earlier ports {imapPort} and {smtpPort} back (in use): update the mail app's settings");
            }

            step($"{name}'s bridge ready: IMAP {bridge.ImapEndPoint}, SMTP {bridge.SmtpEndPoint}");
            return (store, bridge);
        }
        catch (System.Net.Sockets.SocketException e)
        {
            store.Dispose();
            throw new SandboxException($"{name}'s bridge cannot listen on 127.0.0.1: {e.SocketErrorCode} (choose other ports, or 0 for free ones)", e);
        }
        catch
        {
            store.Dispose();
            throw;
        }
    }

    private Task<BridgeHost> StartBridgeAsync(LocalStore store, string name, int imapPort, int smtpPort, FileLoggerProvider log, CancellationToken ct) =>
        BridgeHost.StartAsync(store, new BridgeOptions
        {
            ImapPort = imapPort,
            SmtpPort = smtpPort,
            HostMap = HostMap,
            TrustedRoots = [_ca!.Root],
            // Nothing in the sandbox reaches a public keyserver.
            Discovery = new KeyDiscoveryOptions { HkpServers = [] },
            SyncInterval = TimeSpan.FromSeconds(10),
            LongPollSeconds = 20,
            Outbox = new OutboxOptions { InitialRetryDelay = TimeSpan.FromSeconds(2), MaxRetryDelay = TimeSpan.FromMinutes(1) },
            SyncLog = line =>
            {
                log.Write(line);
                Options.BridgeLog?.Invoke($"{name}'s bridge: {line}");
            },
            Imap = new Letterlock.Imap.ImapServerOptions { ServerName = $"Letterlock bridge ({name})" },
        }, ct);

    /// <summary>
    /// Waits until every device has published its prekeys (its bridge's first sync) and its key is in a published
    /// transparency epoch, so mail between the sandbox's people takes the native protocol from the first message on.
    /// </summary>
    private async Task WaitForNativeAsync(CancellationToken ct)
    {
        using var http = new HttpClient(HttpFetch.CreateHandler(HostMap, [_ca!.Root])) { Timeout = TimeSpan.FromSeconds(30) };
        foreach (var (store, _) in _clients)
        {
            var account = (await store.Accounts.ListAsync(ct)).Single();
            var provider = await AccountRegistration.ConnectAsync(store, account, http, ct: ct);
            while ((await provider.GetPrekeyStatusAsync(ct)).SignedPrekeyId is null
                || (await provider.GetDirectoryEntryAsync(account.Address, ct))?.Transparency is not { Pending: false })
            {
                await Task.Delay(TimeSpan.FromMilliseconds(500), ct);
            }
        }
    }

    /// <summary>Alice's first message, submitted to her bridge like any mail app would, then awaited in bob's store.</summary>
    private async Task SendFirstMessageAsync(SandboxAccount alice, BridgeHost aliceBridge, LocalStore bobStore, CancellationToken ct)
    {
        var message = new MimeMessage();
        message.From.Add(new MailboxAddress("Alice", alice.Address));
        message.To.Add(new MailboxAddress("Bob", People[1].Address));
        message.Subject = FirstSubject;
        message.MessageId = MimeKit.Utils.MimeUtils.GenerateMessageId("alpha.test");
        message.Body = new TextPart("plain")
        {
            Text = "Hello Bob,\n\nthis message was encrypted on my device, for your device, before it left for alpha.test,\n" +
                "in Letterlock's native protocol: forward secret and post-quantum.\n" +
                "Neither provider can read it; your bridge decrypted it for your mail app and checked my signature\n" +
                "(see the Letterlock-Encryption and Letterlock-Signature header fields), and the real subject was\n" +
                "restored from inside the encryption.\n\nAlice\n",
        };

        using (var smtp = new SmtpClient())
        {
            // The bridge's own certificate is self-signed: pin it instead of trusting anything.
            string expected = aliceBridge.Certificate.GetCertHashString(System.Security.Cryptography.HashAlgorithmName.SHA256);
            smtp.ServerCertificateValidationCallback = (_, certificate, _, _) =>
                certificate is not null && string.Equals(new X509Certificate2(certificate).GetCertHashString(System.Security.Cryptography.HashAlgorithmName.SHA256), expected, StringComparison.OrdinalIgnoreCase);
            await smtp.ConnectAsync(alice.SmtpHost, alice.SmtpPort, SecureSocketOptions.StartTls, ct);
            await smtp.AuthenticateAsync(alice.UserName, alice.Password, ct);
            await smtp.SendAsync(message, ct);
            await smtp.DisconnectAsync(true, ct);
        }

        await WaitForMessageAsync(bobStore, message.MessageId, ct);
    }

    /// <summary>The Message-ID of the first message when alice's Sent folder already has it (an earlier run sent it).</summary>
    private static async Task<string?> FindSentFirstMessageAsync(LocalStore aliceStore, CancellationToken ct)
    {
        var account = (await aliceStore.Accounts.FindAsync(People[0].Address, ct))!;
        var sent = await aliceStore.Mail(account.Id).FindFolderAsync(FolderRole.Sent, ct);
        return sent is null
            ? null
            : (await aliceStore.Mail(account.Id).ListAsync(sent.Id, ct)).FirstOrDefault(m => m.Summary.Subject == FirstSubject)?.Summary.MessageIdHeader?.Trim('<', '>');
    }

    /// <summary>Waits until bob's INBOX holds the message with <paramref name="messageId"/> (woken by bob's store, re-checked every 2 s).</summary>
    private async Task WaitForMessageAsync(LocalStore bobStore, string messageId, CancellationToken ct)
    {
        var bobAccount = (await bobStore.Accounts.FindAsync(People[1].Address, ct))!;
        var bobInbox = (await bobStore.Mail(bobAccount.Id).FindFolderAsync(FolderRole.Inbox, ct))!;
        var arrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        void OnChanged(StoreChange change)
        {
            if (change is MessageAddedChange added && added.Folder == bobInbox.Id)
            {
                arrived.TrySetResult();
            }
        }

        bobStore.Changed += OnChanged;
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(Options.FirstMessageTimeout);
            // Checked after subscribing: a message that arrived before is found here, one that arrives later wakes the wait.
            while (!await HasMessageAsync(bobStore.Mail(bobAccount.Id), bobInbox.Id, messageId, timeout.Token))
            {
                try
                {
                    await arrived.Task.WaitAsync(TimeSpan.FromSeconds(2), timeout.Token);
                }
                catch (TimeoutException)
                {
                    // Re-check anyway.
                }
                catch (OperationCanceledException) when (!ct.IsCancellationRequested)
                {
                    throw new SandboxException($"the first message did not reach bob's bridge within {Options.FirstMessageTimeout.TotalSeconds:0} s; " +
                        $"see the logs in {Path.Combine(Path.GetFullPath(Options.DataDirectory), "logs")}");
                }

                if (arrived.Task.IsCompleted)
                {
                    arrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                }
            }
        }
        finally
        {
            bobStore.Changed -= OnChanged;
        }
    }

    /// <summary>Awaits parallel starts; if one fails, stops the ones that succeeded and rethrows the failure.</summary>
    private static async Task<T[]> AllOrNothingAsync<T>(List<Task<T>> tasks, Func<T, ValueTask> stop)
    {
        try
        {
            return await Task.WhenAll(tasks);
        }
        catch
        {
            foreach (var task in tasks.Where(t => t.IsCompletedSuccessfully))
            {
                await stop(await task);
            }

            throw;
        }
    }

    private static async Task<bool> HasMessageAsync(AccountMail mail, FolderId inbox, string messageId, CancellationToken ct) =>
        (await mail.ListAsync(inbox, ct)).Any(m => m.Summary.MessageIdHeader?.Trim('<', '>') == messageId);

    /// <summary>A ready mutt/neomutt configuration for one account (<c>mutt -F FILE</c>).</summary>
    internal static string MuttConfig(SandboxAccount a, string realName)
    {
        string user = Uri.EscapeDataString(a.UserName);
        return $"""
            # mutt / neomutt settings for {a.Address} in the Letterlock sandbox. Use: mutt -F {Path.Combine(a.ClientDirectory, "muttrc")}
            # Letterlock's bridge decrypts, verifies and encrypts: leave mutt's own crypto off.
            set realname = "{realName}"
            set from = "{a.Address}"
            set imap_user = "{a.UserName}"
            set imap_pass = "{a.Password}"
            set folder = "imap://{a.ImapHost}:{a.ImapPort}/"
            set spoolfile = "+INBOX"
            set postponed = "+Drafts"
            set trash = "+Trash"
            # The bridge keeps the (encrypted) copy in Sent itself.
            unset record
            set smtp_url = "smtp://{user}@{a.SmtpHost}:{a.SmtpPort}/"
            set smtp_pass = "{a.Password}"
            # STARTTLS on loopback, with the bridge's own self-signed certificate trusted from this file only.
            set ssl_starttls = yes
            set ssl_force_tls = yes
            set certificate_file = "{a.CertificatePath}"
            set mail_check = 5
            set imap_keepalive = 60
            unset crypt_autosign
            unset crypt_autoencrypt
            # Show Letterlock's security summary above each message.
            unignore Letterlock-Encryption Letterlock-Signature

            """;
    }

    private static bool IsSandboxEntry(string name) => name is "README.txt" or "logs" or "ca" or "providers" or "clients" or "sandbox.json";

    private static LocalCertificateAuthority LoadOrCreateCa(string dir)
    {
        CreatePrivateDirectory(dir);
        string certificate = Path.Combine(dir, "ca.pem");
        string key = Path.Combine(dir, "ca-key.pem");
        if (File.Exists(certificate) && File.Exists(key))
        {
            return LocalCertificateAuthority.LoadPem(File.ReadAllText(certificate), File.ReadAllText(key));
        }

        var ca = LocalCertificateAuthority.Create("Letterlock Sandbox CA " + Environment.MachineName);
        var (certificatePem, keyPem) = ca.ExportPem();
        WriteSecret(key, keyPem + "\n");
        File.WriteAllText(certificate, certificatePem + "\n");
        return ca;
    }

    private static SandboxState ReadState(string root)
    {
        string path = Path.Combine(root, "sandbox.json");
        try
        {
            return File.Exists(path)
                ? JsonSerializer.Deserialize(File.ReadAllBytes(path), SandboxJson.Default.SandboxState) ?? new SandboxState(1, false)
                : new SandboxState(1, false);
        }
        catch (JsonException e)
        {
            throw new SandboxException($"{path} is not a sandbox state file ({e.Message}); use another --data folder", e);
        }
    }

    private static void WriteState(string root, SandboxState state) =>
        File.WriteAllBytes(Path.Combine(root, "sandbox.json"), JsonSerializer.SerializeToUtf8Bytes(state, SandboxJson.Default.SandboxState));

    /// <summary>Changes provider.json after <c>provider init</c> (its comments are dropped; the sandbox owns this file).</summary>
    private static void EditSettings(string data, Action<JsonNode> edit)
    {
        string path = Path.Combine(data, ProviderSettingsLoader.FileName);
        var node = JsonNode.Parse(File.ReadAllText(path), null, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true })!;
        edit(node);
        using var stream = new MemoryStream();
        using (var writer = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            node.WriteTo(writer);
        }

        File.WriteAllText(path, "// Written by `letterlock sandbox`.\n" + Encoding.UTF8.GetString(stream.ToArray()) + "\n");
    }

    private static void WriteSecret(string path, string content)
    {
        File.WriteAllText(path, "");
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }

        File.WriteAllText(path, content);
    }

    private static void CreatePrivateDirectory(string directory)
    {
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(directory);
        }
        else
        {
            Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
    }

    /// <summary>Stops the bridges (BYE to every session), closes the stores, then stops the providers.</summary>
    public async ValueTask DisposeAsync()
    {
        foreach (var web in _webs)
        {
            await web.DisposeAsync();
        }

        _webs.Clear();
        foreach (var (store, bridge) in _clients)
        {
            await bridge.DisposeAsync();
            store.Dispose();
        }

        _clients.Clear();
        foreach (var provider in _providers)
        {
            await provider.DisposeAsync();
        }

        _providers.Clear();
        foreach (var factory in _loggerFactories)
        {
            factory.Dispose();
        }

        foreach (var log in _logs)
        {
            log.Dispose();
        }

        _ca?.Dispose();
    }
}
