using System.Net;
using Letterlock.Provider.Configuration;

namespace Letterlock.Provider.Hosting;

/// <summary>
/// The listeners <c>provider init</c> writes, with defaults that fit the SMTP port chosen: a provider on the standard
/// ports (25 and below 1024) gets submission on 587/465 and HTTPS on 443; one on an unprivileged SMTP port (a test
/// machine, a host without CAP_NET_BIND_SERVICE, a port forward) gets no privileged default at all, so it starts as
/// the user who asked for it; port 0 (tests) gets port 0 everywhere.
/// </summary>
public sealed record ListenDefaults(string Smtp, string Api, string Submission, string SubmissionTls, string Ops, IReadOnlyList<string> Notes)
{
    /// <summary>The first port that needs no privilege on Linux (<c>net.ipv4.ip_unprivileged_port_start</c>).</summary>
    public const int FirstUnprivilegedPort = 1024;

    /// <summary>The HTTPS port beside an unprivileged SMTP port.</summary>
    public const int UnprivilegedHttpsPort = 8443;

    /// <summary>The operations listener's port (the Prometheus exporter convention of OpenTelemetry).</summary>
    public const int OpsPort = 9464;

    /// <summary>The HTTP-01 listener beside an unprivileged SMTP port (the CA connects to port 80: forward it).</summary>
    public const int UnprivilegedHttpPort = 8080;

    /// <summary>The plain-HTTP listener of ACME HTTP-01 challenges (written to provider.json even while ACME is off).</summary>
    public string AcmeHttp { get; init; } = "0.0.0.0:80";

    /// <summary>Validates the listeners given and fills in the rest; nothing is written.</summary>
    /// <exception cref="SettingsException">A listener is not an address:port; the message names the option.</exception>
    public static ListenDefaults Resolve(string? smtp, string? api, string? submission, string? submissionTls, string? ops)
    {
        var mx = Parse(smtp ?? "0.0.0.0:25", "--smtp-listen");
        var notes = new List<string>();
        bool test = mx.Port == 0;
        bool unprivileged = mx.Port >= FirstUnprivilegedPort;
        string Beside(int standard, int unprivilegedOffset)
        {
            int port = test ? 0 : unprivileged ? mx.Port + unprivilegedOffset : standard;
            if (port > 65535)
            {
                throw new SettingsException($"--smtp-listen {mx}: no room for the submission ports above it (give --submission-listen and --submissions-listen)");
            }

            return new IPEndPoint(mx.Address, port).ToString();
        }

        string apiListen = api is null ? new IPEndPoint(mx.Address, test ? 0 : unprivileged ? UnprivilegedHttpsPort : 443).ToString() : Parse(api, "--api-listen").ToString();
        string submissionListen = submission is null ? Beside(587, 1) : submission.Length == 0 ? "" : Parse(submission, "--submission-listen").ToString();
        string submissionTlsListen = submissionTls is null ? Beside(465, 2) : submissionTls.Length == 0 ? "" : Parse(submissionTls, "--submissions-listen").ToString();
        string opsListen = ops is null ? new IPEndPoint(IPAddress.Loopback, test ? 0 : OpsPort).ToString() : ops.Length == 0 ? "" : Parse(ops, "--ops-listen").ToString();
        if (unprivileged)
        {
            notes.Add($"SMTP listens on the unprivileged port {mx.Port}: other servers deliver to port 25 only, so forward port 25 to it " +
                $"(e.g. nft/iptables redirect), or run on port 25 with CAP_NET_BIND_SERVICE (the systemd unit does).");
            if (api is null)
            {
                notes.Add($"HTTPS defaults to port {UnprivilegedHttpsPort} beside it; clients and WKD expect https://DOMAIN/ on 443, so forward 443 to it.");
            }
        }

        string acmeHttp = new IPEndPoint(mx.Address, test ? 0 : unprivileged ? UnprivilegedHttpPort : 80).ToString();
        return new ListenDefaults(mx.ToString(), apiListen, submissionListen, submissionTlsListen, opsListen, notes) { AcmeHttp = acmeHttp };
    }

    private static IPEndPoint Parse(string value, string option)
    {
        if (!IPEndPoint.TryParse(value, out var endPoint) || !value.Contains(':', StringComparison.Ordinal))
        {
            throw new SettingsException($"{option} '{value}' is not an address:port such as 0.0.0.0:25 or [::]:443");
        }

        return endPoint;
    }
}
