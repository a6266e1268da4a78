using System.Net;
using Letterlock.Dns;
using MimeKit;
using MimeKit.Cryptography;
using Org.BouncyCastle.Crypto;

namespace Letterlock.Provider.Mx;

/// <summary>The outcome of SPF, DKIM and DMARC for one message, as written into Authentication-Results.</summary>
public sealed record AuthenticationOutcome(SpfResult Spf, string SpfDomain, string Dkim, string? DkimDomain, string? DkimSelector, string Dmarc, string? FromDomain, string? DmarcPolicy)
{
    /// <summary>
    /// The header value (RFC 8601, 2.2): <c>authserv-id; spf=...; dkim=...; dmarc=...</c>. Property values
    /// are domains only; the local part of the sender is not repeated.
    /// </summary>
    public string ToHeaderValue(string authServId)
    {
        string spf = $"spf={Lower(Spf)} smtp.mailfrom={(SpfDomain.Length > 0 ? SpfDomain : "<>")}";
        string dkim = DkimDomain is null ? $"dkim={Dkim}" : $"dkim={Dkim} header.d={DkimDomain}" + (DkimSelector is null ? "" : $" header.s={DkimSelector}");
        string dmarc = FromDomain is null ? $"dmarc={Dmarc}" : $"dmarc={Dmarc}" + (DmarcPolicy is null ? "" : $" policy.dmarc={DmarcPolicy}") + $" header.from={FromDomain}";
        return $"{authServId}; {spf}; {dkim}; {dmarc}";
    }

    private static string Lower(SpfResult result) => result.ToString().ToLowerInvariant();
}

/// <summary>
/// Evaluates SPF (RFC 7208), DKIM (RFC 6376, through MimeKit's <see cref="DkimVerifier"/>) and DMARC
/// (RFC 7489) for an arriving message. The provider records the results; it does not reject on them.
/// </summary>
/// <remarks>
/// The organizational domain for DMARC comes from the Public Suffix List (<paramref name="suffixes"/>). Without
/// one it is approximated by the last two labels, which judges alignment under multi-label public suffixes
/// such as <c>co.uk</c> too leniently; the host warns at start-up when it has no list.
/// </remarks>
public sealed class MessageAuthenticator(IDnsResolver dns, PublicSuffixList? suffixes = null)
{
    private const int MaxDkimSignatures = 5;
    private readonly SpfEvaluator _spf = new(dns);
    private readonly DkimVerifier _dkim = new(new DnsKeyLocator(dns));

    public async Task<AuthenticationOutcome> EvaluateAsync(IPAddress client, string mailFrom, MimeMessage message, CancellationToken ct)
    {
        string spfDomain = mailFrom.Contains('@', StringComparison.Ordinal) ? mailFrom[(mailFrom.LastIndexOf('@') + 1)..].ToLowerInvariant() : "";
        var spf = spfDomain.Length == 0 ? SpfResult.None : await _spf.CheckHostAsync(client, spfDomain, mailFrom, ct).ConfigureAwait(false);

        string dkim = "none";
        string? dkimDomain = null;
        string? dkimSelector = null;
        var passedDkimDomains = new List<string>();
        int checkedSignatures = 0;
        foreach (var header in message.Headers.Where(h => h.Id == HeaderId.DkimSignature))
        {
            if (++checkedSignatures > MaxDkimSignatures)
            {
                break;
            }

            var tags = ParseTags(header.Value);
            tags.TryGetValue("d", out string? d);
            tags.TryGetValue("s", out string? s);
            bool valid;
            try
            {
                valid = await _dkim.VerifyAsync(message, header, ct).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                valid = false;
                if (e is DnsTemporaryFailure && dkim != "pass")
                {
                    dkim = "temperror";
                    dkimDomain = d;
                    dkimSelector = s;
                    continue;
                }
            }

            if (valid)
            {
                passedDkimDomains.Add(d!.ToLowerInvariant());
                if (dkim != "pass")
                {
                    dkim = "pass";
                    dkimDomain = d;
                    dkimSelector = s;
                }
            }
            else if (dkim == "none")
            {
                dkim = "fail";
                dkimDomain = d;
                dkimSelector = s;
            }
        }

        var (dmarc, fromDomain, policy) = await EvaluateDmarcAsync(message, spf, spfDomain, passedDkimDomains, ct).ConfigureAwait(false);
        return new AuthenticationOutcome(spf, spfDomain, dkim, dkimDomain, dkimSelector, dmarc, fromDomain, policy);
    }

