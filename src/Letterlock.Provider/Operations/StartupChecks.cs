using System.Net;
using System.Net.Sockets;
using Letterlock.Provider.Configuration;
using Microsoft.Extensions.Logging;

namespace Letterlock.Provider.Operations;

/// <summary>
/// What <c>provider serve</c> checks before it opens anything, and how it explains a listener that could not be
/// opened: every message names the setting, the address and port or the path, and the fix.
/// </summary>
public static class StartupChecks
{
    /// <summary>The private key files of the settings, with the setting that names each.</summary>
    public static IEnumerable<(string Setting, string Path)> PrivateKeyFiles(ProviderSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        yield return ("tls.key", settings.ResolvePath(settings.Tls.Key));
        yield return ("dkim.key", settings.ResolvePath(settings.Dkim.Key));
        yield return ("dkim.ed25519Key", settings.ResolvePath(settings.Dkim.Ed25519Key));
        yield return ("signingKey", settings.ResolvePath(settings.SigningKey));
        yield return ("relay.queueKey", settings.ResolvePath(settings.Relay.QueueKey));
        if (settings.Acme.Enabled)
        {
            yield return ("acme.accountKey", settings.ResolvePath(settings.Acme.AccountKey));
        }
    }

    /// <summary>
    /// Refuses a private key any user of the machine can read (mode o+r or o+w): it may already be copied, and a provider
    /// that starts anyway hides that. A key its group can read gets a warning only: Debian's <c>ssl-cert</c> group
    /// (mode 0640) is a deliberate way to share a certificate key with a service.
    /// </summary>
    /// <exception cref="SettingsException">A key is open to every user; the message names the setting, the path and the fix.</exception>
    public static void CheckPrivateKeyModes(ProviderSettings settings, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(logger);
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        foreach (var (setting, path) in PrivateKeyFiles(settings))
        {
            if (!File.Exists(path))
            {
                continue; // the loader names a missing file
            }

            var mode = File.GetUnixFileMode(path);
            string octal = Convert.ToString((int)mode & 0x1FF, 8).PadLeft(4, '0');
            if ((mode & (UnixFileMode.OtherRead | UnixFileMode.OtherWrite)) != 0)
            {
                throw new SettingsException($"setting '{setting}': the private key {path} can be read by every user of this machine (mode {octal}); " +
                    $"fix: chmod 600 {path} (and consider the key exposed: make a new one)");
            }

            if ((mode & (UnixFileMode.GroupRead | UnixFileMode.GroupWrite)) != 0)
            {
                Log.PrivateKeyGroupReadable(logger, setting, path, octal);
            }
        }
    }

    /// <summary>The listeners the settings ask for, with the setting that names each.</summary>
    public static IEnumerable<(string Setting, IPEndPoint EndPoint)> Listeners(ProviderSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        yield return ("smtp.listen", ProviderSettingsLoader.ParseEndPoint(settings.Smtp.Listen, "smtp.listen"));
        yield return ("api.listen", ProviderSettingsLoader.ParseEndPoint(settings.Api.Listen, "api.listen"));
        foreach (var (setting, value) in new[] { ("submission.listen", settings.Submission.Listen), ("submission.listenTls", settings.Submission.ListenTls), ("ops.listen", settings.Ops.Listen),
            ("acme.httpListen", settings.Acme.Enabled && settings.Acme.Challenge == "http-01" ? settings.Acme.HttpListen : "") })
        {
            if (value.Length > 0)
            {
                yield return (setting, ProviderSettingsLoader.ParseEndPoint(value, setting));
            }
        }
    }

    /// <summary>
    /// After a listener failed to open: tries each listener of the settings alone and explains the first that cannot be
    /// opened, or null when all can now (the failure was elsewhere, or passed).
    /// </summary>
    public static string? DiagnoseListeners(ProviderSettings settings)
    {
        foreach (var (setting, endPoint) in Listeners(settings))
        {
            if (endPoint.Port == 0)
            {
                continue;
            }

            try
            {
                using var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
                socket.Bind(endPoint);
                socket.Listen(1);
            }
            catch (SocketException e)
            {
                return Explain(setting, endPoint, e.SocketErrorCode);
            }
        }

        return null;
    }

    /// <summary>Says why a listener could not be opened and what to do, for the common causes.</summary>
    public static string Explain(string setting, IPEndPoint endPoint, SocketError error)
    {
        ArgumentNullException.ThrowIfNull(endPoint);
        string where = $"cannot listen on {endPoint} (setting '{setting}')";
        int port = endPoint.Port;
        return error switch
        {
            SocketError.AddressAlreadyInUse =>
                $"{where}: port {port} is already in use by another program (see which: ss -ltnp 'sport = :{port}'); stop it, or set another port in '{setting}'",
            SocketError.AccessDenied when port < 1024 =>
                $"{where}: permission denied: port {port} is below 1024 and needs root or CAP_NET_BIND_SERVICE; run it as the systemd unit does " +
                $"(AmbientCapabilities=CAP_NET_BIND_SERVICE), or grant it once: setcap cap_net_bind_service=+ep <the letterlock binary>, or set a port of 1024 or above in '{setting}'",
            SocketError.AccessDenied =>
                $"{where}: permission denied by the system (a security policy such as SELinux or AppArmor?); set another port in '{setting}'",
            SocketError.AddressNotAvailable =>
                $"{where}: this machine has no address {endPoint.Address} (see: ip address); set one of its addresses, or 0.0.0.0 / [::] for all, in '{setting}'",
            _ => $"{where}: {error}",
        };
    }
}
