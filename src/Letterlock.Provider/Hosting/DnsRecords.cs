using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Letterlock.Provider.Configuration;

namespace Letterlock.Provider.Hosting;

/// <summary>One DNS record a provider needs, as <c>provider init</c> prints it and <c>provider doctor</c> checks it.</summary>
/// <param name="Check">A short name for the check (<c>dkim-rsa</c>, <c>tlsa</c>).</param>
/// <param name="Name">The owner name, without the trailing dot.</param>
/// <param name="Type">A, AAAA, MX, TXT, CNAME, TLSA or SRV.</param>
/// <param name="Value">The value to publish; for addresses, a description in angle brackets.</param>
/// <param name="Purpose">Why the record exists, printed beside it.</param>
public sealed record ExpectedRecord(string Check, string Name, string Type, string Value, string Purpose);

/// <summary>The DNS records of a provider, derived from its settings, keys and certificate only (no I/O beyond reading them).</summary>
public static class DnsRecords
{
    /// <summary>The records to publish, in the order <c>init</c> prints them.</summary>
    public static IReadOnlyList<ExpectedRecord> Expected(ProviderSettings settings, X509Certificate2 certificate)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(certificate);
        string domain = settings.Domain;
        string host = settings.HostName;
        var dkim = Outbound.OutboundKeys.LoadDkimKeys(settings);
        var records = new List<ExpectedRecord>
        {
            new("domain-a", domain, "A", "<the public IPv4 address of this server>", "clients and WKD reach https://" + domain + "/"),
            new("domain-aaaa", domain, "AAAA", "<the public IPv6 address of this server>", "the same over IPv6 (leave out without IPv6)"),
            new("mx", domain, "MX", $"10 {host}.", "mail for the domain goes to this server"),
            new("mx-a", host, "A", "<the public IPv4 address of this server>", "the MX host's address"),
            new("mx-aaaa", host, "AAAA", "<the public IPv6 address of this server>", "the same over IPv6 (leave out without IPv6)"),
            new("spf", domain, "TXT", "v=spf1 mx -all", "SPF: only the MX sends for the domain"),
        };
        foreach (var key in dkim)
        {
            records.Add(new(key.Type == Letterlock.Relay.Dkim.DkimKeyType.Rsa ? "dkim-rsa" : "dkim-ed25519", key.DnsName(domain), "TXT", key.TxtRecord,
                $"DKIM {(key.Type == Letterlock.Relay.Dkim.DkimKeyType.Rsa ? "rsa-sha256" : "ed25519-sha256")} key"));
        }

        records.Add(new("dmarc", "_dmarc." + domain, "TXT", "v=DMARC1; p=quarantine; adkim=s; aspf=s", "DMARC: unauthenticated mail claiming the domain is quarantined"));
        records.Add(new("mta-sts-txt", "_mta-sts." + domain, "TXT", $"v=STSv1; id={MtaStsPolicyId(settings)}", $"MTA-STS (mtaSts.mode is \"{settings.MtaSts.Mode}\"; the id changes with the policy)"));
        records.Add(new("mta-sts-host", "mta-sts." + domain, "CNAME", host + ".", "serves the MTA-STS policy (the certificate must name it)"));
        records.Add(new("tls-rpt", "_smtp._tls." + domain, "TXT", $"v=TLSRPTv1; rua=mailto:postmaster@{domain}", "TLS-RPT: where senders report TLS failures"));
        records.Add(new("tlsa", $"_25._tcp.{host}", "TLSA", $"3 1 1 {TlsaSha256(certificate)}", "DANE: the certificate's key (needs DNSSEC; publish it again before the key changes)"));
        records.Add(new("srv-submission", "_submission._tcp." + domain, "SRV", $"0 1 {PublicPort(settings.Submission.Listen, 587)} {host}.", "mail apps find submission with STARTTLS (RFC 6186)"));
        records.Add(new("srv-submissions", "_submissions._tcp." + domain, "SRV", $"0 1 {PublicPort(settings.Submission.ListenTls, 465)} {host}.", "mail apps find submission with implicit TLS (RFC 8314)"));
        records.Add(new("autoconfig", "autoconfig." + domain, "CNAME", host + ".", "mail apps' setup wizards (Mozilla autoconfig)"));
        records.Add(new("wkd", "openpgpkey." + domain, "CNAME", host + ".", "Web Key Directory, advanced method"));
        return records;
    }

    /// <summary>The records as zone-file lines (<c>name.\tTYPE\tvalue</c>), each after a comment with its purpose, then notes.</summary>
    public static string Format(IReadOnlyList<ExpectedRecord> records, IReadOnlyList<string>? notes = null)
    {
        ArgumentNullException.ThrowIfNull(records);
        var text = new StringBuilder();
        foreach (var r in records)
        {
            string value = r.Type == "TXT" ? $"\"{r.Value}\"" : r.Value;
            text.Append(CultureInfo.InvariantCulture, $"; {r.Purpose}\n{r.Name}.\t{r.Type}\t{value}\n");
        }

        foreach (string note in notes ?? [])
        {
            text.Append(CultureInfo.InvariantCulture, $"; {note}\n");
        }

        return text.ToString();
    }

    /// <summary>The policy served at <c>https://mta-sts.DOMAIN/.well-known/mta-sts.txt</c> (RFC 8461, 3.2).</summary>
    public static string MtaStsPolicy(ProviderSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        return string.Create(CultureInfo.InvariantCulture, $"version: STSv1\r\nmode: {settings.MtaSts.Mode}\r\nmx: {settings.HostName}\r\nmax_age: {settings.MtaSts.MaxAgeSeconds}\r\n");
    }

    /// <summary>
    /// The policy id: derived from the policy text, so it changes exactly when the policy does (RFC 8461, 3.1: senders
    /// fetch the policy again when the id changes) and <c>doctor</c> can compare it.
    /// </summary>
    public static string MtaStsPolicyId(ProviderSettings settings) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.ASCII.GetBytes(MtaStsPolicy(settings))))[..20];

    /// <summary>The association data of a <c>3 1 1</c> TLSA record: SHA-256 of the SubjectPublicKeyInfo (RFC 7671, 5.1).</summary>
    public static string TlsaSha256(X509Certificate2 certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        return Convert.ToHexStringLower(SHA256.HashData(certificate.PublicKey.ExportSubjectPublicKeyInfo()));
    }

    private static int PublicPort(string listen, int standard) =>
        listen.Length > 0 && IPEndPoint.TryParse(listen, out var endPoint) && endPoint.Port != 0 ? endPoint.Port : standard;
}
