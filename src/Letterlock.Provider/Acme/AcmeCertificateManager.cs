using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Letterlock.Provider.Configuration;
using Letterlock.Provider.Hosting;
using Letterlock.Relay.Tls;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Logging;

namespace Letterlock.Provider.Acme;

/// <summary>
/// Keeps the provider's certificate issued and fresh with ACME: at start and then whenever the certificate nears its
/// end (<c>acme.renewBeforeDays</c>), it orders one for the configured names with the key at tls.key (kept, so a
/// DANE TLSA "3 1 1" record stays true), writes the chain to tls.certificate and hands it to the
/// <see cref="ServerCertificateHolder"/> every listener reads. A failure is logged with the server's problem and
/// retried after <c>acme.retryMinutes</c>; the certificate in use stays until a new one is in hand.
/// </summary>
public sealed class AcmeCertificateManager : IAsyncDisposable
{
    private readonly ProviderSettings _settings;
    private readonly ServerCertificateHolder _holder;
    private readonly AcmeClient _client;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stop = new();
    private readonly SemaphoreSlim _renewing = new(1, 1);
    private Task _loop = Task.CompletedTask;
    private WebApplication? _httpListener;

    private AcmeCertificateManager(ProviderSettings settings, ServerCertificateHolder holder, AcmeClient client, TimeProvider time, ILogger logger)
    {
        _settings = settings;
        _holder = holder;
        _client = client;
        _time = time;
        _logger = logger;
    }

    /// <summary>The challenge answers the listeners serve while an order is in progress.</summary>
    internal AcmeChallengeResponder Challenges { get; } = new();

    /// <summary>The HTTP-01 listener's address, when that challenge is used.</summary>
    public IPEndPoint? HttpEndPoint { get; private set; }

    /// <summary>Requests sent again after a badNonce answer since start.</summary>
    public int BadNonceRetries => _client.BadNonceRetries;

    /// <summary>The last failure, or null after a success.</summary>
    public AcmeException? LastFailure { get; private set; }

    /// <summary>Raised after each failed attempt of the background loop.</summary>
    public event Action<AcmeException>? Failed;

    /// <summary>The certificate's names.</summary>
    public IReadOnlyList<string> Names => _settings.Acme.EffectiveNames(_settings);

