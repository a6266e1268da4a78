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
}
