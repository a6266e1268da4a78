using System.Security.Cryptography;
using System.Text;
using Letterlock.Api;
using Letterlock.Client.Mail;
using Letterlock.Client.Store;
using Letterlock.Client.Sync;
using Letterlock.Cryptography.Cpace;

namespace Letterlock.Client.Accounts;

/// <summary>A device link did not complete; nothing secret was sent (the message says why, never the code).</summary>
public sealed class LinkFailedException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// Linking a new device without the password (docs/design/accounts.md, "Linking a device"; wire format in
/// docs/FORMATS.md, "Device link"): CPace (draft-irtf-cfrg-cpace, ristretto255) keyed by the secret half of a short
/// code, over the provider's relay, which sees only CPace shares and ciphertext. Both screens show a short
/// authentication string; the approving device sends the account master key, sealed under the CPace key, only after
/// its user confirms that the strings match, and registers the new device's key itself (authenticated as a device
/// of the account), so the provider publishes it in the directory like any joining device.
/// </summary>
public static class DeviceLink
{
    /// <summary>Characters of the secret half of a link code (Crockford base32, 30 bits: one online guess per link).</summary>
    public const int SecretLength = 6;

    /// <summary>The relay's slot length (the public half of the code).</summary>
    public const int SlotLength = 5;

    internal const string NewParty = "new";
    internal const string ApproverParty = "approver";
    private const string Alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    private const int TagLength = CpaceResult.ConfirmationTagLength;
    private const int PollSeconds = 25;
    private static readonly byte[] SecretsAd = "letterlock-link-secrets-v1"u8.ToArray();

    /// <summary>Formats a link code: slot, a dash, secret ("7KQ2M-X4D9TP").</summary>
    public static string FormatCode(string slot, string secret) => $"{slot}-{secret}";

    /// <summary>Splits a typed link code into its slot and secret (case-insensitive; O read as 0, I and L as 1; spaces and dashes ignored).</summary>
    public static bool TryParseCode(string? text, out string slot, out string secret)
    {
        slot = secret = "";
        var canonical = new StringBuilder();
        foreach (char raw in text ?? "")
        {
            char c = char.ToUpperInvariant(raw);
            if (c is '-' or ' ')
            {
                continue;
            }

            c = c switch { 'O' => '0', 'I' or 'L' => '1', _ => c };
            if (!Alphabet.Contains(c, StringComparison.Ordinal))
            {
                return false;
            }

            canonical.Append(c);
        }

        if (canonical.Length != SlotLength + SecretLength)
        {
            return false;
        }

        slot = canonical.ToString(0, SlotLength);
        secret = canonical.ToString(SlotLength, SecretLength);
        return true;
    }

    /// <summary>The text a QR code carries: the provider and the code, so a camera can fill both in.</summary>
    public static string QrText(Uri provider, string code) => $"letterlock:link?provider={Uri.EscapeDataString(provider.ToString())}&code={code}";

    /// <summary>
    /// The new device's side, first half: opens a link at the relay and sends this device's CPace share. Show
    /// <see cref="NewDeviceLink.Code"/>, then call <see cref="NewDeviceLink.CompleteAsync"/>.
    /// </summary>
    public static async Task<NewDeviceLink> StartAsync(ProviderClient provider, string deviceName, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(provider);
        ArgumentException.ThrowIfNullOrWhiteSpace(deviceName);
        var info = await provider.GetInfoAsync(ct).ConfigureAwait(false);
        var link = await provider.StartLinkAsync(ct).ConfigureAwait(false);
        string secret = RandomNumberGenerator.GetString(Alphabet, SecretLength);
        var (devicePrivate, devicePublic) = DeviceAuthentication.GenerateKeyPair();
        byte[] ad = [.. devicePublic, .. Encoding.UTF8.GetBytes(deviceName)];
        var (session, message) = CpaceSession.Start(CpaceRole.Initiator, Encoding.ASCII.GetBytes(secret), ChannelIdentifier(info.Domain), link.SessionId, ad);
        try
        {
            await provider.WriteLinkAsync(link.Slot, NewParty, 0, message.Serialize(), ct).ConfigureAwait(false);
        }
        catch
        {
            session.Dispose();
            CryptographicOperations.ZeroMemory(devicePrivate);
            throw;
        }

        return new NewDeviceLink(provider, info.Domain, link, FormatCode(link.Slot, secret), session, devicePrivate, devicePublic);
    }

