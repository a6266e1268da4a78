using System.Security.Cryptography.X509Certificates;

namespace Letterlock.Relay.Tls;

/// <summary>
/// Which certificate authorities the relay trusts for PKIX validation (MTA-STS policy hosts and MX hosts
/// under an <c>enforce</c> policy). Production uses the system's roots; the sandbox and tests use their own
/// CA through <see cref="CustomRoots"/>, which then replaces the system roots entirely.
/// </summary>
public sealed class TlsTrust
{
    /// <summary>The system's trusted roots.</summary>
    public static TlsTrust System { get; } = new(null);

    private TlsTrust(X509Certificate2Collection? customRoots) => CustomRoots = customRoots;

    /// <summary>The only roots trusted, or null for the system's.</summary>
    public X509Certificate2Collection? CustomRoots { get; }

    /// <summary>Trusts exactly <paramref name="roots"/> (a private CA), not the system's roots.</summary>
    /// <param name="roots">One or more root certificates.</param>
    public static TlsTrust WithRoots(params X509Certificate2[] roots)
    {
        ArgumentNullException.ThrowIfNull(roots);
        if (roots.Length == 0)
        {
            throw new ArgumentException("At least one root is required.", nameof(roots));
        }

        return new TlsTrust([.. roots]);
    }

    /// <summary>
    /// Checks that <paramref name="leaf"/> chains to a trusted root through the certificates the peer sent,
    /// is within its validity period and names <paramref name="hostName"/> (RFC 6125 matching, one-label
    /// wildcards). Revocation is not checked: an MTA cannot fetch CRLs or OCSP for every peer and RFC 8461
    /// does not ask for it.
    /// </summary>
    /// <param name="leaf">The server certificate.</param>
    /// <param name="presented">The other certificates the server sent.</param>
    /// <param name="hostName">The name the certificate must carry.</param>
    /// <param name="now">The validation time.</param>
    /// <returns>Null when valid, else the TLS-RPT result type of the failure.</returns>
    public string? Validate(X509Certificate2 leaf, IEnumerable<X509Certificate2> presented, string hostName, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(leaf);
        using var chain = new X509Chain();
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.VerificationTime = now.UtcDateTime;
        chain.ChainPolicy.VerificationTimeIgnored = false;
        chain.ChainPolicy.ApplicationPolicy.Add(new global::System.Security.Cryptography.Oid("1.3.6.1.5.5.7.3.1"));
        foreach (var certificate in presented)
        {
            chain.ChainPolicy.ExtraStore.Add(certificate);
        }

        if (CustomRoots is not null)
        {
            chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            chain.ChainPolicy.CustomTrustStore.AddRange(CustomRoots);
        }

        bool built = chain.Build(leaf);
        if (!built)
        {
            var flags = chain.ChainStatus.Aggregate(X509ChainStatusFlags.NoError, (f, s) => f | s.Status);
            return (flags & (X509ChainStatusFlags.NotTimeValid | X509ChainStatusFlags.NotTimeNested)) != 0 &&
                   (flags & ~(X509ChainStatusFlags.NotTimeValid | X509ChainStatusFlags.NotTimeNested)) == 0
                ? TlsResultTypes.CertificateExpired
                : TlsResultTypes.CertificateNotTrusted;
        }

        return leaf.MatchesHostname(hostName, allowWildcards: true, allowCommonName: false) ? null : TlsResultTypes.CertificateHostMismatch;
    }
}

/// <summary>The result types of RFC 8460 (SMTP TLS Reporting, 4.3), used for logs and reports.</summary>
public static class TlsResultTypes
{
    /// <summary>The server did not offer STARTTLS.</summary>
    public const string StartTlsNotSupported = "starttls-not-supported";

    /// <summary>The certificate does not name the host.</summary>
    public const string CertificateHostMismatch = "certificate-host-mismatch";

    /// <summary>The certificate has expired.</summary>
    public const string CertificateExpired = "certificate-expired";

    /// <summary>The certificate does not chain to a trusted root.</summary>
    public const string CertificateNotTrusted = "certificate-not-trusted";

    /// <summary>Any other failure to establish or validate TLS.</summary>
    public const string ValidationFailure = "validation-failure";

    /// <summary>No TLSA record matched the certificate chain.</summary>
    public const string TlsaInvalid = "tlsa-invalid";

    /// <summary>DNSSEC validation failed or the TLSA lookup failed on a signed zone.</summary>
    public const string DnssecInvalid = "dnssec-invalid";

    /// <summary>DANE applies but TLS could not be used.</summary>
    public const string DaneRequired = "dane-required";

    /// <summary>The MTA-STS policy could not be fetched.</summary>
    public const string StsPolicyFetchError = "sts-policy-fetch-error";

    /// <summary>The MTA-STS policy was malformed.</summary>
    public const string StsPolicyInvalid = "sts-policy-invalid";

    /// <summary>The MTA-STS policy host's certificate was not valid.</summary>
    public const string StsWebPkiInvalid = "sts-webpki-invalid";
}
