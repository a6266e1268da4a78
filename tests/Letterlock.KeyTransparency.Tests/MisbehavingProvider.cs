using System.Net;
using System.Text.Json;
using Letterlock.Api;
using Letterlock.Provider.Configuration;
using Letterlock.Provider.Transparency;
using Letterlock.Transparency;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using NSec.Cryptography;
using ApiDirectoryEntry = Letterlock.Api.DirectoryEntry;

namespace Letterlock.KeyTransparency.Tests;

/// <summary>
/// One version of a provider's directory: its own log and prefix tree (in memory), signed with the provider's
/// keys, and the certificates its JSON directory hands out. A misbehaving provider keeps several.
/// </summary>
internal sealed class DirectoryFork : ITransparencySource
{
    private readonly VersionHidingStore _store = new();
    private readonly Dictionary<string, byte[]> _certificates = new(StringComparer.Ordinal);
    private long _clock;

    public DirectoryFork(MisbehavingProvider provider, long startMs, TransparencyLimits? limits = null)
    {
        Directory = new TransparencyDirectory(provider.Domain, provider.SigningKey, provider.VrfKey, _store, limits);
        _clock = startMs;
    }

    public string ProviderName => MisbehavingProvider.DomainName;

    public TransparencyDirectory Directory { get; }

    /// <summary>Addresses whose next change reuses their current version number (a change hidden from monitors).</summary>
    public HashSet<string> HideVersionBumps => _store.Hidden;

    /// <summary>Publishes an epoch setting the given key sets (and the certificates the JSON directory serves).</summary>
    public Task<SignedTreeHead> PublishAsync(params (string Address, KeySet Keys, byte[]? Certificate)[] updates)
    {
        foreach (var (address, _, certificate) in updates)
        {
            if (certificate is not null)
            {
                _certificates[address] = certificate;
            }
        }

        // An epoch is stamped with the time it is published (never going backwards), as a provider does: clients take
        // versions published before they held the account as their baseline, so a fixed step from the fork's start
        // would fall behind real time on a slow machine and turn a later swap into "history".
        _clock = Math.Max(_clock + 1, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        return Directory.PublishEpochAsync(updates.Select(u => new KeySetUpdate(u.Address, u.Keys)).ToList(), DateTimeOffset.FromUnixTimeMilliseconds(_clock), default);
    }

    public byte[]? Certificate(string address) => _certificates.GetValueOrDefault(address);

    public async Task<IReadOnlyList<SignedTreeHead>> GetHeadsAsync(long from, int limit, CancellationToken ct)
    {
        var heads = new List<SignedTreeHead>();
        for (long e = from; e < from + limit && await _store.GetHeadAsync(e, ct) is { } head; e++)
        {
            heads.Add(head);
        }

        return heads;
    }

    public Task<bool> IsPendingAsync(string address, LookupProof proof, CancellationToken ct) => Task.FromResult(false);
}

/// <summary>
/// A test double of a provider's directory and transparency endpoints (not of the client): real HTTPS, the real
/// <see cref="TransparencyEndpoints"/> and wire contracts, over directory forks the test controls. Each
/// <see cref="ServeAsync"/> starts a listener showing one fork, so two clients can be shown two different
/// directories (split view), and a fork can be replaced under a running listener (history rewrite).
/// </summary>
internal sealed class MisbehavingProvider : IAsyncDisposable
{
    public const string DomainName = "example.test";
    private readonly List<WebApplication> _apps = [];

    public MisbehavingProvider()
    {
        SigningKey = Key.Create(SignatureAlgorithm.Ed25519, new KeyCreationParameters { ExportPolicy = KeyExportPolicies.AllowPlaintextExport });
        VrfKey = EcVrfSecretKey.Generate(out _);
        AnnouncedSigningKey = SigningKey.PublicKey.Export(KeyBlobFormat.RawPublicKey);
    }

    public string Domain => DomainName;

    public Key SigningKey { get; }

    public EcVrfSecretKey VrfKey { get; }

    /// <summary>The key <c>/.well-known/letterlock</c> announces (a test may change it).</summary>
    public byte[] AnnouncedSigningKey { get; set; }

    public DirectoryFork NewFork(TransparencyLimits? limits = null) => new(this, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), limits);

