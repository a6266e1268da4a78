using System.Text;
using Letterlock.Client.Mail;
using Letterlock.Client.Store;
using Letterlock.Client.Sync;
using Org.BouncyCastle.Bcpg.OpenPgp;
using Org.BouncyCastle.Crypto.Parameters;

namespace Letterlock.Client.Tests.Sync;

/// <summary>
/// DESIGN.md invariant 2: the provider never receives a password or an unwrapped private key. Every byte the
/// client sends to a real provider (request line, headers, bodies) through registration, sync, pushes and key
/// updates is recorded, and so is everything the provider wrote to disk; no secret appears in any encoding.
/// </summary>
public sealed class SecretsStayOnTheDeviceTests : IAsyncLifetime
{
    private const string Passphrase = "correct horse battery staple 7141";
    private readonly TempDir _dir = new();
    private readonly RecordingHandler _recorder = new();
    private LocalProvider _provider = null!;

    public async Task InitializeAsync() => _provider = await LocalProvider.StartAsync(_dir, _recorder);

    public async Task DisposeAsync()
    {
        await _provider.DisposeAsync();
        _dir.Dispose();
    }

    [Fact]
    public async Task Registration_sync_pushes_and_key_updates_send_no_secret_and_leave_none_on_the_provider()
    {
        using var store = await LocalStore.CreateAsync(_dir.File("device.db"), StoreUnlock.WithPassphrase(Passphrase), TestStores.FastOptions());
        var alice = await AccountRegistration.CreateAsync(store, new ProviderClient(_provider.Http, new Uri("https://alpha.test/")), "alice@alpha.test", "Alice");

        await _provider.DeliverAsync("hello", "body");

        var provider = await AccountRegistration.ConnectAsync(store, alice, _provider.Http);
        var engine = new SyncEngine(store, alice, provider);
        Assert.Equal(1, (await engine.SyncAsync()).Received);
        var inbox = (await store.Mail(alice.Id).FindFolderAsync("INBOX"))!;
        var received = Assert.Single(await store.Mail(alice.Id).ListAsync(inbox.Id));
        _ = (await store.Mail(alice.Id).SetFlagsAsync([received.Id], FlagOperation.Add, ["\\Seen"])).Done.Single();
        Assert.Equal(1, (await engine.SyncAsync()).Pushed);
        var certificate = (await AccountKeys.LoadOpenPgpAsync(store, alice.Id)).Certificate.Export(armored: false);
        var inboxSecret = (await store.Keys.GetCurrentAsync(alice.Id, AccountKeys.InboxXWingSecret))!.Material;
        using (var inboxPair = Letterlock.Cryptography.XWingKeyPair.FromPrivateKey(inboxSecret))
        {
            await provider.UpdateKeysAsync(new Letterlock.Api.UpdateKeysRequest(certificate, inboxPair.PublicKey.ToArray()));
        }

        // The recovery slot and the key bundle: the AMK, the private keys and the code reach the provider only sealed.
        var code = await Letterlock.Client.Accounts.AccountRecovery.CreateCodeAsync(store, alice, provider);
        using var recoveryKeys = Letterlock.Client.Accounts.AccountKeyWrap.RecoveryKeyPair(code);

        var secrets = new List<(string What, byte[] Bytes)>
        {
            ("inbox secret key", inboxSecret),
            ("device secret key", (await store.Keys.GetCurrentAsync(alice.Id, AccountKeys.DeviceSecret))!.Material),
            ("account master key", (await store.Keys.GetCurrentAsync(alice.Id, AccountKeys.AccountMasterKey))!.Material),
            ("store passphrase", Encoding.UTF8.GetBytes(Passphrase)),
        };
        secrets.AddRange(OpenPgpSecretScalars((await store.Keys.GetCurrentAsync(alice.Id, AccountKeys.OpenPgpSecret))!.Material));
        secrets.Add(("recovery code", Encoding.ASCII.GetBytes(code.ToString())));
        secrets.Add(("recovery code without dashes", Encoding.ASCII.GetBytes(code.ToString().Replace("-", "", StringComparison.Ordinal))));
        secrets.Add(("recovery wrap private key", recoveryKeys.PrivateKey.ToArray()));
        secrets.Add(("recovery auth seed", code.DeriveKey("recovery auth")));
        Assert.Equal(12, secrets.Count); // four, the Ed25519 primary and the Cv25519 subkey in both byte orders, four of the recovery code

        Assert.True(_recorder.Requests.Count >= 6, $"only {_recorder.Requests.Count} requests were recorded");
        foreach (var (request, index) in _recorder.Requests.Select((r, i) => (r, i)))
        {
            AssertFree(request, $"request {index}", secrets);
        }

        foreach (var file in Directory.GetFiles(_provider.DataDirectory, "*", SearchOption.AllDirectories))
        {
            using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            var content = new byte[stream.Length];
            stream.ReadExactly(content);
            AssertFree(content, file, secrets);
        }
    }

