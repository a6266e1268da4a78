using System.Security.Cryptography;
using System.Text;
using Letterlock.Api;
using Letterlock.Provider.Storage;

namespace Letterlock.Provider.Accounts;

/// <summary>How a login or recovery attempt ended.</summary>
public enum AccessOutcome
{
    /// <summary>The secret was proven; the device joined.</summary>
    Joined,

    /// <summary>Wrong secret, unknown address, unknown or expired login: one answer for all (no enumeration).</summary>
    Failed,

    /// <summary>Too many failed attempts for this address; <see cref="AccessResult.RetryAfter"/> says when to try again.</summary>
    Blocked,

    /// <summary>The device part of the request is malformed (key length, name).</summary>
    InvalidDevice,
}

/// <summary>The result of a login or recovery.</summary>
public sealed record AccessResult(AccessOutcome Outcome, AccountAccessResponse? Access = null, TimeSpan RetryAfter = default);

/// <summary>
/// Joining an account from a new device with a secret (docs/design/accounts.md): the recovery code (a signature
/// by the key derived from it), later the password (OPAQUE). Failures per address are counted, known or not, so
/// the back-off reveals nothing about which addresses exist.
/// </summary>
public sealed partial class AccountService
{
    /// <summary>Kind of a pending recovery login.</summary>
    public const string RecoveryLogin = "recovery";

    /// <summary>Stores the recovery slot of an active account.</summary>
    public async Task<AccountError> SetRecoveryAsync(Guid accountId, SetRecoveryRequest request, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.Verifier is not { Length: DeviceAuthentication.PublicKeyLength } || request.WrappedAmk is not { Length: > 0 and <= MaxWrappedAmkLength })
        {
            return AccountError.InvalidKey;
        }

