using System.Globalization;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Letterlock.Dns;
using Letterlock.Provider.Configuration;
using Letterlock.Provider.Hosting;
using Letterlock.Relay.Dkim;
using Letterlock.Relay.Tls;

namespace Letterlock.Provider.Operations;

/// <summary>How a doctor check ended.</summary>
public enum DoctorStatus
{
    /// <summary>As it should be.</summary>
    Ok,

    /// <summary>Works, but something optional is missing or will break soon.</summary>
    Warning,

    /// <summary>Mail, clients or security suffer now.</summary>
    Error,
}

/// <summary>One line of <c>provider doctor</c>'s table.</summary>
/// <param name="Check">What was checked (<c>dkim-rsa</c>, <c>open-relay</c>).</param>
/// <param name="Status">The outcome.</param>
/// <param name="Found">What DNS or the server answered.</param>
/// <param name="Fix">What to do; empty when <see cref="Status"/> is <see cref="DoctorStatus.Ok"/>.</param>
public sealed record DoctorResult(string Check, DoctorStatus Status, string Found, string Fix);

/// <summary>Where and how the doctor reaches the running server.</summary>
public sealed class DoctorOptions
{
    /// <summary>The resolver: the live one in production, a static map in tests and sandboxes.</summary>
    public required IDnsResolver Dns { get; init; }

    /// <summary>The HTTPS port the world reaches (443, or the port behind a forward).</summary>
    public int HttpsPort { get; init; } = 443;

    /// <summary>The SMTP port the world reaches (25).</summary>
    public int SmtpPort { get; init; } = 25;

    /// <summary>Roots trusted instead of the system's (a private CA); null for the system's.</summary>
    public X509Certificate2Collection? TrustedRoots { get; init; }

    /// <summary>Time allowed to each connection and exchange.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>A certificate expiring within this is a warning.</summary>
    public TimeSpan ExpiryWarning { get; init; } = TimeSpan.FromDays(14);

    /// <summary>The clock.</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;
}

/// <summary>
/// <c>letterlock provider doctor</c>: checks every record <c>provider init</c> prints against DNS, and the running
/// server as the world reaches it (by the names in DNS): certificate, MTA-STS policy, TLSA, WKD, autoconfig, reverse
/// DNS, refusal to relay. Each failure comes with its fix.
/// </summary>
public static class ProviderDoctor
{
    /// <summary>Where the autoconfig file is served (Mozilla's well-known path on the mail domain).</summary>
    public const string AutoconfigPath = "/.well-known/autoconfig/mail/config-v1.1.xml";

