using System.Security.Cryptography;
using System.Text;
using Letterlock.Api;
using Letterlock.Cryptography;
using Letterlock.Provider.Configuration;
using Letterlock.Provider.Storage;

namespace Letterlock.Provider.Accounts;

/// <summary>Why an account operation was refused.</summary>
public enum AccountError
{
    None,
    InvalidAddress,
    WrongDomain,
    InvalidKey,
    InvalidCertificate,
    BadProof,
    InviteRequired,
    InviteInvalid,
    AddressTaken,
    NotFound,
}

/// <summary>
/// Every change to an account's published keys goes through this class: account creation, key
/// updates, device registration and revocation. It is the single place where a key-transparency log
/// append belongs (see <see cref="RecordKeyChangeAsync"/>), so no key can change without it.
/// </summary>
public sealed partial class AccountService(IProviderStore store, ProviderSettings settings, TimeProvider time, Transparency.IKeyChangeRecorder? keyChanges = null)
{
    public const int MaxDeviceNameLength = 100;
    public const int MaxCertificateLength = 64 * 1024;

    public async Task<(AccountError Error, CreateAccountResponse? Created)> CreateAccountAsync(CreateAccountRequest request, CancellationToken ct)
    {
        if (!TryParseAddress(request.Address, out string localPart, out string domain))
        {
            return (AccountError.InvalidAddress, null);
        }

        if (!string.Equals(domain, settings.Domain, StringComparison.OrdinalIgnoreCase))
        {
            return (AccountError.WrongDomain, null);
        }

        if (request.DevicePublicKey is not { Length: DeviceAuthentication.PublicKeyLength } || !IsUsableInboxKey(request.InboxPublicKey))
        {
            return (AccountError.InvalidKey, null);
        }

        string address = $"{localPart}@{settings.Domain}";
        if (!IsCertificateFor(request.OpenPgpCertificate, address))
        {
            return (AccountError.InvalidCertificate, null);
        }

        if (string.IsNullOrWhiteSpace(request.DeviceName) || request.DeviceName.Length > MaxDeviceNameLength || request.DeviceName.Any(char.IsControl))
        {
            return (AccountError.InvalidAddress, null);
        }

        byte[] message = DeviceAuthentication.RegistrationMessage(settings.Domain, address, request.DevicePublicKey, request.OpenPgpCertificate, request.InboxPublicKey);
        if (request.Proof is null || !DeviceAuthentication.Verify(request.DevicePublicKey, message, request.Proof))
        {
            return (AccountError.BadProof, null);
        }

        byte[]? inviteHash = null;
        if (settings.Accounts.SignUp == "invite")
        {
            if (string.IsNullOrEmpty(request.InviteToken))
            {
                return (AccountError.InviteRequired, null);
            }

            inviteHash = HashSecret(request.InviteToken);
        }

        var now = time.GetUtcNow();
        var account = new NewAccount(Guid.NewGuid(), localPart, WkdHash(localPart), settings.Accounts.DefaultQuotaBytes, request.OpenPgpCertificate, request.InboxPublicKey, now);
        var device = new NewDevice(Guid.NewGuid(), account.Id, request.DevicePublicKey, request.DeviceName, now);
        await AnnounceKeyChangeAsync(account.Id, ct).ConfigureAwait(false);
        var outcome = await store.CreateAccountAsync(account, device, inviteHash, ct).ConfigureAwait(false);
        switch (outcome)
        {
            case CreateAccountOutcome.AddressTaken:
                return (AccountError.AddressTaken, null);
            case CreateAccountOutcome.InviteInvalid:
                return (AccountError.InviteInvalid, null);
        }

        await RecordKeyChangeAsync(account.Id, "account-created", ct).ConfigureAwait(false);
        return (AccountError.None, new CreateAccountResponse(account.Id, device.Id, address));
    }

    public async Task<AccountError> UpdateKeysAsync(Guid accountId, UpdateKeysRequest request, CancellationToken ct)
    {
        if (!IsUsableInboxKey(request.InboxPublicKey))
        {
            return AccountError.InvalidKey;
        }

        var account = await store.GetAccountAsync(accountId, ct).ConfigureAwait(false);
        if (account is null)
        {
            return AccountError.NotFound;
        }

        if (!IsCertificateFor(request.OpenPgpCertificate, $"{account.LocalPart}@{settings.Domain}"))
        {
            return AccountError.InvalidCertificate;
        }

        await AnnounceKeyChangeAsync(accountId, ct).ConfigureAwait(false);
        if (!await store.UpdateKeysAsync(accountId, request.OpenPgpCertificate, request.InboxPublicKey, time.GetUtcNow(), ct).ConfigureAwait(false))
        {
            return AccountError.NotFound;
        }

        await RecordKeyChangeAsync(accountId, "keys-updated", ct).ConfigureAwait(false);
        return AccountError.None;
    }

