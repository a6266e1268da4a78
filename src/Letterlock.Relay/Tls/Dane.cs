using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Letterlock.Dns;

namespace Letterlock.Relay.Tls;

/// <summary>
/// DANE authentication for SMTP (RFC 7672) against TLSA records (RFC 6698). Only DANE-TA(2) and DANE-EE(3)
/// apply to SMTP; PKIX-TA(0) and PKIX-EE(1) records are "unusable" (RFC 7672, 3.1.3), as are unknown
/// selectors and matching types and digests of the wrong length.
/// </summary>
public static class Dane
{
    /// <summary>Certificate usage DANE-TA: the record names a trust anchor in the server's chain.</summary>
    public const byte DaneTa = 2;

    /// <summary>Certificate usage DANE-EE: the record names the server's own certificate or key.</summary>
    public const byte DaneEe = 3;

    /// <summary>Whether RFC 7672 lets an SMTP client use <paramref name="record"/>.</summary>
    /// <param name="record">A TLSA record.</param>
    public static bool IsUsable(TlsaRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        if (record.CertificateUsage is not (DaneTa or DaneEe) || record.Selector > 1)
        {
            return false;
        }

        return record.MatchingType switch
        {
            0 => record.AssociationData.Length > 0,
            1 => record.AssociationData.Length == SHA256.HashSizeInBytes,
            2 => record.AssociationData.Length == SHA512.HashSizeInBytes,
            _ => false,
        };
    }

    /// <summary>
    /// Authenticates a server chain against the usable TLSA records.
    /// DANE-EE(3): the leaf matches; no name or expiry checks (RFC 7672, 3.1.1).
    /// DANE-TA(2): a certificate the server sent matches, the leaf chains to it, is valid now and carries one of
    /// <paramref name="referenceNames"/> (RFC 7672, 3.1.2 and 3.2.2). A trust anchor given only as a public key
    /// that the server does not send is not supported (the chain cannot be built); such a server fails.
    /// </summary>
    /// <param name="records">The usable TLSA records (see <see cref="IsUsable"/>).</param>
    /// <param name="leaf">The server certificate.</param>
    /// <param name="presented">The other certificates the server sent.</param>
    /// <param name="referenceNames">The names a DANE-TA-validated certificate must carry: the MX host and the destination domain.</param>
    /// <param name="now">The validation time.</param>
    /// <returns>Null when authenticated, else the TLS-RPT result type.</returns>
    public static string? Authenticate(IReadOnlyList<TlsaRecord> records, X509Certificate2 leaf, IReadOnlyList<X509Certificate2> presented, IReadOnlyList<string> referenceNames, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(records);
        ArgumentNullException.ThrowIfNull(leaf);
        ArgumentNullException.ThrowIfNull(presented);
        ArgumentNullException.ThrowIfNull(referenceNames);
        foreach (var record in records.Where(r => r.CertificateUsage == DaneEe))
        {
            if (Matches(record, leaf))
            {
                return null;
            }
        }

        string failure = TlsResultTypes.TlsaInvalid;
        foreach (var record in records.Where(r => r.CertificateUsage == DaneTa))
        {
            foreach (var anchor in presented.Where(c => Matches(record, c)))
            {
                using var chain = new X509Chain();
                chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
                chain.ChainPolicy.CustomTrustStore.Add(anchor);
                chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
                chain.ChainPolicy.VerificationTime = now.UtcDateTime;
                foreach (var certificate in presented)
                {
                    chain.ChainPolicy.ExtraStore.Add(certificate);
                }

                if (!chain.Build(leaf))
                {
                    failure = TlsResultTypes.ValidationFailure;
                    continue;
                }

                if (referenceNames.Any(name => leaf.MatchesHostname(name, allowWildcards: true, allowCommonName: false)))
                {
                    return null;
                }

                failure = TlsResultTypes.CertificateHostMismatch;
            }
        }

        return failure;
    }

    /// <summary>Whether <paramref name="certificate"/> matches <paramref name="record"/>'s selector, matching type and data.</summary>
    /// <param name="record">The TLSA record.</param>
    /// <param name="certificate">A certificate.</param>
    public static bool Matches(TlsaRecord record, X509Certificate2 certificate)
    {
        ArgumentNullException.ThrowIfNull(record);
        ArgumentNullException.ThrowIfNull(certificate);
        byte[] selected = record.Selector == 0 ? certificate.RawData : certificate.PublicKey.ExportSubjectPublicKeyInfo();
        byte[] data = record.MatchingType switch
        {
            0 => selected,
            1 => SHA256.HashData(selected),
            2 => SHA512.HashData(selected),
            _ => [],
        };
        return data.Length > 0 && CryptographicOperations.FixedTimeEquals(data, record.AssociationData);
    }

    /// <summary>A TLSA record for <paramref name="certificate"/> (for tests, the sandbox and <c>provider init</c>).</summary>
    /// <param name="usage">2 (DANE-TA) or 3 (DANE-EE).</param>
    /// <param name="selector">0 (full certificate) or 1 (SubjectPublicKeyInfo).</param>
    /// <param name="matchingType">0 (exact), 1 (SHA-256) or 2 (SHA-512).</param>
    /// <param name="certificate">The certificate to describe.</param>
    public static TlsaRecord RecordFor(byte usage, byte selector, byte matchingType, X509Certificate2 certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        byte[] selected = selector == 0 ? certificate.RawData : certificate.PublicKey.ExportSubjectPublicKeyInfo();
        byte[] data = matchingType switch
        {
            0 => selected,
            1 => SHA256.HashData(selected),
            2 => SHA512.HashData(selected),
            _ => throw new ArgumentOutOfRangeException(nameof(matchingType)),
        };
        return new TlsaRecord(usage, selector, matchingType, data);
    }
}
