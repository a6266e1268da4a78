using Letterlock.Client.Store;
using Letterlock.Client.Validation;
using MimeKit;

namespace Letterlock.Client.Mail;

/// <summary>
/// The security summary a mail app shows, as header fields the bridge adds to every message:
/// <c>Letterlock-Encryption: end-to-end; forward-secret; post-quantum | end-to-end | none</c> (the first for the native protocol) and
/// <c>Letterlock-Signature: valid; key=FINGERPRINT; trust=LEVEL | invalid | unknown-key | none</c>.
/// Fields of these names that arrive with a message are removed first, so a sender cannot forge them.
/// </summary>
public static class SecurityHeaders
{
    /// <summary>The encryption header.</summary>
    public const string Encryption = "Letterlock-Encryption";

    /// <summary>The signature header.</summary>
    public const string Signature = "Letterlock-Signature";

    /// <summary>Removes any forged security headers and writes the true ones.</summary>
    public static void Apply(MimeMessage message, MessageSecurity security)
    {
        ArgumentNullException.ThrowIfNull(message);
        ArgumentNullException.ThrowIfNull(security);
        Strip(message);
        message.Headers.Add(Encryption, security.Encryption != EncryptionState.EndToEnd ? "none"
            : security.Native ? "end-to-end; forward-secret; post-quantum" : "end-to-end");
        message.Headers.Add(Signature, security.Signature switch
        {
            SignatureState.Valid => $"valid; key={security.SignerFingerprint}; trust={(security.SignerTrust ?? KeyValidationLevel.None).ToString().ToLowerInvariant()}",
            SignatureState.Invalid => "invalid" + (security.SignerFingerprint is { } fp ? $"; key={fp}" : ""),
            SignatureState.UnknownKey => "unknown-key",
            _ => "none",
        });
    }

    /// <summary>Removes every header whose name starts with <c>Letterlock-</c>.</summary>
    public static void Strip(MimeMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        foreach (var header in message.Headers.Where(h => h.Field.StartsWith("Letterlock-", StringComparison.OrdinalIgnoreCase)).ToList())
        {
            message.Headers.Remove(header);
        }
    }
}
