using Letterlock.Client.Store;
using Letterlock.Client.Validation;

namespace Letterlock.Web.Mail;

/// <summary>How a banner line reads at a glance.</summary>
internal enum BannerTone
{
    /// <summary>Protected as Letterlock promises.</summary>
    Good,

    /// <summary>Not protected, and nothing is wrong: most mail from outside.</summary>
    Neutral,

    /// <summary>Something is wrong: a changed key, a signature that does not verify, content that could not be decrypted.</summary>
    Bad,
}

/// <summary>
/// The security banner of a message, worded once here from what the client recorded when the message arrived (its
/// <see cref="MessageSecurity"/>) and what it knows of the signer now. It is drawn by the app's page above and outside
/// the message's frame; nothing in the message takes part in it.
/// </summary>
internal sealed record SecurityBanner(
    BannerTone Tone,
    string Encryption,
    BannerTone EncryptionTone,
    string EncryptionText,
    string Signature,
    BannerTone SignatureTone,
    string SignatureText,
    string? Signer,
    string? SignerFingerprint,
    string? TrustAtReceipt,
    string? TrustNow)
{
    /// <summary>Words the banner.</summary>
    /// <param name="security">What was recorded at arrival (or when this device sent it).</param>
    /// <param name="sentHere">The message was written on this device (the Sent copy, a draft).</param>
    /// <param name="stillEncrypted">The stored body is still an encrypted structure: decryption failed at arrival.</param>
    /// <param name="signer">The From address the signature is for.</param>
    /// <param name="trustNow">The signer's key level now, from the contact store (null when unknown).</param>
    public static SecurityBanner For(MessageSecurity security, bool sentHere, bool stillEncrypted, string? signer, KeyValidationLevel? trustNow)
    {
        ArgumentNullException.ThrowIfNull(security);
        (string encryption, BannerTone encryptionTone, string encryptionText) = (security.Encryption, sentHere, stillEncrypted) switch
        {
            (EncryptionState.EndToEnd, true, _) => ("end-to-end", BannerTone.Good, "Sent end-to-end encrypted: only the recipients' devices can read it."),
            (EncryptionState.EndToEnd, false, _) => ("end-to-end", BannerTone.Good, "End-to-end encrypted: only your devices could read it on its way."),
            (_, _, true) => ("failed", BannerTone.Bad, "Could not be decrypted: its integrity check failed or it is not for your key. Nothing of its content is shown."),
            (_, true, _) => ("none", BannerTone.Neutral, "Sent without end-to-end encryption: the providers on its way could read it."),
            _ => ("provider", BannerTone.Neutral, "Not end-to-end encrypted: encrypted by your provider on arrival, so it (and anyone on the way) could read it before."),
        };

        string level(KeyValidationLevel? l) => (l ?? KeyValidationLevel.None).ToString().ToLowerInvariant();
        string shortFp = security.SignerFingerprint is { Length: >= 16 } fp ? KeyFingerprint.TryParse(fp, out var parsed) ? parsed.ToDisplayString() : fp : security.SignerFingerprint ?? "";
        var now = trustNow ?? security.SignerTrust;
        (string signature, BannerTone signatureTone, string signatureText) = security.Signature switch
        {
            SignatureState.Valid when now == KeyValidationLevel.Changed =>
                ("valid", BannerTone.Bad, $"Signed by {signer}, but that contact's key has CHANGED since: check it before trusting this message."),
            SignatureState.Valid when now is KeyValidationLevel.Verified =>
                ("valid", BannerTone.Good, $"Signed by {signer} with a key you verified."),
            SignatureState.Valid when now is KeyValidationLevel.Transparent =>
                ("valid", BannerTone.Good, $"Signed by {signer} with the key their provider publishes in its transparency log."),
            SignatureState.Valid =>
                ("valid", BannerTone.Good, $"Signed by {signer} with the key first seen for them (not verified yet)."),
            SignatureState.Invalid => ("invalid", BannerTone.Bad, "The signature does NOT verify: the message may have been changed, or was not signed by its sender."),
            SignatureState.UnknownKey => ("unknown-key", BannerTone.Neutral, "Signed with a key this client does not know: the sender is not confirmed."),
            _ => ("none", BannerTone.Neutral, "Not signed: the sender is not confirmed."),
        };

        var tone = encryptionTone == BannerTone.Bad || signatureTone == BannerTone.Bad ? BannerTone.Bad
            : encryptionTone == BannerTone.Good && signatureTone == BannerTone.Good ? BannerTone.Good
            : BannerTone.Neutral;
        bool signed = security.Signature is SignatureState.Valid or SignatureState.Invalid;
        return new SecurityBanner(tone, encryption, encryptionTone, encryptionText, signature, signatureTone, signatureText,
            signed ? signer : null, signed ? shortFp : null, signed ? level(security.SignerTrust) : null, signed && trustNow is not null ? level(trustNow) : null);
    }
}