    public async Task<(AccountError Error, DeviceInfo? Device)> AddDeviceAsync(Guid accountId, AddDeviceRequest request, CancellationToken ct)
    {
        if (request.PublicKey is not { Length: DeviceAuthentication.PublicKeyLength })
        {
            return (AccountError.InvalidKey, null);
        }

        if (string.IsNullOrWhiteSpace(request.Name) || request.Name.Length > MaxDeviceNameLength || request.Name.Any(char.IsControl))
        {
            return (AccountError.InvalidAddress, null);
        }

        if (request.Proof is null || !DeviceAuthentication.Verify(request.PublicKey, DeviceAuthentication.AddDeviceMessage(settings.Domain, accountId, request.PublicKey), request.Proof))
        {
            return (AccountError.BadProof, null);
        }

        var device = new NewDevice(Guid.NewGuid(), accountId, request.PublicKey, request.Name, time.GetUtcNow());
        await AnnounceKeyChangeAsync(accountId, ct).ConfigureAwait(false);
        if (!await store.AddDeviceAsync(device, ct).ConfigureAwait(false))
        {
            return (AccountError.NotFound, null);
        }

        await RecordKeyChangeAsync(accountId, "device-added", ct).ConfigureAwait(false);
        return (AccountError.None, new DeviceInfo(device.Id, device.PublicKey, device.Name, device.CreatedAt));
    }

    public async Task<bool> RevokeDeviceAsync(Guid accountId, Guid deviceId, CancellationToken ct)
    {
        await AnnounceKeyChangeAsync(accountId, ct).ConfigureAwait(false);
        if (!await store.RevokeDeviceAsync(accountId, deviceId, ct).ConfigureAwait(false))
        {
            return false;
        }

        await RecordKeyChangeAsync(accountId, "device-revoked", ct).ConfigureAwait(false);
        return true;
    }

    /// <summary>
    /// The published certificate must be one binary OpenPGP certificate (WKD serves it as is) whose
    /// self-signatures verify, that is not revoked, and that has a user ID for exactly this address:
    /// the directory must not hand out a key that names someone else.
    /// </summary>
    internal static bool IsCertificateFor(byte[]? certificate, string address)
    {
        if (certificate is not { Length: > 0 and <= MaxCertificateLength } || Letterlock.OpenPgp.Armor.IsArmored(certificate))
        {
            return false;
        }

        try
        {
            var parsed = Letterlock.OpenPgp.Certificate.Parse(certificate);
            return !parsed.IsRevoked && parsed.HasAddress(address);
        }
        catch (Letterlock.OpenPgp.OpenPgpException)
        {
            return false;
        }
    }

    /// <summary>Creates an invite token; only its hash is stored.</summary>
    public async Task<(string Token, DateTimeOffset ExpiresAt)> CreateInviteAsync(TimeSpan? lifetime, CancellationToken ct)
    {
        string token = Base64Url(RandomNumberGenerator.GetBytes(24));
        var now = time.GetUtcNow();
        var expires = now + (lifetime ?? TimeSpan.FromHours(settings.Accounts.InviteLifetimeHours));
        await store.CreateInviteAsync(HashSecret(token), now, expires, ct).ConfigureAwait(false);
        return (token, expires);
    }

    /// <summary>
    /// Called after every committed change of an account's published keys: key transparency queues the
    /// address's new key set for the next epoch (<see cref="Transparency.ProviderTransparency"/>).
    /// </summary>
    private Task RecordKeyChangeAsync(Guid accountId, string change, CancellationToken ct)
    {
        _ = change;
        return keyChanges?.RecordAsync(accountId, ct) ?? Task.CompletedTask;
    }

    /// <summary>
    /// Called before a change of an account's published keys is written: with <see cref="RecordKeyChangeAsync"/>
    /// after it, a crash in between cannot leave a changed key outside the transparency log.
    /// </summary>
    private Task AnnounceKeyChangeAsync(Guid accountId, CancellationToken ct) => keyChanges?.AnnounceAsync(accountId, ct) ?? Task.CompletedTask;

