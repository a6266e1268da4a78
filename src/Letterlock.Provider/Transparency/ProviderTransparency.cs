using System.Security.Cryptography;
using Letterlock.Provider.Configuration;
using Letterlock.Provider.Storage;
using Letterlock.Transparency;
using Microsoft.Extensions.Logging;
using NSec.Cryptography;

namespace Letterlock.Provider.Transparency;

/// <summary>
/// Where <see cref="Accounts.AccountService"/> (and the admin commands) report key changes: before the change
/// is written (<see cref="AnnounceAsync"/>) and after it committed (<see cref="RecordAsync"/>). Both queue the
/// account for the next epoch durably, so neither a crash between the change and the queue entry nor an epoch
/// published between the two loses the change: the publisher reads the account's state when it publishes and
/// skips key sets that did not change.
/// </summary>
public interface IKeyChangeRecorder
{
    /// <summary>Called before a change to <paramref name="accountId"/>'s published keys is written.</summary>
    Task AnnounceAsync(Guid accountId, CancellationToken ct);

    /// <summary>Called after a change to <paramref name="accountId"/>'s published keys committed.</summary>
    Task RecordAsync(Guid accountId, CancellationToken ct);
}

/// <summary>
/// The provider's key-transparency service: the <see cref="TransparencyDirectory"/> over the provider's database,
/// the queue of key changes, and the publisher that turns them into one signed epoch every
/// <see cref="TransparencySettings.EpochIntervalSeconds"/> when anything changed.
/// </summary>
/// <remarks>
/// The key set of an address is computed from the account as stored: the OpenPGP certificate's fingerprint, the
/// inbox key, the active devices' keys (sorted by bytes) and <c>revoked</c> = the account is disabled.
/// The heads are signed with the provider's Ed25519 <c>signingKey</c>; the ECVRF key is derived from the same
/// seed with HKDF-SHA256 (info <c>letterlock-kt-vrf-key-v1</c>), so no second secret needs keeping.
/// </remarks>
public sealed class ProviderTransparency : IKeyChangeRecorder, ITransparencySource, IAsyncDisposable
{
    private readonly IProviderStore _accounts;
    private readonly ProviderSettings _settings;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Key _signingKey;
    private readonly EcVrfSecretKey _vrfKey;
    private readonly SemaphoreSlim _publishing = new(1, 1);
    private CancellationTokenSource? _stop;
    private Task? _loop;

    private ProviderTransparency(IProviderStore accounts, ProviderSettings settings, SqlTransparencyStore store, Key signingKey, EcVrfSecretKey vrfKey, TimeProvider time, ILogger logger)
    {
        _accounts = accounts;
        _settings = settings;
        _time = time;
        _logger = logger;
        _signingKey = signingKey;
        _vrfKey = vrfKey;
        Store = store;
        Limits = TransparencyLimits.Default with { MaxMonitorEntries = settings.Transparency.MaxMonitorEntries };
        Directory = new TransparencyDirectory(settings.Domain, signingKey, vrfKey, store, Limits);
        SigningPublicKey = signingKey.PublicKey.Export(KeyBlobFormat.RawPublicKey);
    }

    /// <summary>The directory (lookups, monitoring, consistency, heads).</summary>
    public TransparencyDirectory Directory { get; }

    /// <summary>The tables.</summary>
    public SqlTransparencyStore Store { get; }

    /// <summary>Limits applied to what the directory serves.</summary>
    public TransparencyLimits Limits { get; }

    /// <summary>The provider's name in every head.</summary>
    public string ProviderName => _settings.Domain;

    /// <summary>The public key clients verify heads with.</summary>
    public byte[] SigningPublicKey { get; }

    /// <summary>The settings of the transparency API.</summary>
    public TransparencySettings Settings => _settings.Transparency;

    /// <summary>Raised after an epoch was committed (tests wait for it).</summary>
    public event Action<SignedTreeHead>? Published;

