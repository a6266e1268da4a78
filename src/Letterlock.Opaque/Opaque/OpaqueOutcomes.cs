using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography;

namespace Letterlock.Cryptography.Opaque;

/// <summary>How a login ended, for the client and for the server.</summary>
public enum OpaqueLoginStatus
{
    /// <summary>Both sides authenticated each other and hold the same session key.</summary>
    Success,

    /// <summary>
    /// Authentication failed. For the client: a wrong password, an unknown account (the server answered with a
    /// fake record), or a KE2 that was altered or not made by the server it registered with; the cases are one
    /// status on purpose, so nothing downstream can tell an unknown account from a wrong password. For the server:
    /// a KE3 that does not prove knowledge of the password.
    /// </summary>
    AuthenticationFailed,
}

/// <summary>
/// The client's result of a login (GenerateKE3 of RFC 9807, section 6.2.3). On success it holds KE3 for the
/// server, the session key and the export key; on failure only the status. Dispose zeroes the keys.
/// </summary>
public sealed class LoginOutcome : IDisposable
{
    private LoginOutcome(OpaqueLoginStatus status, KE3? ke3, byte[]? sessionKey, byte[]? exportKey)
    {
        Status = status;
        KE3 = ke3;
        SessionKey = sessionKey;
        ExportKey = exportKey;
    }

    /// <summary>How the login ended.</summary>
    public OpaqueLoginStatus Status { get; }

    /// <summary>True when <see cref="Status"/> is <see cref="OpaqueLoginStatus.Success"/>.</summary>
    [MemberNotNullWhen(true, nameof(KE3), nameof(SessionKey), nameof(ExportKey))]
    public bool Succeeded => Status == OpaqueLoginStatus.Success;

    /// <summary>The message to send to the server, on success.</summary>
    public KE3? KE3 { get; }

    /// <summary>session_key (Nx = 64 bytes), equal to the server's, on success.</summary>
    public byte[]? SessionKey { get; }

    /// <summary>
    /// export_key (Nh = 64 bytes), the same at every login with this password and equal to registration's, on
    /// success. The server never sees it; Letterlock wraps the account master key under it.
    /// </summary>
    public byte[]? ExportKey { get; }

    internal static LoginOutcome Failed { get; } = new(OpaqueLoginStatus.AuthenticationFailed, null, null, null);

    internal static LoginOutcome Success(KE3 ke3, byte[] sessionKey, byte[] exportKey) =>
        new(OpaqueLoginStatus.Success, ke3, sessionKey, exportKey);

    /// <summary>Zeroes the session and export keys.</summary>
    public void Dispose()
    {
        if (SessionKey is not null)
        {
            CryptographicOperations.ZeroMemory(SessionKey);
        }

        if (ExportKey is not null)
        {
            CryptographicOperations.ZeroMemory(ExportKey);
        }
    }
}

/// <summary>The server's result of a login (ServerFinish of RFC 9807, section 6.2.4). Dispose zeroes the key.</summary>
public sealed class ServerLoginOutcome : IDisposable
{
    private ServerLoginOutcome(OpaqueLoginStatus status, byte[]? sessionKey)
    {
        Status = status;
        SessionKey = sessionKey;
    }

    /// <summary>How the login ended.</summary>
    public OpaqueLoginStatus Status { get; }

    /// <summary>True when <see cref="Status"/> is <see cref="OpaqueLoginStatus.Success"/>.</summary>
    [MemberNotNullWhen(true, nameof(SessionKey))]
    public bool Succeeded => Status == OpaqueLoginStatus.Success;

    /// <summary>session_key (Nx = 64 bytes), only when the client's KE3 verified.</summary>
    public byte[]? SessionKey { get; }

    internal static ServerLoginOutcome Failed { get; } = new(OpaqueLoginStatus.AuthenticationFailed, null);

    internal static ServerLoginOutcome Success(byte[] sessionKey) => new(OpaqueLoginStatus.Success, sessionKey);

    /// <summary>Zeroes the session key.</summary>
    public void Dispose()
    {
        if (SessionKey is not null)
        {
            CryptographicOperations.ZeroMemory(SessionKey);
        }
    }
}
