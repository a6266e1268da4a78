using System.Globalization;
using System.Text;
using Letterlock.Api;
using Letterlock.Client.Store;
using Letterlock.Client.Sync;
using Letterlock.Native;

namespace Letterlock.Client.Native;

/// <summary>The schedule of a device's prekeys (docs/design/native-protocol.md, "Prekeys through the provider").</summary>
public sealed record PrekeyOptions
{
    /// <summary>The defaults: weekly rotation, valid 14 days, kept 30 days after expiry, a pool of 100 refilled below 25, checked hourly.</summary>
    public static PrekeyOptions Default { get; } = new();

    /// <summary>How often the signed and last-resort prekeys are replaced.</summary>
    public TimeSpan RotationInterval { get; init; } = TimeSpan.FromDays(7);

    /// <summary>How long a signed or last-resort prekey is valid (a sender refuses it afterwards).</summary>
    public TimeSpan SignedPrekeyValidity { get; init; } = TimeSpan.FromDays(14);

    /// <summary>How long a one-time prekey is valid.</summary>
    public TimeSpan OneTimePrekeyValidity { get; init; } = TimeSpan.FromDays(28);

    /// <summary>How long private prekeys are kept after they expire, for session starts still in the mail.</summary>
    public TimeSpan RetentionAfterExpiry { get; init; } = TimeSpan.FromDays(30);

    /// <summary>One-time prekeys of each kind the provider should hold after a refill.</summary>
    public int PoolSize { get; init; } = 100;

    /// <summary>A refill happens when the provider holds fewer than this many of a kind.</summary>
    public int RefillBelow { get; init; } = 25;

    /// <summary>How often the sync loop asks the provider how many are left.</summary>
    public TimeSpan CheckInterval { get; init; } = TimeSpan.FromHours(1);

    /// <summary>Throws when the values contradict each other.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A value is out of range; the message names it.</exception>
    public PrekeyOptions Validate()
    {
        if (RotationInterval <= TimeSpan.Zero || SignedPrekeyValidity <= RotationInterval)
        {
            throw new ArgumentOutOfRangeException(nameof(SignedPrekeyValidity), $"{nameof(SignedPrekeyValidity)} must be longer than a positive {nameof(RotationInterval)}.");
        }

        if (OneTimePrekeyValidity <= TimeSpan.Zero || RetentionAfterExpiry < TimeSpan.Zero || CheckInterval < TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(OneTimePrekeyValidity), "Validity, retention and check interval must not be negative.");
        }

        if (PoolSize is < 1 or > 1000 || RefillBelow < 1 || RefillBelow > PoolSize)
        {
            throw new ArgumentOutOfRangeException(nameof(PoolSize), $"{nameof(PoolSize)} is 1 to 1,000 and {nameof(RefillBelow)} 1 to {nameof(PoolSize)}.");
        }

        return this;
    }
}

/// <summary>What one maintenance run did.</summary>
/// <param name="Checked">False when the last check is younger than <see cref="PrekeyOptions.CheckInterval"/> (nothing was asked).</param>
/// <param name="Rotated">New signed and last-resort prekeys were published.</param>
/// <param name="OneTimeAdded">One-time prekeys published (both kinds).</param>
/// <param name="Deleted">Private prekeys deleted after their retention.</param>
public sealed record PrekeyReport(bool Checked, bool Rotated, int OneTimeAdded, int Deleted);