    /// <summary>Loads the keys, opens the tables in the provider's database and creates them when missing.</summary>
    /// <exception cref="SettingsException">The signing key cannot be read.</exception>
    public static async Task<ProviderTransparency> OpenAsync(IProviderStore accounts, ProviderSettings settings, TimeProvider time, ILogger logger, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(settings);
        byte[] seed = LoadSigningSeed(settings.ResolvePath(settings.SigningKey));
        Key? signingKey = null;
        EcVrfSecretKey? vrfKey = null;
        SqlTransparencyStore? store = null;
        try
        {
            signingKey = Key.Import(SignatureAlgorithm.Ed25519, seed, KeyBlobFormat.RawPrivateKey);
            vrfKey = new EcVrfSecretKey(DeriveVrfSeed(seed));
            store = new SqlTransparencyStore(TransparencyDatabase.For(DatabaseLocation.Parse(settings.Database, settings.DataDirectory)), settings.Transparency.NodeCacheSize);
            await store.InitializeAsync(ct).ConfigureAwait(false);
            return new ProviderTransparency(accounts, settings, store, signingKey, vrfKey, time, logger);
        }
        catch
        {
            signingKey?.Dispose();
            vrfKey?.Dispose();
            if (store is not null)
            {
                await store.DisposeAsync().ConfigureAwait(false);
            }

            throw;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(seed);
        }
    }

    /// <summary>The ECVRF seed derived from the signing key's seed (documented in docs/design/transparency.md).</summary>
    public static byte[] DeriveVrfSeed(ReadOnlySpan<byte> signingSeed) =>
        HKDF.DeriveKey(HashAlgorithmName.SHA256, signingSeed.ToArray(), EcVrf.KeyLength, [], "letterlock-kt-vrf-key-v1"u8.ToArray());

    /// <summary>
    /// Starts publishing: the first epoch at once when there is none (with every existing account), then every
    /// interval whatever is queued. A failed round is logged and retried at the next tick.
    /// </summary>
    public async Task StartAsync(CancellationToken ct)
    {
        if (await Store.GetLatestHeadAsync(ct).ConfigureAwait(false) is null)
        {
            await Store.EnqueueAllAccountsAsync(_time.GetUtcNow(), ct).ConfigureAwait(false);
        }

        await PublishPendingAsync(ct).ConfigureAwait(false);
        _stop = new CancellationTokenSource();
        _loop = LoopAsync(_stop.Token);
    }

    /// <inheritdoc />
    public async Task AnnounceAsync(Guid accountId, CancellationToken ct) =>
        await Store.EnqueueAsync(accountId, _time.GetUtcNow(), ct).ConfigureAwait(false);

    /// <inheritdoc />
    public async Task RecordAsync(Guid accountId, CancellationToken ct) =>
        await Store.EnqueueAsync(accountId, _time.GetUtcNow(), ct).ConfigureAwait(false);