    /// <summary>
    /// The approving device's side: finds the link, runs CPace, shows the short authentication string through
    /// <paramref name="confirm"/> (true only when the user saw the same string on the new device), registers the new
    /// device and sends it the account master key. Returns the new device.
    /// </summary>
    /// <exception cref="LinkFailedException">No such link, a wrong code, a refused comparison, or the other side gave up.</exception>
    public static async Task<DeviceInfo> ApproveAsync(LocalStore store, AccountRecord account, ProviderClient provider, string code,
        Func<string, CancellationToken, Task<bool>> confirm, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(account);
        ArgumentNullException.ThrowIfNull(provider);
        ArgumentNullException.ThrowIfNull(confirm);
        if (!TryParseCode(code, out string slot, out string secret))
        {
            throw new LinkFailedException($"a link code has {SlotLength + SecretLength} letters and digits, like 7KQ2M-X4D9TP");
        }

        var accountId = account.RemoteAccountId ?? throw new LocalStoreException($"{account.Address} is not registered with a provider");
        var domain = account.ProviderDomain ?? throw new LocalStoreException($"{account.Address} is not registered with a provider");
        LinkSession link;
        try
        {
            link = await provider.FindLinkAsync(slot, ct).ConfigureAwait(false);
        }
        catch (ProviderProblemException e) when (e.Status == 404)
        {
            throw new LinkFailedException("no open link has this code: it was never started on the new device, it expired, or it ended", e);
        }

        bool done = false;
        try
        {
            // The new device joins by fetching the account's key bundle: an account that never set a password or made
            // a recovery kit has none at its provider yet, so this device publishes it before anything else happens.
            if (await KeyBundleSync.FetchAsync(store, account, provider, ct).ConfigureAwait(false) is null)
            {
                await KeyBundleSync.PublishAsync(store, account, provider, ct).ConfigureAwait(false);
            }

            byte[] first = await ReadAsync(provider, slot, NewParty, 0, link.ExpiresAt, ct).ConfigureAwait(false);
            if (!CpaceMessage.TryParse(first, CpaceOptions.Default, out var newMessage) || newMessage.AssociatedData.Length <= DeviceAuthentication.PublicKeyLength)
            {
                throw new LinkFailedException("the new device's first message is malformed");
            }

            byte[] ad = [.. accountId.ToByteArray(bigEndian: true), .. Encoding.UTF8.GetBytes(account.Address)];
            var (session, own) = CpaceSession.Start(CpaceRole.Responder, Encoding.ASCII.GetBytes(secret), ChannelIdentifier(domain), link.SessionId, ad);
            using var result = session.Finish(newMessage);
            if (result.Status == CpaceStatus.InvalidPeerMessage)
            {
                throw new LinkFailedException("the new device's first message is malformed");
            }

            await provider.WriteLinkAsync(slot, ApproverParty, 0, [.. own.Serialize(), .. result.ConfirmationTag!], ct).ConfigureAwait(false);
            byte[] second = await ReadAsync(provider, slot, NewParty, 1, link.ExpiresAt, ct).ConfigureAwait(false);
            if (second.Length != TagLength + 64 || result.ConfirmPeer(second.AsSpan(0, TagLength)) != CpaceStatus.Success)
            {
                throw new LinkFailedException("the code does not match the one the new device shows (or a message was altered); nothing was sent");
            }

            byte[] peerAd = result.PeerAssociatedData;
            byte[] devicePublic = peerAd[..DeviceAuthentication.PublicKeyLength];
            string deviceName = Encoding.UTF8.GetString(peerAd.AsSpan(DeviceAuthentication.PublicKeyLength));
            byte[] proof = second[TagLength..];
            if (!await confirm(result.ShortAuthenticationString, ct).ConfigureAwait(false))
            {
                throw new LinkFailedException("the two screens did not show the same string: the link was aborted and nothing was sent");
            }

            var device = await provider.AddDeviceAsync(new AddDeviceRequest(devicePublic, deviceName, proof), ct).ConfigureAwait(false);
            var amk = (await store.Keys.GetCurrentAsync(account.Id, AccountKeys.AccountMasterKey, ct).ConfigureAwait(false))?.Material
                ?? throw new LocalStoreException($"{account.Address} has no account master key");
            byte[] key = new byte[32];
            try
            {
                result.DeriveKey("account secrets"u8, key);
                byte[] plaintext = [.. device.DeviceId.ToByteArray(bigEndian: true), .. amk];
                byte[] sealedSecrets = Seal(key, link.SessionId, plaintext);
                CryptographicOperations.ZeroMemory(plaintext);
                await provider.WriteLinkAsync(slot, ApproverParty, 1, sealedSecrets, ct).ConfigureAwait(false);
            }
            finally
            {
                CryptographicOperations.ZeroMemory(key);
                CryptographicOperations.ZeroMemory(amk);
            }

            done = true;
            return device;
        }
        finally
        {
            if (!done)
            {
                await EndQuietlyAsync(provider, slot).ConfigureAwait(false);
            }
        }
    }

