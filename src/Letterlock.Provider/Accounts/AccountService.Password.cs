using System.Security.Cryptography;
using System.Text;
using Letterlock.Api;
using Letterlock.Cryptography.Opaque;
using Letterlock.Provider.Configuration;
using Letterlock.Provider.Storage;

namespace Letterlock.Provider.Accounts;

/// <summary>
/// Password login with OPAQUE (RFC 9807, ristretto255-SHA512, Argon2id on the client): the provider stores the
/// registration record and never sees the password; a login proves it and gets the AMK's password slot.
/// </summary>
/// <remarks>
/// <para>Keys: the OPRF seed and the AKE key pair are derived from the provider's signing seed with HKDF-SHA512
/// (<c>letterlock-opaque-oprf-seed-v1</c>, <c>letterlock-opaque-ake-key-v1</c>), so every node of a cluster and an
/// upgraded provider have them without a new secret to keep.</para>
/// <para>Credential identifier: the canonical address (stable, unique; the same for an address with no account, so
/// the fake answer for it is stable too). Identities: client = the address, server = the provider's domain.
/// Context: <see cref="AccountAccess.OpaqueContext"/> with a fresh server nonce per login.</para>
/// <para>Stored record (<c>accounts.opaque_record</c>): the account's Argon2id parameters (9 bytes,
/// <see cref="Argon2idParameters.Serialize"/>) followed by the RegistrationRecord.</para>
/// <para>Every login start counts as a failed attempt for the address until a finish succeeds: KE2 lets the client
/// test the one password it blinded into KE1, so the attempt must be paid for when KE2 is handed out.</para>
/// </remarks>
public sealed partial class AccountService
{
    /// <summary>Kind of a pending password login.</summary>
    public const string OpaqueLogin = "opaque";

    /// <summary>The OPAQUE server; null when the provider was built without one (then password login is refused).</summary>
    public OpaqueServer? Opaque { get; init; }

    /// <summary>The Argon2id parameters offered with a fake KE2 (for an address with no password).</summary>
    public Argon2idParameters DefaultKsf { get; init; } = Argon2idParameters.Default;

    /// <summary>Builds the provider's OPAQUE server from its signing seed (see the remarks of this class).</summary>
    /// <exception cref="SettingsException">The signing key cannot be read.</exception>
    public static OpaqueServer CreateOpaqueServer(string signingKeyPath)
    {
        byte[] seed;
        try
        {
            seed = Convert.FromBase64String(File.ReadAllText(signingKeyPath).Trim());
        }
        catch (Exception e) when (e is FormatException or IOException or UnauthorizedAccessException)
        {
            throw new SettingsException($"setting 'signingKey': cannot read an Ed25519 key from {signingKeyPath}");
        }

        byte[] oprfSeed = HKDF.DeriveKey(HashAlgorithmName.SHA512, seed, OpaqueServer.OprfSeedLength, [], "letterlock-opaque-oprf-seed-v1"u8.ToArray());
        byte[] akeKey = HKDF.DeriveKey(HashAlgorithmName.SHA512, seed, ServerKeys.PrivateKeyLength, [], "letterlock-opaque-ake-key-v1"u8.ToArray());
        try
        {
            // Below 2^252, hence below the group order: a canonical scalar (zero only with probability 2^-252).
            akeKey[31] &= 0x0F;
            if (!ServerKeys.TryImport(akeKey, out var keys))
            {
                throw new SettingsException("setting 'signingKey': the derived OPAQUE key is not usable");
            }

            return new OpaqueServer(keys, oprfSeed);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(seed);
            CryptographicOperations.ZeroMemory(akeKey);
        }
    }

    /// <summary>Registration, first message: evaluates the blinded password for an authenticated device.</summary>
    public (AccountError Error, PasswordStartResponse? Response) StartPassword(AccountRecord account, PasswordStartRequest request)
    {
        ArgumentNullException.ThrowIfNull(account);
        ArgumentNullException.ThrowIfNull(request);
        if (Opaque is null || request.RegistrationRequest is null || !RegistrationRequest.TryParse(request.RegistrationRequest, out var parsed))
        {
            return (AccountError.InvalidKey, null);
        }

        var response = Opaque.CreateRegistrationResponse(parsed, CredentialIdentifier(account.LocalPart));
        return (AccountError.None, new PasswordStartResponse(response.Serialize()));
    }

    /// <summary>Registration, last message: stores the record with its Argon2id parameters and the password slot.</summary>
    public async Task<AccountError> SetPasswordAsync(AccountRecord account, SetPasswordRequest request, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(account);
        ArgumentNullException.ThrowIfNull(request);
        if (request.Record is null || !RegistrationRecord.TryParse(request.Record, out _)
            || request.KsfParameters is null || !Argon2idParameters.TryParse(request.KsfParameters, out var ksf)
            || OpaqueClientOptions.Default.Check(ksf) != KeyStretchingCheck.Acceptable
            || request.WrappedAmk is not { Length: > 0 and <= MaxWrappedAmkLength })
        {
            return AccountError.InvalidKey;
        }

        var slot = new SlotRecord(account.Id, SlotKinds.Password, request.WrappedAmk, null, time.GetUtcNow());
        return await store.SetPasswordAsync(account.Id, [.. request.KsfParameters, .. request.Record], slot, ct).ConfigureAwait(false)
            ? AccountError.None
            : AccountError.NotFound;
    }

    /// <summary>Removes the password: the account becomes device-only (devices and the recovery code still open it).</summary>
    public Task<bool> RemovePasswordAsync(Guid accountId, CancellationToken ct) => store.RemovePasswordAsync(accountId, ct);