    /// <summary>
    /// Parses <c>local@domain</c>. Local parts are restricted to a conservative dot-atom subset (RFC 5322, 3.4.1):
    /// letters, digits and combining marks of any script (RFC 6531 addresses such as <c>zoë@</c>), <c>.</c>,
    /// <c>-</c>, <c>_</c> and <c>+</c>, at most 64 octets of UTF-8. They are lower-cased (Unicode simple case
    /// mapping), so one person cannot hold "Zoë" and "zoë", and otherwise compared code point for code point: the
    /// process runs without Unicode normalisation data (globalization-invariant mode), so no NFC is applied and a
    /// decomposed spelling is another, normally unknown, address (docs/design/smtp.md). The domain comes back in
    /// A-labels, lower case.
    /// </summary>
    public static bool TryParseAddress(string? address, out string localPart, out string domain)
    {
        localPart = "";
        domain = "";
        if (string.IsNullOrEmpty(address) || address.Length > 254)
        {
            return false;
        }

        int at = address.LastIndexOf('@');
        if (at <= 0 || at == address.Length - 1)
        {
            return false;
        }

        string local = address[..at].ToLowerInvariant();

        string host = Letterlock.Relay.Routing.MxRouter.ToAsciiDomain(address[(at + 1)..]) ?? "";
        if (Encoding.UTF8.GetByteCount(local) > 64 || local.StartsWith('.') || local.EndsWith('.') || local.Contains("..", StringComparison.Ordinal)
            || !Utf8Text(local) || !local.EnumerateRunes().All(IsLocalPartRune))
        {
            return false;
        }

        if (!ProviderSettingsLoader.IsDomain(host))
        {
            return false;
        }

        localPart = local;
        domain = host;
        return true;
    }

    // a lone surrogate is not text: EnumerateRunes would turn it into U+FFFD
    private static bool Utf8Text(string text) => System.Text.Unicode.Utf8.FromUtf16(text, new byte[Encoding.UTF8.GetMaxByteCount(text.Length)], out _, out _, replaceInvalidSequences: false) == System.Buffers.OperationStatus.Done;

    private static bool IsLocalPartRune(Rune rune) =>
        rune.IsAscii
            ? char.IsAsciiLetterOrDigit((char)rune.Value) || rune.Value is '.' or '-' or '_' or '+'
            : Rune.IsLetterOrDigit(rune) || Rune.GetUnicodeCategory(rune) is System.Globalization.UnicodeCategory.NonSpacingMark or System.Globalization.UnicodeCategory.SpacingCombiningMark;

    /// <summary>The WKD hash of a local part: z-base-32 of SHA-1 of the lower-cased local part (draft-koch-openpgp-webkey-service, 3.1).</summary>
    public static string WkdHash(string localPart)
    {
#pragma warning disable CA5350 // SHA-1 is what WKD specifies for this (non-security) name mapping
        byte[] digest = SHA1.HashData(Encoding.UTF8.GetBytes(localPart.ToLowerInvariant()));
#pragma warning restore CA5350
        return ZBase32(digest);
    }

    internal static string ZBase32(ReadOnlySpan<byte> data)
    {
        const string Alphabet = "ybndrfg8ejkmcpqxot1uwisza345h769";
        var builder = new StringBuilder((data.Length * 8 + 4) / 5);
        int buffer = 0;
        int bits = 0;
        foreach (byte b in data)
        {
            buffer = (buffer << 8) | b;
            bits += 8;
            while (bits >= 5)
            {
                builder.Append(Alphabet[(buffer >> (bits - 5)) & 31]);
                bits -= 5;
            }
        }

        if (bits > 0)
        {
            builder.Append(Alphabet[(buffer << (5 - bits)) & 31]);
        }

        return builder.ToString();
    }

    /// <summary>
    /// An inbox key the MX can seal to: a raw X25519 public key (32 bytes, accounts made before X-Wing) or an
    /// X-Wing public key (1,216 bytes) whose ML-KEM part passes the FIPS 203 modulus check.
    /// </summary>
    internal static bool IsUsableInboxKey(byte[]? key)
    {
        if (key is null)
        {
            return false;
        }

        try
        {
            HpkeKems.CheckPublicKey(key);
            return true;
        }
        catch (HpkeException)
        {
            return false;
        }
    }

    public static byte[] HashSecret(string secret) => SHA256.HashData(Encoding.UTF8.GetBytes(secret));

    public static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