    /// <summary>A listener showing <paramref name="view"/>'s current fork; returns its endpoint.</summary>
    public async Task<IPEndPoint> ServeAsync(View view)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        var certificate = TestCa.ServerCertificate(DomainName, "localhost");
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, l => l.UseHttps(certificate)));
        var app = builder.Build();
        app.MapGet("/.well-known/letterlock", context => Json(context, new ProviderInfo(DomainName, 1, "open", AnnouncedSigningKey, 1 << 20), ApiJsonContext.Default.ProviderInfo));
        app.MapGet("/v1/directory/{address}", async context =>
        {
            string address = TransparencyAddress.Canonicalize((string)context.Request.RouteValues["address"]!);
            var fork = view.Current;
            var proof = await fork.Directory.LookupAsync(view.ServeProofOf ?? address, context.RequestAborted);
            if (proof.Entry is null || fork.Certificate(address) is not { } certificate)
            {
                context.Response.StatusCode = 404;
                return;
            }

            await Json(context, new ApiDirectoryEntry(address, certificate, proof.Entry.Keys.InboxKey.ToArray(), [], DateTimeOffset.UtcNow,
                view.OmitProofs ? null : new DirectoryTransparency(proof.Head.Epoch, proof.ToBytes(), view.ClaimPending)), ApiJsonContext.Default.DirectoryEntry);
        });
        app.Use(async (context, next) =>
        {
            // A provider that cannot (or will not) serve some of its own stored epochs.
            const string Epochs = "/v1/transparency/epochs/";
            string path = context.Request.Path.Value ?? "";
            if (path.StartsWith(Epochs, StringComparison.Ordinal) && long.TryParse(path[Epochs.Length..], out long epoch) && view.BrokenEpochs.Contains(epoch))
            {
                context.Response.StatusCode = 500;
                return;
            }

            await next(context);
        });
        new TransparencyEndpoints(view, new TransparencySettings { EpochIntervalSeconds = view.EpochIntervalSeconds }, TransparencyLimits.Default).Map(app);
        await app.StartAsync();
        _apps.Add(app);
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        return new IPEndPoint(IPAddress.Loopback, new Uri(address).Port);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var app in _apps)
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }

        SigningKey.Dispose();
        VrfKey.Dispose();
    }

    private static async Task Json<T>(HttpContext context, T value, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type)
    {
        context.Response.ContentType = "application/json";
        await JsonSerializer.SerializeAsync(context.Response.Body, value, type);
    }

    /// <summary>What one listener shows: a fork the test may swap.</summary>
    internal sealed class View(DirectoryFork fork) : ITransparencySource
    {
        public DirectoryFork Current { get; set; } = fork;

        /// <summary>The directory serves keys without their lookup proof.</summary>
        public bool OmitProofs { get; set; }

        /// <summary>The directory answers every lookup with the proof of this address instead (a proof that does not verify).</summary>
        public string? ServeProofOf { get; set; }

        /// <summary>The directory says every key is newer than its newest epoch.</summary>
        public bool ClaimPending { get; set; }

        /// <summary>Epochs whose audit record the provider answers with HTTP 500.</summary>
        public HashSet<long> BrokenEpochs { get; } = [];

        /// <summary>The publication interval the provider announces (set before serving).</summary>
        public int EpochIntervalSeconds { get; init; } = 5;

        public string ProviderName => DomainName;

        public TransparencyDirectory Directory => Current.Directory;

        public Task<IReadOnlyList<SignedTreeHead>> GetHeadsAsync(long from, int limit, CancellationToken ct) => Current.GetHeadsAsync(from, limit, ct);

        public Task<bool> IsPendingAsync(string address, LookupProof proof, CancellationToken ct) => Current.IsPendingAsync(address, proof, ct);
    }
}

/// <summary>The in-memory store, except that it understates the latest version of some addresses to the directory.</summary>
internal sealed class VersionHidingStore : ITransparencyStore
{
    private readonly InMemoryTransparencyStore _inner = new();

    public HashSet<string> Hidden { get; } = new(StringComparer.Ordinal);

    public ValueTask<PrefixNode?> GetPrefixNodeAsync(Hash256 hash, CancellationToken cancellationToken) => _inner.GetPrefixNodeAsync(hash, cancellationToken);

    public ValueTask<Hash256> GetLogNodeAsync(int level, long index, CancellationToken cancellationToken) => _inner.GetLogNodeAsync(level, index, cancellationToken);

    public ValueTask<SignedTreeHead?> GetHeadAsync(long epoch, CancellationToken cancellationToken) => _inner.GetHeadAsync(epoch, cancellationToken);

    public ValueTask<SignedTreeHead?> GetLatestHeadAsync(CancellationToken cancellationToken) => _inner.GetLatestHeadAsync(cancellationToken);

    public async ValueTask<AddressRecord?> GetAddressAsync(string address, CancellationToken cancellationToken)
    {
        var record = await _inner.GetAddressAsync(address, cancellationToken);
        return record is not null && Hidden.Contains(address) ? record with { LatestVersion = record.LatestVersion - 1 } : record;
    }

    public ValueTask<Letterlock.Transparency.DirectoryEntry?> GetAddressVersionAsync(string address, ulong version, CancellationToken cancellationToken) =>
        _inner.GetAddressVersionAsync(address, version, cancellationToken);

    public ValueTask<EpochAudit?> GetEpochAuditAsync(long epoch, CancellationToken cancellationToken) => _inner.GetEpochAuditAsync(epoch, cancellationToken);

    public ValueTask CommitEpochAsync(EpochCommit commit, CancellationToken cancellationToken) => _inner.CommitEpochAsync(commit, cancellationToken);
}
