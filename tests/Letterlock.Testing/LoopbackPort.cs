using System.Net;
using System.Net.Sockets;

namespace Letterlock.Testing;

/// <summary>
/// A free TCP port on 127.0.0.1 for a peer program that must be told its port in a configuration file (PostgreSQL,
/// Postfix, Dovecot). Our own listeners bind port 0 and report the port instead; this is only for programs that
/// cannot. The port is free when asked; a peer that loses the race fails to start, with its own error.
/// </summary>
public static class LoopbackPort
{
    public static int Free()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }
}
