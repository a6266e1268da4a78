namespace Letterlock.Provider.Storage;

/// <summary>Kinds of AMK slot (the wrapped account master key per way back into the account).</summary>
public static class SlotKinds
{
    /// <summary>Sealed to a key pair derived from OPAQUE's export key; opened after a password login.</summary>
    public const string Password = "password";

    /// <summary>Sealed to a key pair derived from the recovery code; its verifier proves the code.</summary>
    public const string Recovery = "recovery";
}

/// <summary>One AMK slot: the wrap (opaque to the provider) and, for recovery, the Ed25519 key that proves the code.</summary>
public sealed record SlotRecord(Guid AccountId, string Kind, byte[] Wrapped, byte[]? Verifier, DateTimeOffset UpdatedAt);

/// <summary>State kept between the two messages of a login (kind <c>opaque</c> or <c>recovery</c>), single use.</summary>
/// <param name="Id">Names the login in the second message.</param>
/// <param name="Kind">Which flow it belongs to.</param>
/// <param name="AccountId">The account, or null when the address is unknown (the answer looked the same).</param>
/// <param name="State">Flow-specific bytes (the OPAQUE server state, the recovery challenge).</param>
/// <param name="ExpiresAt">After this the login is refused.</param>
public sealed record PendingLogin(Guid Id, string Kind, Guid? AccountId, byte[] State, DateTimeOffset ExpiresAt);

/// <summary>Failed logins of one account and until when further attempts are refused.</summary>
public sealed record LoginFailures(int Failures, DateTimeOffset BlockedUntil);

/// <summary>
/// What the provider keeps so an account outlives its devices (docs/design/accounts.md): AMK slots, the OPAQUE
/// registration record, login state and failure counts, device last-seen times, deletion with a quarantine.
/// </summary>
public interface IAccountSecurityStore
{
    /// <summary>Creates or replaces a slot of an active account; false when the account is not active.</summary>
    Task<bool> SetSlotAsync(SlotRecord slot, CancellationToken ct);

    /// <summary>The slot, or null.</summary>
    Task<SlotRecord?> GetSlotAsync(Guid accountId, string kind, CancellationToken ct);

    /// <summary>Replaces the OPAQUE registration record and the password slot in one transaction (a password change).</summary>
    Task<bool> SetPasswordAsync(Guid accountId, byte[] opaqueRecord, SlotRecord passwordSlot, CancellationToken ct);

    /// <summary>Removes the OPAQUE record and the password slot (a device-only account).</summary>
    Task<bool> RemovePasswordAsync(Guid accountId, CancellationToken ct);

    /// <summary>Records the state of a login's first message.</summary>
    Task StorePendingLoginAsync(PendingLogin login, CancellationToken ct);

    /// <summary>Deletes and returns the pending login in one step, so it is finished at most once, on any node.</summary>
    Task<PendingLogin?> ConsumePendingLoginAsync(Guid id, CancellationToken ct);

    /// <summary>The failure count of an account (zero when none).</summary>
    Task<LoginFailures> GetLoginFailuresAsync(Guid accountId, CancellationToken ct);

    /// <summary>Counts a failed login; the back-off is <paramref name="blockFor"/>(failures after this one).</summary>
    Task<LoginFailures> RecordLoginFailureAsync(Guid accountId, DateTimeOffset now, Func<int, TimeSpan> blockFor, CancellationToken ct);

    /// <summary>Forgets the failures after a successful login.</summary>
    Task ClearLoginFailuresAsync(Guid accountId, CancellationToken ct);

    /// <summary>Notes that a device authenticated now (shown as "last seen").</summary>
    Task TouchDeviceAsync(Guid deviceId, DateTimeOffset now, CancellationToken ct);

    /// <summary>
    /// Deletes an account: every document (blobs follow through the collector), token, slot and pending login
    /// goes, devices are revoked, the row stays with status <see cref="AccountStatus.Deleted"/> so the address is
    /// not given out again before <see cref="PurgeDeletedAccountsAsync"/> removes it.
    /// </summary>
    Task<bool> DeleteAccountAsync(Guid accountId, DateTimeOffset now, CancellationToken ct);

    /// <summary>Removes what is left of accounts deleted before <paramref name="cutoff"/>; their addresses become free.</summary>
    Task<int> PurgeDeletedAccountsAsync(DateTimeOffset cutoff, CancellationToken ct);
}