    /// <summary>Runs every check; never throws for what it finds.</summary>
    public static async Task<IReadOnlyList<DoctorResult>> RunAsync(ProviderSettings settings, DoctorOptions options, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(options);
        using var certificate = X509Certificate2.CreateFromPem(await File.ReadAllTextAsync(settings.ResolvePath(settings.Tls.Certificate), ct).ConfigureAwait(false));
        var expected = DnsRecords.Expected(settings, certificate).ToDictionary(r => r.Check, StringComparer.Ordinal);
        var results = new List<DoctorResult>();
        var dns = options.Dns;
        string domain = settings.Domain;
        string host = settings.HostName;

        // addresses
        var domainV4 = await AddressesAsync(dns, domain, AddressFamily.InterNetwork, ct).ConfigureAwait(false);
        var domainV6 = await AddressesAsync(dns, domain, AddressFamily.InterNetworkV6, ct).ConfigureAwait(false);
        var hostV4 = await AddressesAsync(dns, host, AddressFamily.InterNetwork, ct).ConfigureAwait(false);
        var hostV6 = await AddressesAsync(dns, host, AddressFamily.InterNetworkV6, ct).ConfigureAwait(false);
        results.Add(AddressResult(expected["domain-a"], domainV4, required: true));
        results.Add(AddressResult(expected["domain-aaaa"], domainV6, required: false));
        var mx = await dns.ResolveMxAsync(domain, ct).ConfigureAwait(false);
        results.Add(mx.Records.Any(r => string.Equals(r.Exchange, host, StringComparison.OrdinalIgnoreCase))
            ? Ok("mx", string.Join(", ", mx.Records.Select(r => $"{r.Preference} {r.Exchange}")))
            : Bad("mx", DoctorStatus.Error, mx.Records.Count == 0 ? Missing(mx.Status) : string.Join(", ", mx.Records.Select(r => $"{r.Preference} {r.Exchange}")), Publish(expected["mx"])));
        results.Add(AddressResult(expected["mx-a"], hostV4, required: true));
        results.Add(AddressResult(expected["mx-aaaa"], hostV6, required: false));
        var hostAddresses = hostV4.Concat(hostV6).ToList();

        // SPF, DKIM, DMARC
        var spf = (await dns.ResolveTxtAsync(domain, ct).ConfigureAwait(false)).Records.Where(t => t.StartsWith("v=spf1", StringComparison.OrdinalIgnoreCase)).ToList();
        results.Add(spf.Count switch
        {
            0 => Bad("spf", DoctorStatus.Error, "none", Publish(expected["spf"])),
            > 1 => Bad("spf", DoctorStatus.Error, $"{spf.Count} SPF records", $"keep one (several are a permanent error, RFC 7208 4.5): {expected["spf"].Value}"),
            _ when AuthorizesServer(spf[0], hostAddresses) => Ok("spf", spf[0]),
            _ => Bad("spf", DoctorStatus.Warning, spf[0], $"it names neither 'mx' nor this server's address: {expected["spf"].Value}"),
        });
        foreach (var key in Outbound.OutboundKeys.LoadDkimKeys(settings))
        {
            string check = key.Type == DkimKeyType.Rsa ? "dkim-rsa" : "dkim-ed25519";
            var txt = (await dns.ResolveTxtAsync(key.DnsName(domain), ct).ConfigureAwait(false)).Records.Where(t => t.Contains("p=", StringComparison.Ordinal)).ToList();
            string? published = txt.Select(t => Tag(t, "p")).FirstOrDefault(p => p is not null);
            results.Add(published is null
                ? Bad(check, DoctorStatus.Error, "none", Publish(expected[check]))
                : published == key.PublicKeyData
                    ? Ok(check, $"{key.DnsName(domain)} matches {(key.Type == DkimKeyType.Rsa ? "dkim.key" : "dkim.ed25519Key")}")
                    : Bad(check, DoctorStatus.Error, $"{key.DnsName(domain)} holds another key", "receivers reject the signatures; replace the record: " + Publish(expected[check])));
        }

        var dmarc = (await dns.ResolveTxtAsync("_dmarc." + domain, ct).ConfigureAwait(false)).Records.Where(t => t.StartsWith("v=DMARC1", StringComparison.OrdinalIgnoreCase)).ToList();
        results.Add(dmarc.Count == 0
            ? Bad("dmarc", DoctorStatus.Error, "none", Publish(expected["dmarc"]))
            : Tag(dmarc[0], "p") is "none"
                ? Bad("dmarc", DoctorStatus.Warning, dmarc[0], "p=none protects nobody from mail forged in the domain's name: " + expected["dmarc"].Value)
                : Ok("dmarc", dmarc[0]));

        // the server's certificate, as HTTPS on the mail domain presents it
        var https = await FetchAsync(options, domain, "/.well-known/letterlock", ct).ConfigureAwait(false);
        results.Add(CertificateResult(https, settings, options));

        // MTA-STS
        var stsTxt = (await dns.ResolveTxtAsync("_mta-sts." + domain, ct).ConfigureAwait(false)).Records.Where(t => t.StartsWith("v=STSv1", StringComparison.Ordinal)).ToList();
        if (settings.MtaSts.Mode == "none")
        {
            results.Add(Bad("mta-sts", DoctorStatus.Warning, stsTxt.Count == 0 ? "off (mtaSts.mode \"none\")" : "a TXT record, but mtaSts.mode is \"none\"",
                "senders may deliver without TLS or to an impostor: set mtaSts.mode to \"testing\" (then \"enforce\"), restart, and publish " + Describe(expected["mta-sts-txt"])));
        }
        else
        {
            string expectedId = DnsRecords.MtaStsPolicyId(settings);
            string? id = stsTxt.Count == 1 && MtaStsPolicy.TryParseTxtRecord(stsTxt[0], out string? parsed) ? parsed : null;
            results.Add(id is null
                ? Bad("mta-sts-txt", DoctorStatus.Error, stsTxt.Count == 0 ? "none" : string.Join(" | ", stsTxt), Publish(expected["mta-sts-txt"]))
                : id == expectedId
                    ? Ok("mta-sts-txt", stsTxt[0])
                    : Bad("mta-sts-txt", DoctorStatus.Warning, stsTxt[0], "the id is not the served policy's: senders keep a policy they cached; " + Publish(expected["mta-sts-txt"])));
            var policy = await FetchAsync(options, "mta-sts." + domain, "/.well-known/mta-sts.txt", ct).ConfigureAwait(false);
            results.Add(PolicyResult(policy, settings, options));
        }

        var tlsRpt = (await dns.ResolveTxtAsync("_smtp._tls." + domain, ct).ConfigureAwait(false)).Records.Where(t => t.StartsWith("v=TLSRPTv1", StringComparison.Ordinal)).ToList();
        results.Add(tlsRpt.Count == 1 && tlsRpt[0].Contains("rua=", StringComparison.Ordinal)
            ? Ok("tls-rpt", tlsRpt[0])
            : Bad("tls-rpt", DoctorStatus.Warning, tlsRpt.Count == 0 ? "none" : string.Join(" | ", tlsRpt), "senders cannot tell you when TLS to you fails: " + Publish(expected["tls-rpt"])));

        // SMTP as other servers meet it: STARTTLS, its certificate, TLSA, refusal to relay
        var smtp = await ProbeSmtpAsync(options, host, hostAddresses, domain, ct).ConfigureAwait(false);
        results.Add(await TlsaResultAsync(dns, expected["tlsa"], smtp.Certificate ?? https.Certificate, ct).ConfigureAwait(false));
        results.Add(smtp.Error is { } smtpError
            ? Bad("open-relay", DoctorStatus.Error, smtpError, $"make {host} port {options.SmtpPort} reachable (firewall, port forward) and 'provider serve' running")
            : smtp.RelayReply is { } relay && relay.StartsWith('5')
                ? Ok("open-relay", $"RCPT to another domain refused: {relay}")
                : Bad("open-relay", DoctorStatus.Error, $"RCPT to another domain answered: {smtp.RelayReply}", "the server relays for anyone: stop it now and check what answers on port 25"));
        results.Add(smtp.Error is null && !smtp.StartTls
            ? Bad("starttls", DoctorStatus.Error, "no STARTTLS in the EHLO answer", "something between the world and the server strips STARTTLS (a firewall's SMTP inspection?): turn that off")
            : Ok("starttls", smtp.Error is null ? "offered" : "not reached"));

        // reverse DNS of every address of the MX host
        results.Add(await ReverseResultAsync(dns, host, hostAddresses, ct).ConfigureAwait(false));

        // SRV for submission
        foreach (string check in new[] { "srv-submission", "srv-submissions" })
        {
            var want = expected[check];
            var srv = await dns.ResolveSrvAsync(want.Name, ct).ConfigureAwait(false);
            string[] parts = want.Value.Split(' ');
            int port = int.Parse(parts[2], CultureInfo.InvariantCulture);
            results.Add(srv.Records.Count == 0
                ? Bad(check, DoctorStatus.Warning, "none", "mail apps cannot find submission on their own: " + Publish(want))
                : srv.Records.Any(r => string.Equals(r.Target, host, StringComparison.OrdinalIgnoreCase) && r.Port == port)
                    ? Ok(check, string.Join(", ", srv.Records.Select(r => $"{r.Priority} {r.Weight} {r.Port} {r.Target}")))
                    : Bad(check, DoctorStatus.Error, string.Join(", ", srv.Records.Select(r => $"{r.Priority} {r.Weight} {r.Port} {r.Target}")), "it sends mail apps elsewhere: " + Publish(want)));
        }

        // names served by this host: autoconfig, WKD
        foreach (var (check, name) in new[] { ("autoconfig", "autoconfig." + domain), ("wkd", "openpgpkey." + domain) })
        {
            var addresses = (await AddressesAsync(dns, name, AddressFamily.InterNetwork, ct).ConfigureAwait(false))
                .Concat(await AddressesAsync(dns, name, AddressFamily.InterNetworkV6, ct).ConfigureAwait(false)).ToList();
            results.Add(addresses.Count == 0
                ? Bad(check + "-dns", check == "wkd" ? DoctorStatus.Error : DoctorStatus.Warning, "does not resolve", Publish(expected[check]))
                : Ok(check + "-dns", $"{name} -> {string.Join(", ", addresses)}"));
        }

        var autoconfig = await FetchAsync(options, domain, AutoconfigPath, ct).ConfigureAwait(false);
        results.Add(autoconfig.Status == 200 && autoconfig.Body.Contains("<clientConfig", StringComparison.Ordinal)
            ? Ok("autoconfig", $"https://{domain}{AutoconfigPath} served")
            : Bad("autoconfig", DoctorStatus.Warning, autoconfig.Error ?? $"https://{domain}{AutoconfigPath}: HTTP {autoconfig.Status}",
                "mail apps' setup wizards find nothing: serve it (a provider version with autoconfig) and check that nothing in front of the server blocks the path"));
        var wkd = await FetchAsync(options, "openpgpkey." + domain, $"/.well-known/openpgpkey/{domain}/policy", ct).ConfigureAwait(false);
        results.Add(wkd.Status == 200
            ? Ok("wkd", $"https://openpgpkey.{domain}/.well-known/openpgpkey/{domain}/policy served")
            : Bad("wkd", DoctorStatus.Error, wkd.Error ?? $"HTTP {wkd.Status}", $"gpg and other OpenPGP clients cannot find the users' keys: point openpgpkey.{domain} at this server and make sure the certificate names it"));
        return results;
    }