    /// <summary>Creates the manager: loads (or creates, mode 0600) the account key.</summary>
    /// <exception cref="SettingsException">The account key cannot be read or written.</exception>
    internal static AcmeCertificateManager Create(ProviderSettings settings, ServerCertificateHolder holder, TimeProvider time, ILogger logger, AcmeClientOptions? clientOptions = null)
    {
        var key = LoadOrCreateAccountKey(settings.ResolvePath(settings.Acme.AccountKey));
        var roots = AcmeSettings.LoadCaBundle(settings);
        var trust = roots is null ? TlsTrust.System : TlsTrust.WithRoots([.. roots]);
        var handler = new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            SslOptions =
            {
                RemoteCertificateValidationCallback = (sender, certificate, chain, errors) =>
                    certificate is X509Certificate2 leaf && trust.Validate(leaf, chain?.ChainElements.Select(e => e.Certificate) ?? [], HostOf(sender), DateTimeOffset.UtcNow) is null,
            },
        };
        var client = new AcmeClient(new Uri(settings.Acme.Directory), key, handler, clientOptions ?? settings.Acme.ClientOptions(), time, logger);
        return new AcmeCertificateManager(settings, holder, client, time, logger);
    }

    /// <summary>Opens the HTTP-01 listener (when that challenge is used) and starts the renewal loop.</summary>
    internal async Task StartAsync(CancellationToken ct)
    {
        if (_settings.Acme.Challenge == "http-01")
        {
            var endPoint = ProviderSettingsLoader.ParseEndPoint(_settings.Acme.HttpListen, "acme.httpListen");
            (_httpListener, HttpEndPoint) = await Challenges.StartHttpListenerAsync(endPoint, _logger, ct);
        }

        _loop = Task.Run(() => LoopAsync(_stop.Token), CancellationToken.None);
    }

    /// <summary>Whether <paramref name="certificate"/> must be replaced now: self-signed, missing a name, or within the renewal window.</summary>
    public bool NeedsRenewal(X509Certificate2 certificate, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        return certificate.SubjectName.RawData.AsSpan().SequenceEqual(certificate.IssuerName.RawData)
            || Names.Any(n => !certificate.MatchesHostname(n, allowWildcards: true, allowCommonName: false))
            || now >= RenewalTime(certificate);
    }

    /// <summary>
    /// acme.renewBeforeDays before the end, but never earlier than two thirds into the certificate's life: a CA that
    /// issues certificates shorter than the window (short-lived ones of a few days) must not be asked again at once.
    /// </summary>
    private DateTimeOffset RenewalTime(X509Certificate2 certificate)
    {
        var notBefore = new DateTimeOffset(certificate.NotBefore.ToUniversalTime(), TimeSpan.Zero);
        var notAfter = new DateTimeOffset(certificate.NotAfter.ToUniversalTime(), TimeSpan.Zero);
        var window = TimeSpan.FromDays(_settings.Acme.RenewBeforeDays);
        var third = (notAfter - notBefore) / 3;
        return notAfter - (window < third ? window : third);
    }

    /// <summary>
    /// Obtains a certificate now, writes it to tls.certificate and makes it the one every listener uses. On failure
    /// nothing is written and the current certificate stays.
    /// </summary>
    /// <exception cref="AcmeException">The ACME server refused or a challenge failed; the message names the domain and the problem.</exception>
    public async Task<ServerCertificate> RenewAsync(CancellationToken ct)
    {
        await _renewing.WaitAsync(ct);
        try
        {
            var names = Names;
            var current = _holder.Current.Leaf;
            byte[] csr;
            using (var ecdsa = current.GetECDsaPrivateKey())
            using (var rsa = ecdsa is null ? current.GetRSAPrivateKey() : null)
            {
                var request = ecdsa is not null
                    ? new CertificateRequest($"CN={names[0]}", ecdsa, HashAlgorithmName.SHA256)
                    : new CertificateRequest($"CN={names[0]}", rsa ?? throw new AcmeException("the key at tls.key is neither ECDSA nor RSA"), HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
                var san = new SubjectAlternativeNameBuilder();
                foreach (string name in names)
                {
                    san.AddDnsName(name);
                }

                request.CertificateExtensions.Add(san.Build());
                csr = request.CreateSigningRequest();
            }

            Log.AcmeOrdering(_logger, string.Join(", ", names), _settings.Acme.Directory, _settings.Acme.Challenge);
            string chain = await _client.ObtainAsync(names, _settings.Acme.Challenge, Challenges, csr,
                _settings.Acme.Contact.Length > 0 ? ["mailto:" + _settings.Acme.Contact] : [], ct);

            string certificatePath = _settings.ResolvePath(_settings.Tls.Certificate);
            string keyPath = _settings.ResolvePath(_settings.Tls.Key);
            CheckIssued(chain, current, names);
            string temporary = certificatePath + ".acme-new";
            await File.WriteAllTextAsync(temporary, chain, ct);
            var next = ServerCertificate.Load(temporary, keyPath);
            File.Move(temporary, certificatePath, overwrite: true);
            _holder.Replace(next);
            LastFailure = null;
            Log.AcmeIssued(_logger, string.Join(", ", names), next.Leaf.SerialNumber, next.Leaf.NotAfter.ToUniversalTime());
            return next;
        }
        finally
        {
            _renewing.Release();
        }
    }

    /// <summary>The issued chain must be for our key and every name asked for: a CA's mistake must not replace a working certificate.</summary>
    private static void CheckIssued(string chainPem, X509Certificate2 current, IReadOnlyList<string> names)
    {
        X509Certificate2 leaf;
        try
        {
            leaf = X509Certificate2.CreateFromPem(chainPem);
        }
        catch (CryptographicException e)
        {
            throw new AcmeException($"the ACME server's certificate chain cannot be read ({e.Message})");
        }

        using (leaf)
        {
            if (!leaf.PublicKey.ExportSubjectPublicKeyInfo().AsSpan().SequenceEqual(current.PublicKey.ExportSubjectPublicKeyInfo()))
            {
                throw new AcmeException("the ACME server issued a certificate for another key than the one at tls.key");
            }

            if (names.FirstOrDefault(n => !leaf.MatchesHostname(n, allowWildcards: false, allowCommonName: false)) is { } missing)
            {
                throw new AcmeException("the ACME server issued a certificate without a name that was asked for", missing);
            }
        }
    }

    private async Task LoopAsync(CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            TimeSpan wait;
            var now = _time.GetUtcNow();
            if (NeedsRenewal(_holder.Current.Leaf, now))
            {
                try
                {
                    var renewed = await RenewAsync(stop);
                    wait = Until(RenewalTime(renewed.Leaf), now);
                }
                catch (AcmeException e)
                {
                    LastFailure = e;
                    wait = TimeSpan.FromMinutes(_settings.Acme.RetryMinutes);
                    if (e.RetryAfter is { } retryAfter && retryAfter > wait)
                    {
                        wait = retryAfter;
                    }

                    Log.AcmeFailed(_logger, e.Message, wait.TotalMinutes);
                    Failed?.Invoke(e);
                }
                catch (OperationCanceledException) when (stop.IsCancellationRequested)
                {
                    return; // stopping in the middle of an order: nothing was written
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    var failure = new AcmeException($"obtaining a certificate failed unexpectedly ({e.GetType().Name}: {e.Message})");
                    LastFailure = failure;
                    wait = TimeSpan.FromMinutes(_settings.Acme.RetryMinutes);
                    Log.AcmeFailedUnexpectedly(_logger, e);
                    Failed?.Invoke(failure);
                }
            }
            else
            {
                wait = Until(RenewalTime(_holder.Current.Leaf), now);
            }

            try
            {
                await Task.Delay(wait, _time, stop);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>The wait until <paramref name="when"/>, at most a day: a wall clock that jumps is noticed within a day.</summary>
    private static TimeSpan Until(DateTimeOffset when, DateTimeOffset now) =>
        TimeSpan.FromTicks(Math.Clamp((when - now).Ticks, TimeSpan.FromMinutes(1).Ticks, TimeSpan.FromDays(1).Ticks));

    private static string HostOf(object sender) => sender is System.Net.Security.SslStream { TargetHostName: { Length: > 0 } host } ? host : "";

    private static ECDsa LoadOrCreateAccountKey(string path)
    {
        try
        {
            var key = ECDsa.Create();
            if (File.Exists(path))
            {
                key.ImportFromPem(File.ReadAllText(path));
                AcmeJws.Jwk(key); // P-256 or a clear error
                return key;
            }

            key.GenerateKey(ECCurve.NamedCurves.nistP256);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            using (File.Create(path))
            {
            }

            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            }

            File.WriteAllText(path, key.ExportPkcs8PrivateKeyPem() + "\n");
            return key;
        }
        catch (Exception e) when (e is CryptographicException or IOException or UnauthorizedAccessException or ArgumentException)
        {
            throw new SettingsException($"setting 'acme.accountKey': cannot read or create the ACME account key {path} ({e.Message})");
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _loop;
        if (_httpListener is not null)
        {
            await _httpListener.StopAsync();
            await _httpListener.DisposeAsync();
        }

        _client.Dispose();
        _stop.Dispose();
        _renewing.Dispose();
    }
}
