using System.Net.Sockets;
using System.Text;
using System.Security.Cryptography.X509Certificates;
using Letterlock.Dns;
using Letterlock.Relay.Dkim;
using Letterlock.Relay.Routing;
using Letterlock.Relay.Tls;
using MailKit.Net.Smtp;
using MailKit.Security;
using MimeKit;

namespace Letterlock.Relay.Delivery;

/// <summary>
/// Delivers to one destination domain over one SMTP connection that is reused for every message it is given
/// (per-destination connection reuse). The route (MX hosts, MTA-STS policy) is resolved when the first connection
/// is opened; each MX host's TLS requirement follows, in this order: DANE when the MX and TLSA answers are
/// DNSSEC-validated (RFC 7672), else an MTA-STS <c>enforce</c> policy (RFC 8461), else opportunistic STARTTLS. A
/// host that fails a required policy is skipped and the message is deferred if no host is left: it is never sent
/// in plaintext or over TLS that the policy forbids.
/// </summary>
public sealed class DestinationDeliverer : IAsyncDisposable
{
    private const string CryptographicFailure = "4.7.5";

    private readonly DeliveryAgent _agent;
    private Session? _session;
    private MxRoute? _route;
    private MtaStsLookup? _sts;

    internal DestinationDeliverer(DeliveryAgent agent, string domain)
    {
        _agent = agent;
        Domain = domain;
    }

    /// <summary>The destination domain (ASCII).</summary>
    public string Domain { get; }

    /// <summary>
    /// Sends <paramref name="message"/> to <paramref name="recipients"/> (all in <see cref="Domain"/>): prepares its
    /// transfer encoding for the server, DKIM-signs it and runs one SMTP transaction. Never throws for remote
    /// failures: every recipient gets a <see cref="RecipientResult"/>.
    /// </summary>
    /// <param name="sender">The envelope sender (empty for the null reverse path).</param>
    /// <param name="recipients">The envelope recipients.</param>
    /// <param name="message">The message; it is changed (encoding, signatures), so pass a fresh copy per call.</param>
    /// <param name="ct">Cancels the attempt (the connection is then dropped).</param>
    public async Task<DeliveryAttemptResult> DeliverAsync(string sender, IReadOnlyList<string> recipients, MimeMessage message, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(sender);
        ArgumentNullException.ThrowIfNull(recipients);
        ArgumentNullException.ThrowIfNull(message);
        if (recipients.Count == 0)
        {
            throw new ArgumentException("At least one recipient is required.", nameof(recipients));
        }

        if (_session is not null && !await StillUsableAsync(_session, ct).ConfigureAwait(false))
        {
            await CloseAsync().ConfigureAwait(false);
        }

        if (_session is null)
        {
            var (session, failure) = await OpenAsync(ct).ConfigureAwait(false);
            if (session is null)
            {
                var f = failure!;
                return new DeliveryAttemptResult(
                    recipients.Select(r => new RecipientResult(r, f.Permanent ? RecipientStatus.Failed : RecipientStatus.Deferred, f.EnhancedStatus, f.Reason, null)).ToList(),
                    null);
            }

            _session = session;
        }

        var current = _session;
        var results = await SendAsync(current, sender, recipients, message, ct).ConfigureAwait(false);
        current.LastUsed = _agent.Time.GetUtcNow();
        if (current.Broken)
        {
            await CloseAsync().ConfigureAwait(false);
        }

        return new DeliveryAttemptResult(results, current.Security);
    }

    /// <summary>Ends the SMTP session politely (QUIT) if one is open.</summary>
    public async ValueTask DisposeAsync() => await CloseAsync().ConfigureAwait(false);