    /// <summary>True when a result list has an error (the exit status of <c>doctor</c>).</summary>
    public static bool HasErrors(IEnumerable<DoctorResult> results) => results.Any(r => r.Status == DoctorStatus.Error);

    private static DoctorResult Ok(string check, string found) => new(check, DoctorStatus.Ok, found, "");

    private static DoctorResult Bad(string check, DoctorStatus status, string found, string fix) => new(check, status, found, fix);

    private static string Describe(ExpectedRecord r) => $"{r.Name}. {r.Type} {(r.Type == "TXT" ? $"\"{r.Value}\"" : r.Value)}";

    private static string Publish(ExpectedRecord r) => "publish " + Describe(r);

    private static string Missing(DnsStatus status) => status == DnsStatus.TemporaryFailure ? "lookup failed (try again; check the name servers)" : "none";

    private static async Task<List<IPAddress>> AddressesAsync(IDnsResolver dns, string name, AddressFamily family, CancellationToken ct) =>
        [.. (await dns.ResolveAddressesAsync(name, family, ct).ConfigureAwait(false)).Records];

    private static DoctorResult AddressResult(ExpectedRecord record, List<IPAddress> found, bool required) =>
        found.Count > 0
            ? Ok(record.Check, string.Join(", ", found))
            : Bad(record.Check, required ? DoctorStatus.Error : DoctorStatus.Warning, "none", $"{record.Purpose}: {Publish(record)}");

    private static bool AuthorizesServer(string spf, List<IPAddress> addresses) =>
        spf.Split(' ', StringSplitOptions.RemoveEmptyEntries).Any(term =>
        {
            string t = term.TrimStart('+');
            return t is "mx" or "a" || addresses.Any(a => t == $"ip4:{a}" || t == $"ip6:{a}");
        });

    // tag-list = tag-spec *( ";" tag-spec ) [ ";" ]; tag-spec = [FWS] tag-name [FWS] "=" [FWS] tag-value [FWS]   (RFC 6376, 3.2)
    private static string? Tag(string record, string name)
    {
        foreach (string spec in record.Split(';'))
        {
            int equals = spec.IndexOf('=', StringComparison.Ordinal);
            if (equals > 0 && spec[..equals].Trim() == name)
            {
                return string.Concat(spec[(equals + 1)..].Where(c => !char.IsWhiteSpace(c)));
            }
        }

        return null;
    }

    private static DoctorResult CertificateResult(Fetched https, ProviderSettings settings, DoctorOptions options)
    {
        if (https.Certificate is null)
        {
            return Bad("certificate", DoctorStatus.Error, https.Error ?? "no certificate", $"make https://{settings.Domain}/ reach this server (DNS A/AAAA, firewall, port {options.HttpsPort})");
        }

        var cert = https.Certificate;
        var now = options.Time.GetUtcNow();
        var names = new List<string> { settings.Domain, settings.HostName, "openpgpkey." + settings.Domain, "autoconfig." + settings.Domain };
        if (settings.MtaSts.Mode != "none")
        {
            names.Add("mta-sts." + settings.Domain);
        }

        var missing = names.Where(n => !cert.MatchesHostname(n)).ToList();
        string found = $"{cert.Subject}, valid until {cert.NotAfter.ToUniversalTime():yyyy-MM-dd}";
        string fixNames = $"get a certificate naming {string.Join(", ", names)} and set tls.certificate/tls.key";
        if (cert.NotAfter.ToUniversalTime() < now.UtcDateTime || cert.NotBefore.ToUniversalTime() > now.UtcDateTime)
        {
            return Bad("certificate", DoctorStatus.Error, $"{cert.Subject} expired or not yet valid ({cert.NotBefore:yyyy-MM-dd}..{cert.NotAfter:yyyy-MM-dd})", "renew it: " + fixNames);
        }

        if (missing.Count > 0)
        {
            return Bad("certificate", DoctorStatus.Error, $"{found}; does not name {string.Join(", ", missing)}", fixNames);
        }

        if (https.ChainProblem is { } chain)
        {
            return Bad("certificate", DoctorStatus.Error, $"{found}; not trusted: {chain}", "senders with MTA-STS and every client refuse it: " + fixNames + " from a public CA (ACME, e.g. Let's Encrypt)");
        }

        return cert.NotAfter.ToUniversalTime() - now.UtcDateTime < options.ExpiryWarning
            ? Bad("certificate", DoctorStatus.Warning, found, "renew it soon (and publish the new TLSA record first if the key changes)")
            : Ok("certificate", found);
    }

    private static DoctorResult PolicyResult(Fetched fetched, ProviderSettings settings, DoctorOptions options)
    {
        string url = $"https://mta-sts.{settings.Domain}/.well-known/mta-sts.txt";
        if (fetched.Status != 200)
        {
            return Bad("mta-sts-policy", DoctorStatus.Error, fetched.Error ?? $"{url}: HTTP {fetched.Status}", $"point mta-sts.{settings.Domain} at this server (port {options.HttpsPort})");
        }

        if (fetched.Certificate is null || !fetched.Certificate.MatchesHostname("mta-sts." + settings.Domain) || fetched.ChainProblem is not null)
        {
            return Bad("mta-sts-policy", DoctorStatus.Error, $"{url}: the certificate is not valid for mta-sts.{settings.Domain}{(fetched.ChainProblem is { } p ? $" ({p})" : "")}",
                $"senders ignore the policy: get a trusted certificate that names mta-sts.{settings.Domain}");
        }

        if (!MtaStsPolicy.TryParse(fetched.Body, out var policy, out string? error))
        {
            return Bad("mta-sts-policy", DoctorStatus.Error, $"{url}: {error}", "serve a valid policy (RFC 8461, 3.2): let the provider serve it");
        }

        if (!policy!.Matches(settings.HostName))
        {
            return Bad("mta-sts-policy", DoctorStatus.Error, $"{url}: mx {string.Join(", ", policy.MxPatterns)}", $"the policy must name {settings.HostName}, or senders refuse to deliver under enforce");
        }

        if (!policy.MxPatterns.All(m => m.StartsWith("*.", StringComparison.Ordinal) ? fetched.Certificate.MatchesHostname("x" + m[1..]) : fetched.Certificate.MatchesHostname(m)))
        {
            return Bad("mta-sts-policy", DoctorStatus.Error, $"{url}: the certificate does not name every mx of the policy", "get a certificate naming every mx the policy lists");
        }

        return Ok("mta-sts-policy", $"{policy.Mode.ToString().ToLowerInvariant()}, mx {string.Join(", ", policy.MxPatterns)}, max_age {policy.MaxAge.TotalSeconds}");
    }

    private static async Task<DoctorResult> TlsaResultAsync(IDnsResolver dns, ExpectedRecord expected, X509Certificate2? served, CancellationToken ct)
    {
        var tlsa = await dns.ResolveTlsaAsync(expected.Name, ct).ConfigureAwait(false);
        if (tlsa.Records.Count == 0)
        {
            return Bad("tlsa", DoctorStatus.Warning, "none", "DANE senders (DNSSEC-signed zones) cannot pin the certificate: " + Publish(expected));
        }

        if (served is null)
        {
            return Bad("tlsa", DoctorStatus.Error, $"{tlsa.Records.Count} record(s); the server's certificate could not be read", "make the server reachable, then run doctor again");
        }

        bool matches = tlsa.Records.Any(r => Dane.Matches(r, served));
        string found = string.Join(", ", tlsa.Records.Select(r => $"{r.CertificateUsage} {r.Selector} {r.MatchingType} {Convert.ToHexStringLower(r.AssociationData)[..Math.Min(16, r.AssociationData.Length * 2)]}..."));
        if (!matches)
        {
            return Bad("tlsa", DoctorStatus.Error, found + " (none matches the certificate)", "DANE senders refuse to deliver: replace them with " + Describe(expected));
        }

        return tlsa.DnssecValidated
            ? Ok("tlsa", found)
            : Bad("tlsa", DoctorStatus.Warning, found + " (not DNSSEC-validated)", "DANE needs a DNSSEC-signed zone (and a validating resolver here to see it)");
    }

    private static async Task<DoctorResult> ReverseResultAsync(IDnsResolver dns, string host, List<IPAddress> addresses, CancellationToken ct)
    {
        if (addresses.Count == 0)
        {
            return Bad("reverse-dns", DoctorStatus.Error, $"{host} has no address", "publish its A/AAAA records first");
        }

        var wrong = new List<string>();
        foreach (var address in addresses)
        {
            var ptr = await dns.ResolvePtrAsync(address, ct).ConfigureAwait(false);
            if (!ptr.Records.Any(p => string.Equals(p, host, StringComparison.OrdinalIgnoreCase)))
            {
                wrong.Add($"{address} -> {(ptr.Records.Count == 0 ? "none" : string.Join(", ", ptr.Records))}");
            }
        }

        return wrong.Count == 0
            ? Ok("reverse-dns", string.Join(", ", addresses.Select(a => $"{a} -> {host}")))
            : Bad("reverse-dns", DoctorStatus.Error, string.Join("; ", wrong), $"large receivers refuse mail from an address whose PTR is not {host}: ask whoever gives you the address (hosting provider) to set it");
    }

    private sealed record Fetched(int Status, string Body, X509Certificate2? Certificate, string? ChainProblem, string? Error);

    /// <summary>GET https://name/path at the address DNS gives for name and the port the world reaches.</summary>
    private static async Task<Fetched> FetchAsync(DoctorOptions options, string name, string path, CancellationToken ct)
    {
        var addresses = (await AddressesAsync(options.Dns, name, AddressFamily.InterNetwork, ct).ConfigureAwait(false))
            .Concat(await AddressesAsync(options.Dns, name, AddressFamily.InterNetworkV6, ct).ConfigureAwait(false)).ToList();
        if (addresses.Count == 0)
        {
            return new Fetched(0, "", null, null, $"{name} does not resolve");
        }

        X509Certificate2? certificate = null;
        string? chainProblem = null;
        using var handler = new SocketsHttpHandler
        {
            ConnectTimeout = options.Timeout,
            ConnectCallback = async (context, token) =>
            {
                var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                try
                {
                    await socket.ConnectAsync(new IPEndPoint(addresses[0], options.HttpsPort), token).ConfigureAwait(false);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
            SslOptions = new SslClientAuthenticationOptions
            {
                RemoteCertificateValidationCallback = (_, cert, _, errors) =>
                {
                    if (cert is not null)
                    {
                        certificate = new X509Certificate2(cert);
                        chainProblem = ChainProblem(certificate, options);
                    }

                    return true; // judged below, so the doctor can report on an untrusted certificate too
                },
            },
        };
        using var client = new HttpClient(handler) { Timeout = options.Timeout };
        try
        {
            using var response = await client.GetAsync(new Uri($"https://{name}{path}"), ct).ConfigureAwait(false);
            string body = await response.Content.ReadAsStringAsync(ct).ConfigureAwait(false);
            return new Fetched((int)response.StatusCode, body, certificate, chainProblem, null);
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException)
        {
            return new Fetched(0, "", certificate, chainProblem, $"https://{name}{path} ({addresses[0]} port {options.HttpsPort}): {e.GetBaseException().Message}");
        }
    }

    private static string? ChainProblem(X509Certificate2 certificate, DoctorOptions options)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.VerificationTime = options.Time.GetUtcNow().UtcDateTime;
        if (options.TrustedRoots is { } roots)
        {
            chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            chain.ChainPolicy.CustomTrustStore.AddRange(roots);
        }

        return chain.Build(certificate)
            ? null
            : string.Join(", ", chain.ChainStatus.Select(s => s.Status.ToString()).Distinct(StringComparer.Ordinal));
    }

    private sealed record SmtpProbe(bool StartTls, X509Certificate2? Certificate, string? RelayReply, string? Error);

    /// <summary>
    /// Talks to the MX as another server would: greeting, EHLO, STARTTLS (for the certificate), then MAIL and RCPT to a
    /// domain that is not ours, which must be refused; QUIT before any DATA.
    /// </summary>
    private static async Task<SmtpProbe> ProbeSmtpAsync(DoctorOptions options, string host, List<IPAddress> addresses, string domain, CancellationToken ct)
    {
        if (addresses.Count == 0)
        {
            return new SmtpProbe(false, null, null, $"{host} does not resolve");
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(options.Timeout * 2);
        using var tcp = new TcpClient(addresses[0].AddressFamily);
        SslStream? tls = null;
        try
        {
            await tcp.ConnectAsync(addresses[0], options.SmtpPort, timeout.Token).ConfigureAwait(false);
            Stream stream = tcp.GetStream();
            var reader = new SmtpLines(stream);
            if (!(await reader.ReplyAsync(timeout.Token).ConfigureAwait(false)).StartsWith("220", StringComparison.Ordinal))
            {
                return new SmtpProbe(false, null, null, "no 220 greeting");
            }

            await reader.SendAsync("EHLO doctor.invalid", timeout.Token).ConfigureAwait(false);
            string ehlo = await reader.ReplyAsync(timeout.Token).ConfigureAwait(false);
            bool startTls = ehlo.Contains("STARTTLS", StringComparison.OrdinalIgnoreCase);
            X509Certificate2? certificate = null;
            if (startTls)
            {
                await reader.SendAsync("STARTTLS", timeout.Token).ConfigureAwait(false);
                if ((await reader.ReplyAsync(timeout.Token).ConfigureAwait(false)).StartsWith("220", StringComparison.Ordinal))
                {
                    tls = new SslStream(stream, leaveInnerStreamOpen: true, (_, cert, _, _) =>
                    {
                        certificate = cert is null ? null : new X509Certificate2(cert);
                        return true; // the certificate is judged by the certificate and TLSA checks
                    });
                    await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = host }, timeout.Token).ConfigureAwait(false);
                    reader = new SmtpLines(tls);
                    await reader.SendAsync("EHLO doctor.invalid", timeout.Token).ConfigureAwait(false);
                    await reader.ReplyAsync(timeout.Token).ConfigureAwait(false);
                }
            }

            await reader.SendAsync($"MAIL FROM:<postmaster@{domain}>", timeout.Token).ConfigureAwait(false);
            string mail = await reader.ReplyAsync(timeout.Token).ConfigureAwait(false);
            string relay = mail;
            if (mail.StartsWith('2'))
            {
                await reader.SendAsync("RCPT TO:<relay-test@doctor.invalid>", timeout.Token).ConfigureAwait(false);
                relay = await reader.ReplyAsync(timeout.Token).ConfigureAwait(false);
            }

            await reader.SendAsync("QUIT", timeout.Token).ConfigureAwait(false);
            return new SmtpProbe(startTls, certificate, relay.Split('\n')[^1].Trim(), null);
        }
        catch (Exception e) when (e is SocketException or IOException or OperationCanceledException or System.Security.Authentication.AuthenticationException)
        {
            return new SmtpProbe(false, null, null, $"{host} ({addresses[0]}) port {options.SmtpPort}: {(e is OperationCanceledException ? "no answer in time" : e.Message)}");
        }
        finally
        {
            if (tls is not null)
            {
                await tls.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    /// <summary>Reads SMTP replies (RFC 5321, 4.2: "250-..." continues, "250 ..." ends) and writes commands.</summary>
    private sealed class SmtpLines(Stream stream)
    {
        private readonly byte[] _buffer = new byte[4096];
        private readonly StringBuilder _pending = new();

        public async Task SendAsync(string command, CancellationToken ct)
        {
            await stream.WriteAsync(Encoding.ASCII.GetBytes(command + "\r\n"), ct).ConfigureAwait(false);
            await stream.FlushAsync(ct).ConfigureAwait(false);
        }

        public async Task<string> ReplyAsync(CancellationToken ct)
        {
            var reply = new StringBuilder();
            while (true)
            {
                string line = await LineAsync(ct).ConfigureAwait(false);
                reply.Append(line).Append('\n');
                if (line.Length < 4 || line[3] != '-')
                {
                    return reply.ToString().TrimEnd('\n');
                }

                if (reply.Length > 64 * 1024)
                {
                    throw new IOException("an SMTP reply longer than 64 KiB");
                }
            }
        }

        private async Task<string> LineAsync(CancellationToken ct)
        {
            while (true)
            {
                string text = _pending.ToString();
                int end = text.IndexOf('\n', StringComparison.Ordinal);
                if (end >= 0)
                {
                    _pending.Remove(0, end + 1);
                    return text[..end].TrimEnd('\r');
                }

                int read = await stream.ReadAsync(_buffer, ct).ConfigureAwait(false);
                if (read == 0)
                {
                    throw new IOException("the server closed the connection");
                }

                _pending.Append(Encoding.ASCII.GetString(_buffer, 0, read));
            }
        }
    }
}
