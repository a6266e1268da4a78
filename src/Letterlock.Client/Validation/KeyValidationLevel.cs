using System.Text.Json.Serialization;

namespace Letterlock.Client.Validation;

/// <summary>
/// How far a contact's key is trusted (DESIGN.md section 4). Shown for every contact key and
/// every message; only <see cref="Tofu"/>, <see cref="Transparent"/> and <see cref="Verified"/>
/// allow automatic encryption.
/// </summary>
[JsonConverter(typeof(JsonStringEnumConverter<KeyValidationLevel>))]
public enum KeyValidationLevel
{
    /// <summary>No key is known for the address.</summary>
    None,

    /// <summary>
    /// A key differing from the pinned one arrived without transparency evidence: warn, and do
    /// not encrypt to either key automatically until the user decides.
    /// </summary>
    Changed,

    /// <summary>Trust on first use: the key seen first, unchanged since.</summary>
    Tofu,

    /// <summary>A proof-checked key-directory entry whose history this client has seen.</summary>
    Transparent,

    /// <summary>The user confirmed the fingerprint (QR code or comparing it aloud).</summary>
    Verified,
}

/// <summary>Where a contact key came from.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<KeyOrigin>))]
public enum KeyOrigin
{
    /// <summary>The recipient provider's key directory API.</summary>
    ProviderDirectory,

    /// <summary>Web Key Directory (draft-koch-openpgp-webkey-service), advanced or direct.</summary>
    Wkd,

    /// <summary>An <c>Autocrypt:</c> header of mail received from the address.</summary>
    Autocrypt,

    /// <summary>An <c>Autocrypt-Gossip:</c> header inside an encrypted message.</summary>
    AutocryptGossip,

    /// <summary>An HKP keyserver.</summary>
    Hkp,

    /// <summary>Imported by the user.</summary>
    UserImport,
}

/// <summary>Why a contact's key state changed; every change is recorded.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<KeyTransitionReason>))]
public enum KeyTransitionReason
{
    /// <summary>The first key seen for the address was pinned.</summary>
    FirstSeen,

    /// <summary>The pinned key was confirmed by a checked transparency proof.</summary>
    TransparencyConfirmed,

    /// <summary>A different key replaced the pinned one, backed by a checked transparency proof; the user is told.</summary>
    TransparencyBackedChange,

    /// <summary>A different key arrived without transparency evidence; automatic encryption stops.</summary>
    KeyChanged,

    /// <summary>Yet another key arrived while a change was pending.</summary>
    ChangedAgain,

    /// <summary>A transparency proof came with the key but failed to verify; the key was judged without it.</summary>
    TransparencyProofFailed,

    /// <summary>The user accepted a key (the new one, or the old one again).</summary>
    UserAccepted,

    /// <summary>The user confirmed the fingerprint.</summary>
    UserVerified,

    /// <summary>
    /// The contact moved to a new key endorsed by the pinned one (mail signed by the pinned key carrying the new key, or
    /// the new certificate certified by the pinned key): a rotation, pinned at the old level without a "changed" block.
    /// </summary>
    Rotated,

    /// <summary>
    /// A different key was seen only in unauthenticated mail (neither DMARC-aligned pass nor signed by that key) and was
    /// ignored: recorded as a suspicious attempt; the pin and sending to it are unchanged.
    /// </summary>
    UnauthenticatedKeyIgnored,

    /// <summary>A key whose user IDs do not name the address was offered for it and ignored (recorded as suspicious).</summary>
    KeyNotForAddress,

    /// <summary>
    /// A transparent (key-transparency backed) pin saw a different key outside the directory (WKD, a keyserver, mail): it
    /// changes only through a verified directory proof, so the key was recorded and not used.
    /// </summary>
    IgnoredWithoutTransparency,

    /// <summary>
    /// The contact's provider served a key that its transparency log does not show (announced as pending, or with a proof
    /// of another key): never encrypted to automatically until it is published or the user decides.
    /// </summary>
    UnpublishedKey,
}

/// <summary>
/// How the sighting of a key was authenticated (DESIGN.md invariant 5: a key seen only in unauthenticated mail never
/// moves a pinned or transparent contact).
/// </summary>
[JsonConverter(typeof(JsonStringEnumConverter<KeyAuthentication>))]
public enum KeyAuthentication
{
    /// <summary>
    /// Seen in mail that is neither DMARC-aligned pass at the recipient's provider nor signed by that key, or in
    /// Autocrypt gossip (which speaks for a third party): may be pinned on first contact, never changes a pin.
    /// </summary>
    Unauthenticated,

    /// <summary>Fetched from a key source over an authenticated channel (the provider directory, WKD, a keyserver over
    /// HTTPS) or imported by the user.</summary>
    Channel,

    /// <summary>In mail whose From domain passed DMARC with alignment, as the recipient's provider recorded it.</summary>
    DmarcAligned,

    /// <summary>In mail validly signed over its whole content by the key itself (and not failing DMARC).</summary>
    SignedBySelf,

    /// <summary>Endorsed by the pinned key: in the signed part of mail validly signed by the pinned key, or certified by it.</summary>
    SignedByPinned,

    /// <summary>
    /// In mail whose From domain failed DMARC at the recipient's provider (the domain itself says the mail is not from
    /// it): never pinned, not even on first contact; recorded as a suspicious attempt.
    /// </summary>
    Forged,
}
