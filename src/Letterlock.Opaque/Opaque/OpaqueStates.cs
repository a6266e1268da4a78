using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography;

namespace Letterlock.Cryptography.Opaque;

/// <summary>
/// Secret state one side keeps between two messages of a flow. Single use: finishing the flow consumes (zeroes)
/// it, and <see cref="Dispose"/> zeroes it too; using it afterwards throws <see cref="ObjectDisposedException"/>.
/// </summary>
public abstract class OpaqueState : IDisposable
{
    private readonly byte[][] _secrets;
    private bool _disposed;

    private protected OpaqueState(params byte[][] secrets)
    {
        _secrets = secrets;
    }

    /// <summary>Zeroes every secret the state holds. Idempotent.</summary>
    public void Dispose()
    {
        foreach (byte[] secret in _secrets)
        {
            CryptographicOperations.ZeroMemory(secret);
        }

        _disposed = true;
        GC.SuppressFinalize(this);
    }

    internal void ThrowIfConsumed() => ObjectDisposedException.ThrowIf(_disposed, this);
}

/// <summary>The client's registration state: the OPRF blind.</summary>
public sealed class ClientRegistrationState : OpaqueState
{
    internal ClientRegistrationState(byte[] blind)
        : base(blind)
    {
        Blind = blind;
    }

    internal byte[] Blind { get; }
}

/// <summary>The client's login state: the OPRF blind, the ephemeral AKE secret and the KE1 it sent.</summary>
public sealed class ClientLoginState : OpaqueState
{
    internal ClientLoginState(byte[] blind, byte[] clientSecret, KE1 ke1)
        : base(blind, clientSecret)
    {
        Blind = blind;
        ClientSecret = clientSecret;
        KE1 = ke1;
    }

    internal byte[] Blind { get; }

    internal byte[] ClientSecret { get; }

    internal KE1 KE1 { get; }
}

/// <summary>
/// The server's login state between KE2 and KE3: the expected client MAC and the session key (ServerAkeState of
/// RFC 9807, section 6.4). It can be serialized so that any node of a provider can finish the login; the bytes
/// are secret (they hold the session key) and belong only in server-side storage with a short lifetime.
/// </summary>
public sealed class ServerLoginState : OpaqueState
{
    /// <summary>The serialized length: expected_client_mac[Nm] || session_key[Nx] || flags(1).</summary>
    public const int SerializedLength = OpaqueSuite.Nm + OpaqueSuite.Nx + 1;

    internal ServerLoginState(byte[] expectedClientMac, byte[] sessionKey, bool forUnknownAccount)
        : base(expectedClientMac, sessionKey)
    {
        ExpectedClientMac = expectedClientMac;
        SessionKey = sessionKey;
        ForUnknownAccount = forUnknownAccount;
    }

    internal byte[] ExpectedClientMac { get; }

    internal byte[] SessionKey { get; }

    /// <summary>Answered with a fake record: no KE3 can succeed, whatever its bytes.</summary>
    internal bool ForUnknownAccount { get; }

    /// <summary>The state as <see cref="SerializedLength"/> secret bytes.</summary>
    public byte[] Serialize()
    {
        ThrowIfConsumed();
        return [.. ExpectedClientMac, .. SessionKey, ForUnknownAccount ? (byte)1 : (byte)0];
    }

    /// <summary>Parses <see cref="Serialize"/>'s output; false for any other length or flag value.</summary>
    public static bool TryParse(ReadOnlySpan<byte> data, [NotNullWhen(true)] out ServerLoginState? state)
    {
        state = null;
        if (data.Length != SerializedLength || data[^1] > 1)
        {
            return false;
        }

        state = new ServerLoginState(data[..OpaqueSuite.Nm].ToArray(), data.Slice(OpaqueSuite.Nm, OpaqueSuite.Nx).ToArray(), data[^1] == 1);
        return true;
    }
}