    private async Task<(string Result, string? FromDomain, string? Policy)> EvaluateDmarcAsync(MimeMessage message, SpfResult spf, string spfDomain, List<string> dkimDomains, CancellationToken ct)
    {
        // RFC 7489, 6.6.1: exactly one author domain, else the message is not evaluated.
        var from = message.From.Mailboxes.ToList();
        if (from.Count != 1 || string.IsNullOrEmpty(from[0].Domain))
        {
            return ("permerror", null, null);
        }

        string fromDomain = from[0].Domain.ToLowerInvariant();
        var record = await FindDmarcRecordAsync(fromDomain, ct).ConfigureAwait(false);
        if (record.Temporary)
        {
            return ("temperror", fromDomain, null);
        }

        if (record.Tags is null)
        {
            return ("none", fromDomain, null);
        }

        bool strictSpf = record.Tags.TryGetValue("aspf", out string? aspf) && aspf == "s";
        bool strictDkim = record.Tags.TryGetValue("adkim", out string? adkim) && adkim == "s";
        bool spfAligned = spf == SpfResult.Pass && Aligned(spfDomain, fromDomain, strictSpf);
        bool dkimAligned = dkimDomains.Any(d => Aligned(d, fromDomain, strictDkim));
        record.Tags.TryGetValue("p", out string? policy);
        return (spfAligned || dkimAligned ? "pass" : "fail", fromDomain, policy);
    }

    private async Task<(bool Temporary, Dictionary<string, string>? Tags)> FindDmarcRecordAsync(string domain, CancellationToken ct)
    {
        foreach (string candidate in new[] { domain, OrganizationalDomain(domain) }.Distinct())
        {
            var answer = await dns.ResolveTxtAsync("_dmarc." + candidate, ct).ConfigureAwait(false);
            if (answer.Status == DnsStatus.TemporaryFailure)
            {
                return (true, null);
            }

            var records = answer.Records.Where(r => r.StartsWith("v=DMARC1", StringComparison.Ordinal)).ToList();
            if (records.Count == 1)
            {
                return (false, ParseTags(records[0]));
            }
        }

        return (false, null);
    }

    private bool Aligned(string domain, string fromDomain, bool strict) =>
        strict ? string.Equals(domain, fromDomain, StringComparison.OrdinalIgnoreCase)
               : string.Equals(OrganizationalDomain(domain), OrganizationalDomain(fromDomain), StringComparison.OrdinalIgnoreCase);

    internal string OrganizationalDomain(string domain)
    {
        if (suffixes is not null)
        {
            return suffixes.OrganizationalDomain(domain);
        }

        string[] labels = domain.ToLowerInvariant().TrimEnd('.').Split('.');
        return labels.Length <= 2 ? string.Join('.', labels) : string.Join('.', labels[^2..]);
    }

    /// <summary>tag-list = tag-spec *( ";" tag-spec ) [ ";" ]; tag-spec = [FWS] tag-name [FWS] "=" [FWS] tag-value [FWS] (RFC 6376, 3.2).</summary>
    internal static Dictionary<string, string> ParseTags(string value)
    {
        var tags = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (string part in value.Split(';'))
        {
            int eq = part.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0)
            {
                continue;
            }

            string name = part[..eq].Trim();
            string tagValue = string.Concat(part[(eq + 1)..].Where(c => !char.IsWhiteSpace(c)));
            tags.TryAdd(name, tagValue);
        }

        return tags;
    }

    private sealed class DnsTemporaryFailure() : Exception("DNS lookup failed temporarily");

    /// <summary>Finds DKIM keys at <c>selector._domainkey.domain</c> through <see cref="IDnsResolver"/>.</summary>
    private sealed class DnsKeyLocator(IDnsResolver dns) : DkimPublicKeyLocatorBase
    {
        public override AsymmetricKeyParameter LocatePublicKey(string methods, string domain, string selector, CancellationToken cancellationToken = default) =>
            LocatePublicKeyAsync(methods, domain, selector, cancellationToken).GetAwaiter().GetResult();

        public override async Task<AsymmetricKeyParameter> LocatePublicKeyAsync(string methods, string domain, string selector, CancellationToken cancellationToken = default)
        {
            var answer = await dns.ResolveTxtAsync($"{selector}._domainkey.{domain}", cancellationToken).ConfigureAwait(false);
            if (answer.Status == DnsStatus.TemporaryFailure)
            {
                throw new DnsTemporaryFailure();
            }

            string? record = answer.Records.FirstOrDefault(r => r.Contains("p=", StringComparison.Ordinal));
            return record is null ? throw new FormatException("no DKIM key record") : GetPublicKey(record);
        }
    }
}