    /// <summary>CPace's channel identifier: the protocol and the provider's domain (not sent; both sides compute it).</summary>
    internal static byte[] ChannelIdentifier(string domain) => Encoding.UTF8.GetBytes("letterlock-link-v1\0" + domain.ToLowerInvariant());

    /// <summary>Reads a message, polling the relay (each poll waits there) until it arrives or the link expires.</summary>
    internal static async Task<byte[]> ReadAsync(ProviderClient provider, string slot, string party, int index, DateTimeOffset expiresAt, CancellationToken ct)
    {
        while (true)
        {
            byte[]? data;
            try
            {
                data = await provider.ReadLinkAsync(slot, party, index, PollSeconds, ct).ConfigureAwait(false);
            }
            catch (ProviderProblemException e) when (e.Status == 404)
            {
                throw new LinkFailedException(DateTimeOffset.UtcNow >= expiresAt
                    ? "the link expired before the other device answered; start again"
                    : "the other device ended the link (a wrong code, or the strings did not match); nothing was sent", e);
            }

            if (data is not null)
            {
                return data;
            }
        }
    }

    internal static byte[] Seal(byte[] key, byte[] sessionId, byte[] plaintext)
    {
        using var aead = new ChaCha20Poly1305(key);
        byte[] output = new byte[plaintext.Length + 16];

        // The key is used for this one message only, so a zero nonce is safe.
        aead.Encrypt(new byte[12], plaintext, output.AsSpan(0, plaintext.Length), output.AsSpan(plaintext.Length), [.. SecretsAd, .. sessionId]);
        return output;
    }

    internal static byte[]? Open(byte[] key, byte[] sessionId, byte[] sealedData)
    {
        if (sealedData.Length < 16)
        {
            return null;
        }

        using var aead = new ChaCha20Poly1305(key);
        byte[] plaintext = new byte[sealedData.Length - 16];
        try
        {
            aead.Decrypt(new byte[12], sealedData.AsSpan(0, plaintext.Length), sealedData.AsSpan(plaintext.Length), plaintext, [.. SecretsAd, .. sessionId]);
            return plaintext;
        }
        catch (AuthenticationTagMismatchException)
        {
            return null;
        }
    }

    internal static async Task EndQuietlyAsync(ProviderClient provider, string slot)
    {
        try
        {
            await provider.EndLinkAsync(slot, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e) when (e is ProviderProblemException or ProviderUnavailableException)
        {
            // the link expires on its own
        }
    }
}

/// <summary>A link started on the new device: show <see cref="Code"/> (and a QR code of it), then complete it.</summary>
public sealed class NewDeviceLink : IDisposable
{
    private readonly ProviderClient _provider;
    private readonly string _domain;
    private readonly LinkSession _link;
    private readonly CpaceSession _session;
    private readonly byte[] _devicePrivate;
    private readonly byte[] _devicePublic;

    internal NewDeviceLink(ProviderClient provider, string domain, LinkSession link, string code, CpaceSession session, byte[] devicePrivate, byte[] devicePublic)
    {
        _provider = provider;
        _domain = domain;
        _link = link;
        Code = code;
        _session = session;
        _devicePrivate = devicePrivate;
        _devicePublic = devicePublic;
    }