/// <summary>
/// Keeps a device's prekeys at its provider current: publishes them the first time, rotates the signed and
/// last-resort prekeys on schedule, refills the one-time pools, and deletes private prekeys past their retention.
/// Private prekeys are stored before they are published, so a crash in between leaves unused keys, never
/// published ones without their private halves. The bridge runs it before each account's sync.
/// </summary>
public static class PrekeyMaintenance
{
    /// <summary>Runs one maintenance step for <paramref name="account"/>.</summary>
    /// <param name="store">The local store.</param>
    /// <param name="account">A registered account.</param>
    /// <param name="provider">Its provider, authenticated as this device.</param>
    /// <param name="options">The schedule (default <see cref="PrekeyOptions.Default"/>).</param>
    /// <param name="time">The clock.</param>
    /// <param name="force">Check even when the last check is recent.</param>
    /// <param name="ct">Cancellation.</param>
    /// <exception cref="ProviderUnavailableException">The provider could not be reached (the next run tries again).</exception>
    /// <exception cref="ProviderProblemException">The provider refused the prekeys.</exception>
    public static async Task<PrekeyReport> RunAsync(LocalStore store, AccountRecord account, ProviderClient provider, PrekeyOptions? options = null,
        TimeProvider? time = null, bool force = false, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(account);
        ArgumentNullException.ThrowIfNull(provider);
        options = (options ?? PrekeyOptions.Default).Validate();
        time ??= TimeProvider.System;
        var now = time.GetUtcNow();
        string setting = $"native.{account.Id}.prekeys-checked";
        if (!force && await store.Settings.GetAsync(setting, ct).ConfigureAwait(false) is { } last
            && long.TryParse(Encoding.ASCII.GetString(last), NumberStyles.Integer, CultureInfo.InvariantCulture, out long lastSeconds)
            && now - DateTimeOffset.FromUnixTimeSeconds(lastSeconds) < options.CheckInterval && DateTimeOffset.FromUnixTimeSeconds(lastSeconds) <= now)
        {
            return new PrekeyReport(false, false, 0, 0);
        }

        using var identity = await NativeKeys.LoadIdentityAsync(store, account.Id, ct).ConfigureAwait(false);
        var (prekeys, entries) = await NativeKeys.LoadPrekeysAsync(store, account.Id, ct).ConfigureAwait(false);
        using (prekeys)
        {
            var status = await provider.GetPrekeyStatusAsync(ct).ConfigureAwait(false);
            bool rotate = status.SignedPrekeyId is not uint signedId || status.KemPrekeyId is not uint kemId
                || status.SignedPrekeyExpiresAt is not { } expires || expires - now < options.SignedPrekeyValidity - options.RotationInterval
                || prekeys.Find(PrekeyKind.Signed, signedId) is null || prekeys.Find(PrekeyKind.LastResortKem, kemId) is null;

            var fresh = new List<PrivatePrekey>();
            if (rotate)
            {
                fresh.Add(prekeys.Generate(identity, PrekeyKind.Signed, now + options.SignedPrekeyValidity));
                fresh.Add(prekeys.Generate(identity, PrekeyKind.LastResortKem, now + options.SignedPrekeyValidity));
            }

            foreach (var (kind, held) in new[] { (PrekeyKind.OneTime, status.OneTimePrekeys), (PrekeyKind.OneTimeKem, status.OneTimeKemPrekeys) })
            {
                if (held < options.RefillBelow)
                {
                    for (int i = held; i < options.PoolSize; i++)
                    {
                        fresh.Add(prekeys.Generate(identity, kind, now + options.OneTimePrekeyValidity));
                    }
                }
            }

            if (fresh.Count > 0)
            {
                foreach (var prekey in fresh)
                {
                    await store.Keys.AddAsync(account.Id, NativeKeys.PrekeyPurpose, prekey.Export(), ct).ConfigureAwait(false);
                }

                await provider.PublishPrekeysAsync(new PublishPrekeysRequest(
                    identity.Certificate.Encode(),
                    rotate ? fresh[0].Public.Encode() : null,
                    rotate ? fresh[1].Public.Encode() : null,
                    [.. fresh.Skip(rotate ? 2 : 0).Select(p => p.Public.Encode())]), ct).ConfigureAwait(false);
            }

            // Expired prekeys stay for late session starts, then go: a thief who copies the device later
            // cannot recompute sessions started with them.
            int deleted = 0;
            foreach (var prekey in prekeys.All.Where(p => p.Public.ExpiresAt + options.RetentionAfterExpiry <= now).ToList())
            {
                if (entries.TryGetValue((prekey.Public.Kind, prekey.Public.Id), out var entry) && await store.Keys.DeleteAsync(account.Id, entry, ct).ConfigureAwait(false))
                {
                    deleted++;
                }
            }

            await store.Settings.SetAsync(setting, Encoding.ASCII.GetBytes(now.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture)), ct).ConfigureAwait(false);
            return new PrekeyReport(true, rotate, fresh.Count - (rotate ? 2 : 0), deleted);
        }
    }
}