    private async Task CloseAsync()
    {
        var session = _session;
        _session = null;
        if (session is null)
        {
            return;
        }

        try
        {
            if (!session.Broken && session.Client.IsConnected)
            {
                using var quit = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                await session.Client.DisconnectAsync(true, quit.Token).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is IOException or SmtpProtocolException or SmtpCommandException or OperationCanceledException or SocketException)
        {
            // the server went away first; nothing to tell it
        }
        finally
        {
            session.Client.Dispose();
        }
    }

    private async Task<bool> StillUsableAsync(Session session, CancellationToken ct)
    {
        if (session.Broken || !session.Client.IsConnected)
        {
            return false;
        }

        if (_agent.Time.GetUtcNow() - session.LastUsed < _agent.Options.ReuseProbeAfterIdle)
        {
            return true;
        }

        try
        {
            await session.Client.NoOpAsync(ct).ConfigureAwait(false);
            return true;
        }
        catch (Exception e) when (e is IOException or SmtpProtocolException or SmtpCommandException or SocketException or TimeoutException)
        {
            session.Broken = true;
            return false;
        }
    }

    private async Task<(Session? Session, DeliveryFailure? Failure)> OpenAsync(CancellationToken ct)
    {
        var options = _agent.Options;
        _route ??= await MxRouter.ResolveAsync(_agent.Dns, Domain, options.MaxMxHosts, ct).ConfigureAwait(false);
        if (_route.Failure is { } routeFailure)
        {
            Log.NoRoute(_agent.Logger, Domain, routeFailure.Reason);
            var failed = _route;
            _route = null; // a temporary DNS failure is looked up again next time
            return (null, failed.Failure);
        }

        if (_sts is null && _agent.MtaSts is not null)
        {
            _sts = await _agent.MtaSts.GetPolicyAsync(Domain, ct).ConfigureAwait(false);
            if (_sts.FailureResultType is not null)
            {
                Log.StsDiscoveryFailed(_agent.Logger, Domain, _sts.FailureResultType, _sts.FailureDetail ?? string.Empty);
                _agent.Reports.RecordFailure(Domain, _sts.Policy is null ? TlsPolicyType.NoPolicyFound : TlsPolicyType.Sts, _sts.FailureResultType, string.Empty);
            }
        }

        var sts = _sts ?? new MtaStsLookup(null);
        var hosts = _route.Hosts;
        if (sts.Mode == MtaStsMode.Enforce)
        {
            hosts = hosts.Where(h => sts.Policy!.Matches(h.Name)).ToList();
            if (hosts.Count == 0)
            {
                Log.TlsPolicyFailure(_agent.Logger, Domain, "(none)", "sts", "no MX host matches the MTA-STS policy");
                _agent.Reports.RecordFailure(Domain, TlsPolicyType.Sts, TlsResultTypes.ValidationFailure, string.Empty);
                return (null, DeliveryFailure.Temporary(CryptographicFailure, "no MX host matches the domain's MTA-STS policy"));
            }
        }
        else if (sts.Mode == MtaStsMode.Testing)
        {
            foreach (var host in _route.Hosts.Where(h => !sts.Policy!.Matches(h.Name)))
            {
                Log.StsTestingFailure(_agent.Logger, Domain, host.Name, "mx-mismatch");
                _agent.Reports.RecordFailure(Domain, TlsPolicyType.Sts, TlsResultTypes.ValidationFailure, host.Name);
            }
        }

        DeliveryFailure? last = null;
        foreach (var host in hosts)
        {
            var (session, failure) = await OpenHostAsync(host, _route.DnssecValidated, sts, ct).ConfigureAwait(false);
            if (session is not null)
            {
                return (session, null);
            }

            // a policy failure outranks "unreachable" in what the sender is told
            if (last is null || failure!.EnhancedStatus == CryptographicFailure)
            {
                last = failure;
            }
        }

        return (null, last ?? DeliveryFailure.Temporary("4.4.1", "no MX host could be reached"));
    }

    private async Task<(Session? Session, DeliveryFailure? Failure)> OpenHostAsync(MxHost host, bool mxValidated, MtaStsLookup sts, CancellationToken ct)
    {
        var options = _agent.Options;
        var addresses = await _agent.Connector.ResolveAsync(host.Name, ct).ConfigureAwait(false);
        if (addresses.Status != DnsStatus.Ok)
        {
            string reason = addresses.Status == DnsStatus.TemporaryFailure ? "address lookup failed" : "host has no address";
            Log.HostUnusable(_agent.Logger, Domain, host.Name, reason);
            return (null, DeliveryFailure.Temporary(addresses.Status == DnsStatus.TemporaryFailure ? "4.4.3" : "4.4.4", $"MX host {host.Name}: {reason}"));
        }

        int port = _agent.Connector.PortFor(host.Name, options.SmtpPort);
        var (requirement, failure) = await TlsRequirementAsync(host, port, mxValidated && addresses.DnssecValidated, sts, ct).ConfigureAwait(false);
        if (requirement is null)
        {
            return (null, failure);
        }

        DeliveryFailure? last = null;
        foreach (var address in addresses.Records.Take(options.MaxAddressesPerHost))
        {
            Socket socket;
            try
            {
                socket = await _agent.Connector.ConnectAsync(address, port, ct).ConfigureAwait(false);
            }
            catch (Exception e) when (e is SocketException or TimeoutException)
            {
                string reason = e is TimeoutException ? "connection timed out" : "connection failed";
                Log.HostUnusable(_agent.Logger, Domain, host.Name, reason);
                last = DeliveryFailure.Temporary("4.4.1", $"MX host {host.Name}: {reason}");
                continue;
            }

            var client = new RelaySmtpClient
            {
                LocalDomain = options.HeloName,
                Timeout = (int)Math.Min(int.MaxValue, options.CommandTimeout.TotalMilliseconds),
                CheckCertificateRevocation = false,
            };
            var check = new CertificateCheck(requirement, host.Name, Domain, _agent.Trust, _agent.Time);
            client.ServerCertificateValidationCallback = check.Validate;
            var secure = requirement.Kind == TlsKind.Opportunistic ? SecureSocketOptions.StartTlsWhenAvailable : SecureSocketOptions.StartTls;
            try
            {
                await client.ConnectAsync(socket, host.Name, port, secure, ct).ConfigureAwait(false);
            }
            catch (NotSupportedException)
            {
                // STARTTLS not offered where the policy requires it
                client.Dispose();
                return (null, PolicyFailure(host, requirement, TlsResultTypes.StartTlsNotSupported));
            }
            catch (SslHandshakeException)
            {
                client.Dispose();
                if (requirement.Kind == TlsKind.Opportunistic && check.Failure is null)
                {
                    // no policy, but the handshake itself failed: never retry in plaintext; try elsewhere or later
                    Log.HostUnusable(_agent.Logger, Domain, host.Name, "TLS handshake failed");
                    last = DeliveryFailure.Temporary(CryptographicFailure, $"MX host {host.Name}: TLS handshake failed");
                    continue;
                }

                return (null, PolicyFailure(host, requirement, check.Failure ?? TlsResultTypes.ValidationFailure));
            }
            catch (Exception e) when (e is IOException or SmtpProtocolException or SmtpCommandException or SocketException or TimeoutException or OperationCanceledException)
            {
                client.Dispose();
                if (e is OperationCanceledException && ct.IsCancellationRequested)
                {
                    throw;
                }

                string reason = e is SmtpCommandException command ? $"greeting refused ({(int)command.StatusCode})" : "no SMTP greeting";
                Log.HostUnusable(_agent.Logger, Domain, host.Name, reason);
                last = DeliveryFailure.Temporary("4.4.2", $"MX host {host.Name}: {reason}");
                continue;
            }

            bool encrypted = client.IsEncrypted;
            if (requirement.Kind == TlsKind.Opportunistic && requirement.StsTesting is not null)
            {
                string? would = encrypted ? check.StsTestingFailure : TlsResultTypes.StartTlsNotSupported;
                if (would is not null)
                {
                    Log.StsTestingFailure(_agent.Logger, Domain, host.Name, would);
                    _agent.Reports.RecordFailure(Domain, TlsPolicyType.Sts, would, host.Name);
                }
                else
                {
                    _agent.Reports.RecordSuccess(Domain, TlsPolicyType.Sts);
                }
            }
            else
            {
                _agent.Reports.RecordSuccess(Domain, requirement.PolicyType);
            }

            bool authenticated = requirement.Kind is TlsKind.Dane or TlsKind.StsEnforce;
            var security = new ConnectionSecurity(host.Name, encrypted, authenticated, requirement.PolicyType, encrypted ? client.SslProtocol.ToString() : null);
            Log.Connected(_agent.Logger, Domain, host.Name, encrypted, authenticated, requirement.Kind.ToString());
            return (new Session(client, host.Name, security) { LastUsed = _agent.Time.GetUtcNow() }, null);
        }

        return (null, last ?? DeliveryFailure.Temporary("4.4.1", $"MX host {host.Name}: no address accepted a connection"));
    }

    private DeliveryFailure PolicyFailure(MxHost host, TlsRequirement requirement, string resultType)
    {
        Log.TlsPolicyFailure(_agent.Logger, Domain, host.Name, requirement.Kind.ToString(), resultType);
        _agent.Reports.RecordFailure(Domain, requirement.PolicyType, resultType, host.Name);
        return DeliveryFailure.Temporary(CryptographicFailure, $"MX host {host.Name}: TLS policy ({requirement.Kind}) not met: {resultType}");
    }

    private async Task<(TlsRequirement? Requirement, DeliveryFailure? Failure)> TlsRequirementAsync(MxHost host, int port, bool secureChain, MtaStsLookup sts, CancellationToken ct)
    {
        if (_agent.Options.Dane && secureChain)
        {
            var tlsa = await _agent.Dns.ResolveTlsaAsync($"_{port}._tcp.{host.Name}", ct).ConfigureAwait(false);
            if (tlsa.Status == DnsStatus.TemporaryFailure)
            {
                // RFC 7672 2.2: a failed TLSA lookup in a signed zone may hide records: neither plaintext nor unauthenticated TLS
                Log.TlsPolicyFailure(_agent.Logger, Domain, host.Name, "Dane", TlsResultTypes.DnssecInvalid);
                _agent.Reports.RecordFailure(Domain, TlsPolicyType.Tlsa, TlsResultTypes.DnssecInvalid, host.Name);
                return (null, DeliveryFailure.Temporary(CryptographicFailure, $"MX host {host.Name}: TLSA lookup failed"));
            }

            if (tlsa.Status == DnsStatus.Ok && tlsa.DnssecValidated)
            {
                var usable = tlsa.Records.Where(Dane.IsUsable).ToList();
                return (new TlsRequirement(usable.Count > 0 ? TlsKind.Dane : TlsKind.DaneEncryptOnly, TlsPolicyType.Tlsa, usable, null), null);
            }
        }

        return sts.Mode switch
        {
            MtaStsMode.Enforce => (new TlsRequirement(TlsKind.StsEnforce, TlsPolicyType.Sts, [], null), null),
            MtaStsMode.Testing => (new TlsRequirement(TlsKind.Opportunistic, TlsPolicyType.Sts, [], sts.Policy), null),
            _ => (new TlsRequirement(TlsKind.Opportunistic, TlsPolicyType.NoPolicyFound, [], null), null),
        };
    }

    private async Task<List<RecipientResult>> SendAsync(Session session, string sender, IReadOnlyList<string> recipients, MimeMessage message, CancellationToken ct)
    {
        var client = session.Client;
        client.ResetRecipients();
        string remote = session.MxHost;

        // Internationalised mail (RFC 6531): domains always travel as A-labels, which every server understands, so
        // only a UTF-8 local part or UTF-8 in the header section (RFC 6532) needs SMTPUTF8. Without it at the next
        // hop such a recipient fails for good with 5.6.7 (RFC 6531, 3.2) and the sender gets a DSN; it is never sent
        // raw to a server that did not ask for UTF-8.
        bool serverUtf8 = (client.Capabilities & SmtpCapabilities.UTF8) != 0;
        bool messageUtf8 = !IsAsciiLocalPart(sender) || HeadersNeedUtf8(message);
        var results = new RecipientResult?[recipients.Count];
        var send = new List<(int Index, string Wire)>(recipients.Count);
        for (int i = 0; i < recipients.Count; i++)
        {
            if (!serverUtf8 && (messageUtf8 || !IsAsciiLocalPart(recipients[i])))
            {
                results[i] = new RecipientResult(recipients[i], RecipientStatus.Failed, "5.6.7",
                    $"{remote} does not support internationalised mail (SMTPUTF8), which this {(messageUtf8 ? "message" : "address")} needs", remote);
                continue;
            }

            send.Add((i, WireAddress(recipients[i])));
        }

        if (send.Count == 0)
        {
            return [.. results.Select(r => r!)];
        }

        bool utf8 = serverUtf8 && (messageUtf8 || send.Any(r => !IsAsciiLocalPart(r.Wire)));
        var format = utf8 ? DkimSigning.InternationalFormat : DkimSigning.Format;
        var constraint = (client.Capabilities & SmtpCapabilities.EightBitMime) != 0 ? EncodingConstraint.EightBit : EncodingConstraint.SevenBit;
        message.Prepare(constraint, 998);
        _agent.Dkim.Sign(message, format);
        try
        {
            var from = new MailboxAddress(string.Empty, sender.Length == 0 ? sender : WireAddress(sender));
            var to = send.Select(r => new MailboxAddress(string.Empty, r.Wire)).ToList();
            await client.SendAsync(format, message, from, to, ct).ConfigureAwait(false);
            foreach (var (index, wire) in send)
            {
                var refused = client.Refused.FirstOrDefault(r => string.Equals(r.Address, wire, StringComparison.OrdinalIgnoreCase));
                results[index] = refused.Response is null
                    ? new RecipientResult(recipients[index], RecipientStatus.Delivered, "2.0.0", "smtp; 250 accepted", remote)
                    : FromResponse(recipients[index], (int)refused.Response.StatusCode, refused.Response.Response, remote);
            }
        }
        catch (NoRecipientsAcceptedException)
        {
            foreach (var (index, wire) in send)
            {
                var refused = client.Refused.FirstOrDefault(x => string.Equals(x.Address, wire, StringComparison.OrdinalIgnoreCase));
                results[index] = refused.Response is null
                    ? new RecipientResult(recipients[index], RecipientStatus.Deferred, "4.0.0", "no reply to RCPT TO", remote)
                    : FromResponse(recipients[index], (int)refused.Response.StatusCode, refused.Response.Response, remote);
            }
        }
        catch (SmtpCommandException e)
        {
            // MAIL FROM or DATA refused (or an unexpected reply): the same answer for every recipient not refused on its own
            session.Broken = !client.IsConnected;
            foreach (var (index, wire) in send)
            {
                var refused = client.Refused.FirstOrDefault(x => string.Equals(x.Address, wire, StringComparison.OrdinalIgnoreCase));
                results[index] = refused.Response is not null
                    ? FromResponse(recipients[index], (int)refused.Response.StatusCode, refused.Response.Response, remote)
                    : FromResponse(recipients[index], (int)e.StatusCode, e.Message, remote);
            }
        }
        catch (NotSupportedException)
        {
            // the message needs an extension the server lacks (8BITMIME for UTF-8 headers, RFC 6531, 3.1)
            foreach (var (index, _) in send)
            {
                results[index] = new RecipientResult(recipients[index], RecipientStatus.Failed, "5.6.7", $"{remote} does not support what this message needs (8BITMIME, SMTPUTF8)", remote);
            }
        }
        catch (Exception e) when (e is IOException or SmtpProtocolException or SocketException or TimeoutException || (e is OperationCanceledException && !ct.IsCancellationRequested))
        {
            session.Broken = true;
            Log.ConnectionLost(_agent.Logger, remote, e.GetType().Name);
            foreach (var (index, _) in send)
            {
                results[index] = new RecipientResult(recipients[index], RecipientStatus.Deferred, "4.4.2", $"connection to {remote} lost during the transaction", remote);
            }
        }
        catch (OperationCanceledException)
        {
            session.Broken = true;
            throw;
        }

        return [.. results.Select(r => r!)];
    }

    /// <summary>The address as sent: the local part unchanged, the domain in A-labels (RFC 5890), so only a UTF-8 local part needs SMTPUTF8.</summary>
    internal static string WireAddress(string address)
    {
        int at = address.LastIndexOf('@');
        return at > 0 && MxRouter.ToAsciiDomain(address[(at + 1)..]) is { } domain ? string.Concat(address.AsSpan(0, at), "@", domain) : address;
    }

    private static bool IsAsciiLocalPart(string address)
    {
        int at = address.LastIndexOf('@');
        return Ascii.IsValid(at < 0 ? address : address[..at]);
    }

    /// <summary>Whether any header field of the message or of its parts holds non-ASCII (an RFC 6532 message, which needs SMTPUTF8).</summary>
    private static bool HeadersNeedUtf8(MimeMessage message)
    {
        if (message.Headers.Any(h => !Ascii.IsValid(h.RawValue)))
        {
            return true;
        }

        using var iterator = new MimeIterator(message);
        while (iterator.MoveNext())
        {
            if (iterator.Current.Headers.Any(h => !Ascii.IsValid(h.RawValue)))
            {
                return true;
            }
        }

        return false;
    }

    private static RecipientResult FromResponse(string recipient, int code, string text, string remote)
    {
        var status = code switch
        {
            >= 200 and < 300 => RecipientStatus.Delivered,
            >= 400 and < 500 => RecipientStatus.Deferred,
            _ => RecipientStatus.Failed,
        };
        return new RecipientResult(recipient, status, EnhancedStatus.From(code, text), EnhancedStatus.Diagnostic(code, text), remote);
    }

    private enum TlsKind
    {
        Opportunistic,
        DaneEncryptOnly,
        Dane,
        StsEnforce,
    }

    private sealed record TlsRequirement(TlsKind Kind, TlsPolicyType PolicyType, IReadOnlyList<TlsaRecord> Tlsa, MtaStsPolicy? StsTesting);

    private sealed class Session(RelaySmtpClient client, string mxHost, ConnectionSecurity security)
    {
        public RelaySmtpClient Client { get; } = client;

        public string MxHost { get; } = mxHost;

        public ConnectionSecurity Security { get; } = security;

        public DateTimeOffset LastUsed { get; set; }

        public bool Broken { get; set; }
    }

    /// <summary>The certificate decision for one connection, remembering why it refused.</summary>
    private sealed class CertificateCheck(TlsRequirement requirement, string mxHost, string domain, TlsTrust trust, TimeProvider time)
    {
        public string? Failure { get; private set; }

        public string? StsTestingFailure { get; private set; }

        public bool Validate(object sender, X509Certificate? certificate, X509Chain? chain, System.Net.Security.SslPolicyErrors errors)
        {
            if (certificate is null)
            {
                Failure = TlsResultTypes.ValidationFailure;
                return requirement.Kind is TlsKind.Opportunistic or TlsKind.DaneEncryptOnly;
            }

            var leaf = certificate as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
            var presented = chain?.ChainPolicy.ExtraStore.Cast<X509Certificate2>().Where(c => !c.RawDataMemory.Span.SequenceEqual(leaf.RawDataMemory.Span)).ToList() ?? [];
            var now = time.GetUtcNow();
            switch (requirement.Kind)
            {
                case TlsKind.Dane:
                    Failure = Dane.Authenticate(requirement.Tlsa, leaf, presented, [mxHost, domain], now);
                    return Failure is null;
                case TlsKind.StsEnforce:
                    Failure = trust.Validate(leaf, presented, mxHost, now);
                    return Failure is null;
                case TlsKind.DaneEncryptOnly:
                    return true;
                default:
                    if (requirement.StsTesting is not null)
                    {
                        StsTestingFailure = trust.Validate(leaf, presented, mxHost, now);
                    }

                    return true;
            }
        }
    }
}
