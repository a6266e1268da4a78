namespace Letterlock.Provider.Storage;

/// <summary>A one-time prekey as published: its kind (3: X25519, 4: ML-KEM-768), id, encoding and expiry.</summary>
public sealed record OneTimePrekeyRecord(int Kind, uint Id, byte[] Encoded, DateTimeOffset ExpiresAt);

/// <summary>What one publication writes: the identity certificate, optionally new signed and last-resort prekeys, one-time prekeys.</summary>
public sealed record PrekeyPublication(byte[] Identity, byte[]? SignedPrekey, byte[]? KemPrekey, IReadOnlyList<OneTimePrekeyRecord> OneTime);

/// <summary>The outcome of <see cref="IPrekeyStore.PublishPrekeysAsync"/>.</summary>
public enum PublishPrekeysOutcome
{
    Published,

    /// <summary>The device has no signed and last-resort prekeys yet and the publication brings none.</summary>
    NeedsSignedPrekeys,

    /// <summary>A pool would hold more one-time prekeys than the limit; nothing was written.</summary>
    PoolFull,
}

/// <summary>A device's current identity certificate, signed prekey and last-resort KEM prekey, as encoded.</summary>
public sealed record DevicePrekeyRecord(Guid DeviceId, byte[] Identity, byte[] SignedPrekey, byte[] KemPrekey);

/// <summary>What the provider holds for a device: the current prekeys (null before the first publication) and the live pool sizes.</summary>
public sealed record StoredPrekeyStatus(DevicePrekeyRecord? Current, int OneTime, int OneTimeKem);

/// <summary>A bundle's parts as handed out: the one-time prekeys in it are gone from the pool.</summary>
public sealed record TakenPrekeys(DevicePrekeyRecord Device, byte[]? OneTimePrekey, byte[]? OneTimeKemPrekey);

/// <summary>Prekeys of the native protocol, per device (both backends, same behaviour).</summary>
public interface IPrekeyStore
{
    /// <summary>Replaces the device's identity (and signed and last-resort prekeys when given) and adds one-time prekeys; all or nothing.</summary>
    Task<PublishPrekeysOutcome> PublishPrekeysAsync(Guid accountId, Guid deviceId, PrekeyPublication publication, int maxPoolPerKind, DateTimeOffset now, CancellationToken ct);

    /// <summary>The device's current prekeys and live pool sizes.</summary>
    Task<StoredPrekeyStatus> GetPrekeyStatusAsync(Guid deviceId, DateTimeOffset now, CancellationToken ct);

    /// <summary>
    /// One bundle per active device of the account that published prekeys, each with at most one unexpired one-time
    /// prekey of each kind, removed from the pool in the same transaction (so no two callers get the same one).
    /// </summary>
    Task<IReadOnlyList<TakenPrekeys>> TakePrekeysAsync(Guid accountId, DateTimeOffset now, CancellationToken ct);
}