        var slot = new SlotRecord(accountId, SlotKinds.Recovery, request.WrappedAmk, request.Verifier, time.GetUtcNow());
        return await store.SetSlotAsync(slot, ct).ConfigureAwait(false) ? AccountError.None : AccountError.NotFound;
    }

    /// <summary>The largest wrapped AMK accepted (the current format is 82 bytes; room for a post-quantum KEM later).</summary>
    public const int MaxWrappedAmkLength = 4096;

    /// <summary>Begins a recovery: a challenge for the address, the same whether or not it exists or has a recovery slot.</summary>
    public async Task<(AccessOutcome Outcome, RecoveryStartResponse? Start, TimeSpan RetryAfter)> StartRecoveryAsync(RecoveryStartRequest request, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (!TryParseAddress(request.Address, out string localPart, out string domain) || !string.Equals(domain, settings.Domain, StringComparison.OrdinalIgnoreCase))
        {
            return (AccessOutcome.Failed, null, default);
        }

        var account = await store.FindAccountAsync(localPart, ct).ConfigureAwait(false);
        Guid? accountId = account is { Status: AccountStatus.Active } ? account.Id : null;
        var now = time.GetUtcNow();
        var failures = await store.GetLoginFailuresAsync(FailureKey(accountId, localPart), ct).ConfigureAwait(false);
        if (failures.BlockedUntil > now)
        {
            return (AccessOutcome.Blocked, null, failures.BlockedUntil - now);
        }

        var id = Guid.NewGuid();
        byte[] challenge = RandomNumberGenerator.GetBytes(32);
        var expires = now.AddSeconds(settings.Accounts.LoginLifetimeSeconds);
        await store.StorePendingLoginAsync(new PendingLogin(id, RecoveryLogin, accountId, [.. challenge, .. Encoding.UTF8.GetBytes(localPart)], expires), ct).ConfigureAwait(false);
        return (AccessOutcome.Joined, new RecoveryStartResponse(id, challenge, expires), default);
    }

    /// <summary>Finishes a recovery: checks the signature by the recovery key and registers the new device.</summary>
    public async Task<AccessResult> FinishRecoveryAsync(RecoveryFinishRequest request, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (!IsDeviceKey(request.DevicePublicKey) || !IsDeviceName(request.DeviceName))
        {
            return new AccessResult(AccessOutcome.InvalidDevice);
        }

        var pending = await store.ConsumePendingLoginAsync(request.LoginId, ct).ConfigureAwait(false);
        var now = time.GetUtcNow();
        if (pending is null || pending.Kind != RecoveryLogin || pending.ExpiresAt <= now || pending.State.Length <= 32)
        {
            return new AccessResult(AccessOutcome.Failed);
        }

        byte[] challenge = pending.State[..32];
        string localPart = Encoding.UTF8.GetString(pending.State.AsSpan(32));
        string address = $"{localPart}@{settings.Domain}";
        var failureKey = FailureKey(pending.AccountId, localPart);
        var failures = await store.GetLoginFailuresAsync(failureKey, ct).ConfigureAwait(false);
        if (failures.BlockedUntil > now)
        {
            return new AccessResult(AccessOutcome.Blocked, RetryAfter: failures.BlockedUntil - now);
        }

        var slot = pending.AccountId is { } accountId ? await store.GetSlotAsync(accountId, SlotKinds.Recovery, ct).ConfigureAwait(false) : null;

        // Verify against a fixed key when there is no slot, so an unknown address costs the same work.
        byte[] verifier = slot?.Verifier ?? UnknownVerifier;
        bool proven = DeviceAuthentication.Verify(verifier, AccountAccess.RecoveryMessage(settings.Domain, address, request.LoginId, challenge, request.DevicePublicKey), request.Signature ?? []);
        bool possessed = DeviceAuthentication.Verify(request.DevicePublicKey, AccountAccess.JoinMessage(settings.Domain, address, request.LoginId, request.DevicePublicKey), request.DeviceProof ?? []);
        if (slot is null || !proven || !possessed)
        {
            await store.RecordLoginFailureAsync(failureKey, now, BackoffFor, ct).ConfigureAwait(false);
            return new AccessResult(AccessOutcome.Failed);
        }

        await store.ClearLoginFailuresAsync(failureKey, ct).ConfigureAwait(false);
        var device = await JoinDeviceAsync(slot.AccountId, request.DevicePublicKey, request.DeviceName, ct).ConfigureAwait(false);
        return device is null
            ? new AccessResult(AccessOutcome.Failed)
            : new AccessResult(AccessOutcome.Joined, new AccountAccessResponse(slot.AccountId, device.Id, address, slot.Wrapped));
    }

    /// <summary>Deletes the account: documents, keys, devices and slots go; the address stays taken for the quarantine period.</summary>
    public async Task<bool> DeleteAccountAsync(Guid accountId, CancellationToken ct)
    {
        await AnnounceKeyChangeAsync(accountId, ct).ConfigureAwait(false);
        if (!await store.DeleteAccountAsync(accountId, time.GetUtcNow(), ct).ConfigureAwait(false))
        {
            return false;
        }

        // Published as revoked in key transparency (the account is no longer active).
        await RecordKeyChangeAsync(accountId, "account-deleted", ct).ConfigureAwait(false);
        return true;
    }

    /// <summary>Frees the addresses of accounts deleted longer ago than the quarantine.</summary>
    public Task<int> PurgeDeletedAccountsAsync(CancellationToken ct) =>
        store.PurgeDeletedAccountsAsync(time.GetUtcNow().AddDays(-settings.Accounts.DeletedAddressQuarantineDays), ct);

    /// <summary>
    /// The wait after the <paramref name="failures"/>-th failure in a row: none before
    /// <c>accounts.freeFailedLogins</c> failures; from that one on <c>failedLoginBackoffSeconds</c>, doubling with
    /// each further failure up to <c>maxFailedLoginBackoffSeconds</c>.
    /// </summary>
    public TimeSpan BackoffFor(int failures)
    {
        var accounts = settings.Accounts;
        int beyond = failures - accounts.FreeFailedLogins + 1;
        if (beyond <= 0)
        {
            return TimeSpan.Zero;
        }

        double seconds = accounts.FailedLoginBackoffSeconds * Math.Pow(2, Math.Min(beyond - 1, 30));
        return TimeSpan.FromSeconds(Math.Min(seconds, accounts.MaxFailedLoginBackoffSeconds));
    }

    /// <summary>Registers a device that proved an account secret (the key-transparency log learns of it).</summary>
    private async Task<NewDevice?> JoinDeviceAsync(Guid accountId, byte[] publicKey, string name, CancellationToken ct)
    {
        var device = new NewDevice(Guid.NewGuid(), accountId, publicKey, name, time.GetUtcNow());
        await AnnounceKeyChangeAsync(accountId, ct).ConfigureAwait(false);
        if (!await store.AddDeviceAsync(device, ct).ConfigureAwait(false))
        {
            return null;
        }

        await RecordKeyChangeAsync(accountId, "device-joined", ct).ConfigureAwait(false);
        return device;
    }

    /// <summary>
    /// The row failures of an address are counted under: the account's id, or for an address without an active
    /// account a stable id derived from the address, so unknown addresses are throttled exactly like known ones.
    /// </summary>
    private Guid FailureKey(Guid? accountId, string localPart) =>
        accountId ?? new Guid(SHA256.HashData(Encoding.UTF8.GetBytes($"letterlock-unknown-address\0{settings.Domain}\0{localPart}")).AsSpan(0, 16));

    private static bool IsDeviceKey(byte[]? key) => key is { Length: DeviceAuthentication.PublicKeyLength };

    private static bool IsDeviceName(string? name) => !string.IsNullOrWhiteSpace(name) && name.Length <= MaxDeviceNameLength && !name.Any(char.IsControl);

    /// <summary>A valid Ed25519 public key whose private half was discarded when the process started.</summary>
    private static readonly byte[] UnknownVerifier = DeviceAuthentication.GenerateKeyPair().PublicKey;
}