    /// <summary>
    /// Login, first message: KE2 for the address (a fake, indistinguishable one when there is no account or no
    /// password), counted as an attempt for the address.
    /// </summary>
    public async Task<(AccessOutcome Outcome, LoginStartResponse? Start, TimeSpan RetryAfter)> StartLoginAsync(LoginStartRequest request, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (Opaque is null || request.Ke1 is null || !KE1.TryParse(request.Ke1, out var ke1)
            || !TryParseAddress(request.Address, out string localPart, out string domain) || !string.Equals(domain, settings.Domain, StringComparison.OrdinalIgnoreCase))
        {
            return (AccessOutcome.InvalidDevice, null, default);
        }

        var account = await store.FindAccountAsync(localPart, ct).ConfigureAwait(false);
        Guid? accountId = account is { Status: AccountStatus.Active } ? account.Id : null;
        var now = time.GetUtcNow();
        var failureKey = FailureKey(accountId, localPart);
        var failures = await store.GetLoginFailuresAsync(failureKey, ct).ConfigureAwait(false);
        if (failures.BlockedUntil > now)
        {
            return (AccessOutcome.Blocked, null, failures.BlockedUntil - now);
        }

        await store.RecordLoginFailureAsync(failureKey, now, BackoffFor, ct).ConfigureAwait(false);
        RegistrationRecord? record = null;
        byte[] ksf = DefaultKsf.Serialize();
        if (accountId is not null && account!.OpaqueRegistration is { Length: > Argon2idParameters.SerializedLength } stored
            && RegistrationRecord.TryParse(stored.AsSpan(Argon2idParameters.SerializedLength), out var parsed))
        {
            record = parsed;
            ksf = stored[..Argon2idParameters.SerializedLength];
        }
        else
        {
            accountId = null; // no password: the same as no account
        }

        string address = $"{localPart}@{settings.Domain}";
        byte[] nonce = RandomNumberGenerator.GetBytes(32);
        var (state, ke2) = Opaque.StartLogin(record, CredentialIdentifier(localPart), ke1, Identities(address),
            AccountAccess.OpaqueContext(settings.Domain, address, nonce));
        using (state)
        {
            var id = Guid.NewGuid();
            var expires = now.AddSeconds(settings.Accounts.LoginLifetimeSeconds);
            byte[] pendingState = [.. state.Serialize(), .. Encoding.UTF8.GetBytes(localPart)];
            await store.StorePendingLoginAsync(new PendingLogin(id, OpaqueLogin, accountId, pendingState, expires), ct).ConfigureAwait(false);
            return (AccessOutcome.Joined, new LoginStartResponse(id, nonce, ke2.Serialize(), expires, ksf), default);
        }
    }

    /// <summary>Login, last message: checks KE3 and registers the new device; the answer carries the password slot.</summary>
    public async Task<AccessResult> FinishLoginAsync(LoginFinishRequest request, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (!IsDeviceKey(request.DevicePublicKey) || !IsDeviceName(request.DeviceName))
        {
            return new AccessResult(AccessOutcome.InvalidDevice);
        }

        var pending = await store.ConsumePendingLoginAsync(request.LoginId, ct).ConfigureAwait(false);
        var now = time.GetUtcNow();
        if (Opaque is null || pending is null || pending.Kind != OpaqueLogin || pending.ExpiresAt <= now
            || pending.State.Length <= ServerLoginState.SerializedLength
            || !ServerLoginState.TryParse(pending.State.AsSpan(0, ServerLoginState.SerializedLength), out var state))
        {
            return new AccessResult(AccessOutcome.Failed);
        }

        string localPart = Encoding.UTF8.GetString(pending.State.AsSpan(ServerLoginState.SerializedLength));
        string address = $"{localPart}@{settings.Domain}";
        bool proven;
        using (state)
        {
            if (request.Ke3 is null || !KE3.TryParse(request.Ke3, out var ke3))
            {
                return new AccessResult(AccessOutcome.Failed);
            }

            using var outcome = Opaque.FinishLogin(state, ke3);
            proven = outcome.Succeeded;
        }

        bool possessed = DeviceAuthentication.Verify(request.DevicePublicKey, AccountAccess.JoinMessage(settings.Domain, address, request.LoginId, request.DevicePublicKey), request.DeviceProof ?? []);
        if (!proven || !possessed || pending.AccountId is not { } accountId)
        {
            return new AccessResult(AccessOutcome.Failed);
        }

        var slot = await store.GetSlotAsync(accountId, SlotKinds.Password, ct).ConfigureAwait(false);
        if (slot is null)
        {
            return new AccessResult(AccessOutcome.Failed);
        }

        await store.ClearLoginFailuresAsync(accountId, ct).ConfigureAwait(false);
        var device = await JoinDeviceAsync(accountId, request.DevicePublicKey, request.DeviceName, ct).ConfigureAwait(false);
        return device is null
            ? new AccessResult(AccessOutcome.Failed)
            : new AccessResult(AccessOutcome.Joined, new AccountAccessResponse(accountId, device.Id, address, slot.Wrapped));
    }

    private byte[] CredentialIdentifier(string localPart) => Encoding.UTF8.GetBytes($"{localPart}@{settings.Domain.ToLowerInvariant()}");

    private OpaqueIdentities Identities(string address) => OpaqueIdentities.FromStrings(address.ToLowerInvariant(), settings.Domain.ToLowerInvariant());
}