    /// <summary>The raw secret scalars of every key in an unprotected transferable secret key.</summary>
    private static IEnumerable<(string What, byte[] Bytes)> OpenPgpSecretScalars(byte[] transferableSecretKey)
    {
        foreach (PgpSecretKey key in new PgpSecretKeyRing(transferableSecretKey).GetSecretKeys())
        {
            byte[] scalar = key.ExtractPrivateKey([]).Key switch
            {
                Ed25519PrivateKeyParameters ed => ed.GetEncoded(),
                X25519PrivateKeyParameters x => x.GetEncoded(),
                var other => throw new InvalidOperationException($"unexpected key type {other.GetType().Name}"),
            };
            yield return ($"OpenPGP secret {key.KeyId:X16}", scalar);
            yield return ($"OpenPGP secret {key.KeyId:X16} (reversed)", scalar.Reverse().ToArray());
        }
    }

    private static void AssertFree(byte[] haystack, string where, IEnumerable<(string What, byte[] Bytes)> secrets)
    {
        foreach (var (what, secret) in secrets)
        {
            foreach (var encoded in Encodings(secret))
            {
                Assert.True(haystack.AsSpan().IndexOf(encoded) < 0, $"{where} contains the {what}");
            }
        }
    }

    private static IEnumerable<byte[]> Encodings(byte[] secret)
    {
        yield return secret;
        yield return Encoding.ASCII.GetBytes(Convert.ToHexStringLower(secret));
        yield return Encoding.ASCII.GetBytes(Convert.ToHexString(secret));
        // Inside a longer base64 text the secret starts at one of three alignments: for each, the characters
        // that depend only on the secret's bytes (the first and last group may mix with its neighbours).
        for (int offset = 0; offset < 3; offset++)
        {
            string base64 = Convert.ToBase64String([.. new byte[offset], .. secret]);
            string middle = base64[4..^4];
            yield return Encoding.ASCII.GetBytes(middle);
            yield return Encoding.ASCII.GetBytes(middle.Replace('+', '-').Replace('/', '_'));
        }
    }

    /// <summary>Keeps a copy of every request as it goes on the wire: request line, headers and body.</summary>
    private sealed class RecordingHandler : DelegatingHandler
    {
        private readonly object _gate = new();

        public List<byte[]> Requests { get; } = [];

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var copy = new MemoryStream();
            copy.Write(Encoding.UTF8.GetBytes($"{request.Method} {request.RequestUri}\r\n{request.Headers}"));
            if (request.Content is not null)
            {
                byte[] body = await request.Content.ReadAsByteArrayAsync(cancellationToken);
                copy.Write(Encoding.UTF8.GetBytes(request.Content.Headers.ToString()));
                copy.Write(body);
            }

            lock (_gate)
            {
                Requests.Add(copy.ToArray());
            }

            return await base.SendAsync(request, cancellationToken);
        }
    }
}
