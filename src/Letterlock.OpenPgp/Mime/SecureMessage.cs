using Letterlock.OpenPgp.Autocrypt;
using MimeKit;

namespace Letterlock.OpenPgp.Mime;

/// <summary>Whether, and how much of, a message was encrypted.</summary>
public enum EncryptionStatus
{
    /// <summary>Not encrypted.</summary>
    None,
    /// <summary>The whole message content was encrypted and decrypted with integrity verified.</summary>
    Encrypted,
    /// <summary>Only a part of the message is encrypted (a nested part, or inline PGP with text around it): no security indicator.</summary>
    PartiallyEncrypted,
    /// <summary>Encrypted, but none of the supplied keys can decrypt it; <see cref="SecureMessage.Body"/> is the encrypted entity.</summary>
    NoDecryptionKey,
}

/// <summary>The signature state of a message as a whole.</summary>
public enum MessageSignatureStatus
{
    /// <summary>No signature.</summary>
    None,
    /// <summary>A signature verifies (see <see cref="SecuritySummary.CoversWholeMessage"/> and <see cref="SecuritySummary.SignerMatchesFrom"/>).</summary>
    Valid,
    /// <summary>A signature does not verify, or its key was not valid.</summary>
    Invalid,
    /// <summary>No known certificate holds the signing key.</summary>
    UnknownKey,
}

/// <summary>The security summary of a received message (what a client shows next to it).</summary>
/// <param name="Encryption">Encryption state.</param>
/// <param name="DecryptedWith">The (sub)key that decrypted it.</param>
/// <param name="Signature">Signature state of the most relevant signature.</param>
/// <param name="Signer">The signer's certificate fingerprint, when known.</param>
/// <param name="SignerKeyId">The signing key ID named by the signature (also for unknown keys).</param>
/// <param name="CoversWholeMessage">True if the signature covers the whole message (root part or the RFC 9788 payload).</param>
/// <param name="SignerMatchesFrom">True if the signer's certificate carries the (protected) From address.</param>
public sealed record SecuritySummary(
    EncryptionStatus Encryption,
    Fingerprint? DecryptedWith,
    MessageSignatureStatus Signature,
    Fingerprint? Signer,
    KeyId? SignerKeyId,
    bool CoversWholeMessage,
    bool SignerMatchesFrom)
{
    /// <summary>
    /// True only when the signature is valid, covers the whole message and its signer matches
    /// From: the one case a client may show as "signed by" (DESIGN.md invariant 4).
    /// </summary>
    public bool IsAuthenticated => Signature == MessageSignatureStatus.Valid && CoversWholeMessage && SignerMatchesFrom;

    /// <summary>True only when the whole message was encrypted.</summary>
    public bool IsEncrypted => Encryption == EncryptionStatus.Encrypted;
}

/// <summary>A header field whose protected value and outer value disagree in a way the sender did not record.</summary>
/// <param name="Name">The header field name.</param>
/// <param name="ProtectedValue">The value inside the cryptographic payload (which wins).</param>
/// <param name="OuterValue">The value in the outer header section.</param>
/// <param name="RecordedOuterValue">What the sender recorded with <c>HP-Outer</c>, if anything.</param>
public sealed record HeaderMismatch(string Name, string? ProtectedValue, string? OuterValue, string? RecordedOuterValue);

/// <summary>A received message after strict decryption and verification.</summary>
public sealed class SecureMessage
{
    internal SecureMessage(MimeMessage outer, MimeEntity body, HeaderList? protectedHeaders, IReadOnlyList<HeaderMismatch> mismatches,
        SecuritySummary security, IReadOnlyList<SignatureVerification> signatures, AutocryptHeader? autocrypt, IReadOnlyList<AutocryptHeader> gossip)
    {
        Outer = outer;
        Body = body;
        ProtectedHeaders = protectedHeaders;
        HeaderMismatches = mismatches;
        Security = security;
        Signatures = signatures;
        Autocrypt = autocrypt;
        Gossip = gossip;
    }

    /// <summary>The message as received.</summary>
    public MimeMessage Outer { get; }

    /// <summary>The content after removing encryption and signature layers.</summary>
    public MimeEntity Body { get; }

    /// <summary>The protected header fields (RFC 9788) when present, else null.</summary>
    public HeaderList? ProtectedHeaders { get; }

    /// <summary>Disagreements between protected and outer header fields.</summary>
    public IReadOnlyList<HeaderMismatch> HeaderMismatches { get; }

    /// <summary>The security summary.</summary>
    public SecuritySummary Security { get; }

    /// <summary>Every signature found, checked, in the order found (outermost first).</summary>
    public IReadOnlyList<SignatureVerification> Signatures { get; }

    /// <summary>The sender's valid Autocrypt header, or null (none, invalid, or more than one).</summary>
    public AutocryptHeader? Autocrypt { get; }

    /// <summary>Valid Autocrypt-Gossip headers from inside the encrypted payload (never from outside).</summary>
    public IReadOnlyList<AutocryptHeader> Gossip { get; }

    /// <summary>The effective value of a header field: protected value if protected headers exist, else outer.</summary>
    public string? Header(string name) => ProtectedHeaders is { } p ? p[name] : Outer.Headers[name];

    /// <summary>
    /// The message as a mail app should show it: effective headers (protected ones win) over the
    /// decrypted body. Signature and encryption layers are gone; show <see cref="Security"/> next to it.
    /// </summary>
    public MimeMessage ToDisplayMessage()
    {
        var display = new MimeMessage();
        display.Headers.Clear();
        var source = ProtectedHeaders ?? Outer.Headers;
        foreach (var header in source)
        {
            if (MimeIo.IsStructural(header) || header.Field.Equals("HP-Outer", StringComparison.OrdinalIgnoreCase)
                || header.Field.Equals(AutocryptHeader.GossipHeaderName, StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            display.Headers.Add(header.Field, header.Value);
        }

        var body = MimeIo.LoadEntity(MimeIo.Canonical(Body), OpenPgpOptions.Default);
        foreach (var header in body.Headers.Where(h => !MimeIo.IsStructural(h)).ToList())
        {
            body.Headers.Remove(header);
        }

        body.ContentType.Parameters.Remove("hp");
        display.Body = body;
        return display;
    }
}