    /// <summary>
    /// Publishes one epoch with the queued changes whose key sets differ from the published ones (at most
    /// <see cref="TransparencySettings.MaxChangesPerEpoch"/>); publishes epoch 0 even when empty. Returns the
    /// new head, or null when nothing changed or another node is publishing.
    /// </summary>
    public async Task<SignedTreeHead?> PublishPendingAsync(CancellationToken ct)
    {
        await _publishing.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var publisherLock = await Store.Database.TryLockPublisherAsync(ct).ConfigureAwait(false);
            if (publisherLock is null)
            {
                return null;
            }

            await using (publisherLock.ConfigureAwait(false))
            {
                var clock = System.Diagnostics.Stopwatch.StartNew();
                var latest = await Store.GetLatestHeadAsync(ct).ConfigureAwait(false);
                bool first = latest is null;
                var pending = await Store.GetPendingAsync(Settings.MaxChangesPerEpoch, ct).ConfigureAwait(false);

                // Key sets from the accounts as stored now; reads and certificate parsing of many accounts overlap.
                var current = new KeySetUpdate?[pending.Count];
                await Parallel.ForAsync(0, pending.Count, new ParallelOptions { MaxDegreeOfParallelism = 8, CancellationToken = ct },
                    async (i, token) => current[i] = await CurrentKeySetAsync(pending[i].AccountId, token).ConfigureAwait(false)).ConfigureAwait(false);
                var candidates = current.OfType<KeySetUpdate>().ToList();
                var published = await Store.GetLatestEntriesAsync(candidates.Select(c => c.Address).ToList(), ct).ConfigureAwait(false);
                var updates = new List<KeySetUpdate>(candidates.Count);
                foreach (var update in candidates)
                {
                    if (published.TryGetValue(update.Address, out var entry) && entry.Keys.Equals(update.Keys))
                    {
                        continue;
                    }

                    if (!WithinLimits(update.Keys))
                    {
                        // Cannot be published (e.g. more devices than a key set may hold): clients see the old key set.
                        Log.TransparencyOverLimit(_logger, update.Address);
                        continue;
                    }

                    updates.Add(update);
                }

                var gathered = clock.Elapsed;

                SignedTreeHead? head = null;
                if (updates.Count > 0 || first)
                {
                    try
                    {
                        // Epoch times never go backwards, even when another node's clock was ahead of this one.
                        var now = _time.GetUtcNow();
                        if (latest is not null && now.ToUnixTimeMilliseconds() < latest.TimestampMs)
                        {
                            now = DateTimeOffset.FromUnixTimeMilliseconds(latest.TimestampMs);
                        }

                        head = await Directory.PublishEpochAsync(updates, now, ct).ConfigureAwait(false);
                    }
                    catch (TransparencyConflictException e)
                    {
                        Log.TransparencyConflict(_logger, e.Message);
                        return null;
                    }
                }

                // Only after the epoch committed: a crash before this leaves the queue entries, and the next round
                // finds their key sets already published and skips them.
                await Store.DequeueAsync(pending, ct).ConfigureAwait(false);
                if (head is not null)
                {
                    Log.TransparencyPublished(_logger, head.Epoch, updates.Count, (long)clock.Elapsed.TotalMilliseconds, (long)gathered.TotalMilliseconds);
                    Published?.Invoke(head);
                }

                return head;
            }
        }
        finally
        {
            _publishing.Release();
        }
    }

    /// <summary>The key set <paramref name="account"/> publishes, from its stored records.</summary>
    public static KeySet KeySetOf(AccountRecord account, IEnumerable<DeviceRecord> devices)
    {
        ArgumentNullException.ThrowIfNull(account);
        ArgumentNullException.ThrowIfNull(devices);
        byte[]? fingerprint = PrimaryKeyFingerprint.TryCompute(account.OpenPgpCertificate);
        if (fingerprint is null)
        {
            try
            {
                fingerprint = Letterlock.OpenPgp.Certificate.Parse(account.OpenPgpCertificate).Fingerprint.ToBytes();
            }
            catch (Letterlock.OpenPgp.OpenPgpException)
            {
                // Only certificates that parse are accepted; an older row that does not publishes no OpenPGP key.
                fingerprint = [];
            }
        }

        var deviceKeys = devices.Where(d => !d.Revoked).Select(d => d.PublicKey).Order(ByteOrder.Instance).Select(k => (ReadOnlyMemory<byte>)k).ToList();
        return new KeySet(fingerprint, account.InboxPublicKey, deviceKeys, account.Status != AccountStatus.Active);
    }

    /// <summary>The canonical address of an account.</summary>
    public string AddressOf(AccountRecord account)
    {
        ArgumentNullException.ThrowIfNull(account);
        return TransparencyAddress.Canonicalize($"{account.LocalPart}@{_settings.Domain}");
    }

    /// <summary>
    /// The lookup proof for the directory answer of <paramref name="account"/>, and whether its current keys are
    /// still waiting for an epoch; null before the first epoch.
    /// </summary>
    public async Task<(LookupProof Proof, bool Pending)?> DirectoryProofAsync(AccountRecord account, IEnumerable<DeviceRecord> devices, CancellationToken ct)
    {
        if (await Store.GetLatestHeadAsync(ct).ConfigureAwait(false) is null)
        {
            return null;
        }

        LookupProof proof = await Directory.LookupAsync(AddressOf(account), ct).ConfigureAwait(false);
        bool pending = proof.Entry is null || !proof.Entry.Keys.Equals(KeySetOf(account, devices));
        return (proof, pending);
    }

    /// <inheritdoc />
    public Task<IReadOnlyList<SignedTreeHead>> GetHeadsAsync(long from, int limit, CancellationToken ct) => Store.GetHeadsAsync(from, limit, ct);

    /// <inheritdoc />
    public async Task<bool> IsPendingAsync(string address, LookupProof proof, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(proof);
        int at = address.LastIndexOf('@');
        var account = at > 0 ? await _accounts.FindAccountAsync(address[..at], ct).ConfigureAwait(false) : null;
        if (account is null)
        {
            return false;
        }

        var devices = await _accounts.ListDevicesAsync(account.Id, ct).ConfigureAwait(false);
        return proof.Entry is null || !proof.Entry.Keys.Equals(KeySetOf(account, devices));
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (_stop is not null)
        {
            await _stop.CancelAsync().ConfigureAwait(false);
            if (_loop is not null)
            {
                await _loop.ConfigureAwait(false);
            }

            _stop.Dispose();
        }

        await Store.DisposeAsync().ConfigureAwait(false);
        _signingKey.Dispose();
        _vrfKey.Dispose();
        _publishing.Dispose();
    }

    private async Task LoopAsync(CancellationToken stop)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(Settings.EpochIntervalSeconds), _time);
        try
        {
            while (await timer.WaitForNextTickAsync(stop).ConfigureAwait(false))
            {
                try
                {
                    await PublishPendingAsync(stop).ConfigureAwait(false);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    Log.TransparencyFailed(_logger, e);
                }
            }
        }
        catch (OperationCanceledException)
        {
            // stopping
        }
    }

    private async Task<KeySetUpdate?> CurrentKeySetAsync(Guid accountId, CancellationToken ct)
    {
        var account = await _accounts.GetAccountAsync(accountId, ct).ConfigureAwait(false);
        if (account is null)
        {
            return null;
        }

        var devices = await _accounts.ListDevicesAsync(accountId, ct).ConfigureAwait(false);
        return new KeySetUpdate(AddressOf(account), KeySetOf(account, devices));
    }

    private bool WithinLimits(KeySet keys) =>
        keys.OpenPgpFingerprint.Length <= Limits.MaxFingerprintLength && keys.InboxKey.Length <= Limits.MaxInboxKeyLength
        && keys.DeviceKeys.Count <= Limits.MaxDeviceKeys && keys.DeviceKeys.All(k => k.Length <= Limits.MaxDeviceKeyLength);

    private static byte[] LoadSigningSeed(string path)
    {
        try
        {
            byte[] seed = Convert.FromBase64String(File.ReadAllText(path).Trim());
            if (seed.Length != 32)
            {
                throw new FormatException("not 32 bytes");
            }

            return seed;
        }
        catch (Exception e) when (e is FormatException or IOException or UnauthorizedAccessException)
        {
            throw new SettingsException($"setting 'signingKey': cannot read an Ed25519 key from {path}");
        }
    }

    private sealed class ByteOrder : IComparer<byte[]>
    {
        public static readonly ByteOrder Instance = new();

        public int Compare(byte[]? x, byte[]? y) => x.AsSpan().SequenceCompareTo(y);
    }
}