    /// <summary>The code to type on the approving device: the relay's slot and the CPace secret ("7KQ2M-X4D9TP").</summary>
    public string Code { get; }

    /// <summary>When the relay forgets the link.</summary>
    public DateTimeOffset ExpiresAt => _link.ExpiresAt;

    /// <summary>
    /// Waits for the approving device, checks its CPace confirmation, shows the short authentication string through
    /// <paramref name="showSas"/>, receives the account master key and joins the account (device key registered by
    /// the approving device, key bundle fetched as at login).
    /// </summary>
    /// <exception cref="LinkFailedException">A wrong code, the other side aborted, or the link expired; nothing is stored.</exception>
    public async Task<AccountRecord> CompleteAsync(LocalStore store, Func<DeviceCredentials, ProviderClient> connect, Func<string, CancellationToken, Task> showSas,
        CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(connect);
        ArgumentNullException.ThrowIfNull(showSas);
        try
        {
            byte[] answer = await DeviceLink.ReadAsync(_provider, _link.Slot, DeviceLink.ApproverParty, 0, _link.ExpiresAt, ct).ConfigureAwait(false);
            if (answer.Length <= CpaceResult.ConfirmationTagLength
                || !CpaceMessage.TryParse(answer.AsSpan(0, answer.Length - CpaceResult.ConfirmationTagLength), CpaceOptions.Default, out var approverMessage))
            {
                throw new LinkFailedException("the approving device's message is malformed");
            }

            using var result = _session.Finish(approverMessage);
            if (result.Status == CpaceStatus.InvalidPeerMessage
                || result.ConfirmPeer(answer.AsSpan(answer.Length - CpaceResult.ConfirmationTagLength)) != CpaceStatus.Success)
            {
                throw new LinkFailedException("the approving device used another code (or a message was altered); nothing was received");
            }

            byte[] peerAd = result.PeerAssociatedData;
            if (peerAd.Length <= 16)
            {
                throw new LinkFailedException("the approving device's message is malformed");
            }

            var accountId = new Guid(peerAd.AsSpan(0, 16), bigEndian: true);
            string address = Encoding.UTF8.GetString(peerAd.AsSpan(16));
            byte[] proof = DeviceAuthentication.Sign(_devicePrivate, DeviceAuthentication.AddDeviceMessage(_domain, accountId, _devicePublic));
            await _provider.WriteLinkAsync(_link.Slot, DeviceLink.NewParty, 1, [.. result.ConfirmationTag!, .. proof], ct).ConfigureAwait(false);
            await showSas(result.ShortAuthenticationString, ct).ConfigureAwait(false);

            byte[] sealedSecrets = await DeviceLink.ReadAsync(_provider, _link.Slot, DeviceLink.ApproverParty, 1, _link.ExpiresAt, ct).ConfigureAwait(false);
            byte[] key = new byte[32];
            byte[]? plaintext = null;
            try
            {
                result.DeriveKey("account secrets"u8, key);
                plaintext = DeviceLink.Open(key, _link.SessionId, sealedSecrets);
                if (plaintext is not { Length: 16 + 32 })
                {
                    throw new LinkFailedException("the account secrets from the approving device do not open (altered or replayed); nothing was stored");
                }

                var deviceId = new Guid(plaintext.AsSpan(0, 16), bigEndian: true);
                byte[] amk = plaintext[16..];
                try
                {
                    return await AccountRecovery.JoinLocallyAsync(store, _provider.BaseUri, _domain, address,
                        new AccountAccessResponse(accountId, deviceId, address, []), _devicePrivate, amk, connect, ct).ConfigureAwait(false);
                }
                finally
                {
                    CryptographicOperations.ZeroMemory(amk);
                }
            }
            finally
            {
                CryptographicOperations.ZeroMemory(key);
                if (plaintext is not null)
                {
                    CryptographicOperations.ZeroMemory(plaintext);
                }
            }
        }
        finally
        {
            await DeviceLink.EndQuietlyAsync(_provider, _link.Slot).ConfigureAwait(false);
        }
    }

    /// <summary>Zeroes the device key and the CPace scalar (after completion they live in the store only).</summary>
    public void Dispose()
    {
        _session.Dispose();
        CryptographicOperations.ZeroMemory(_devicePrivate);
    }
}
