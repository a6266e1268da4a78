using System.Text;
using System.Text.Json.Serialization;

namespace Letterlock.Api;

/// <summary><c>PUT /v1/account/recovery</c>: store (or replace) the recovery slot.</summary>
/// <param name="WrappedAmk">The AMK sealed to the key pair derived from the recovery code (82 bytes, opaque to the provider).</param>
/// <param name="Verifier">The Ed25519 public key derived from the recovery code; a recovery must sign with its private half.</param>
public sealed record SetRecoveryRequest(byte[] WrappedAmk, byte[] Verifier);

/// <summary><c>POST /v1/recovery/start</c>: begin a recovery with the recovery code.</summary>
/// <param name="Address">The account's address.</param>
public sealed record RecoveryStartRequest(string Address);

/// <summary>The answer to <see cref="RecoveryStartRequest"/>; the same for unknown addresses (no enumeration).</summary>
/// <param name="LoginId">Names this recovery in <see cref="RecoveryFinishRequest"/> (single use).</param>
/// <param name="Challenge">32 random bytes to sign with the recovery key.</param>
/// <param name="ExpiresAt">After this the recovery must start again.</param>
public sealed record RecoveryStartResponse(Guid LoginId, byte[] Challenge, DateTimeOffset ExpiresAt);

/// <summary><c>POST /v1/recovery/finish</c>: prove the recovery code and register this device.</summary>
/// <param name="LoginId">From <see cref="RecoveryStartResponse"/>.</param>
/// <param name="Signature">Ed25519 signature by the recovery key over <see cref="AccountAccess.RecoveryMessage"/>.</param>
/// <param name="DevicePublicKey">The new device's Ed25519 public key.</param>
/// <param name="DeviceName">Its label (at most 100 characters).</param>
/// <param name="DeviceProof">Signature by the new device key over <see cref="AccountAccess.JoinMessage"/>.</param>
public sealed record RecoveryFinishRequest(Guid LoginId, byte[] Signature, byte[] DevicePublicKey, string DeviceName, byte[] DeviceProof);

/// <summary><c>POST /v1/login/start</c>: the first OPAQUE login message (RFC 9807 KE1).</summary>
/// <param name="Address">The account's address.</param>
/// <param name="Ke1">The serialized KE1.</param>
public sealed record LoginStartRequest(string Address, byte[] Ke1);

/// <summary>The answer to <see cref="LoginStartRequest"/>: KE2, computed with the context <see cref="AccountAccess.OpaqueContext"/>.</summary>
/// <param name="LoginId">Names this login in <see cref="LoginFinishRequest"/> (single use).</param>
/// <param name="ServerNonce">32 random bytes bound into the OPAQUE context: a KE2 or KE3 of another login does not verify.</param>
/// <param name="Ke2">The serialized KE2 (a fake one, indistinguishable, for an unknown address or an account without password).</param>
/// <param name="ExpiresAt">After this the login must start again.</param>
/// <param name="KsfParameters">The account's Argon2id parameters (9 bytes: tag 1, memory KiB, passes, big-endian); the client refuses values outside its limits.</param>
public sealed record LoginStartResponse(Guid LoginId, byte[] ServerNonce, byte[] Ke2, DateTimeOffset ExpiresAt, byte[] KsfParameters);

/// <summary><c>POST /v1/login/finish</c>: the third OPAQUE message, and the device to register.</summary>
/// <param name="LoginId">From <see cref="LoginStartResponse"/>.</param>
/// <param name="Ke3">The serialized KE3.</param>
/// <param name="DevicePublicKey">The new device's Ed25519 public key.</param>
/// <param name="DeviceName">Its label.</param>
/// <param name="DeviceProof">Signature by the new device key over <see cref="AccountAccess.JoinMessage"/>.</param>
public sealed record LoginFinishRequest(Guid LoginId, byte[] Ke3, byte[] DevicePublicKey, string DeviceName, byte[] DeviceProof);

/// <summary>What a device gets when it joins an account by password or recovery code (201).</summary>
/// <param name="AccountId">The account.</param>
/// <param name="DeviceId">The device just registered; authenticate with it from now on.</param>
/// <param name="Address">The address.</param>
/// <param name="WrappedAmk">The AMK slot that the secret just proven opens (password or recovery).</param>
public sealed record AccountAccessResponse(Guid AccountId, Guid DeviceId, string Address, byte[] WrappedAmk);

/// <summary><c>POST /v1/account/password/start</c>: OPAQUE registration, first message (RFC 9807 RegistrationRequest).</summary>
/// <param name="RegistrationRequest">The serialized request.</param>
public sealed record PasswordStartRequest(byte[] RegistrationRequest);

/// <summary>The provider's RegistrationResponse.</summary>
/// <param name="RegistrationResponse">The serialized response.</param>
public sealed record PasswordStartResponse(byte[] RegistrationResponse);

/// <summary><c>PUT /v1/account/password</c>: the registration record and the AMK sealed for the new password.</summary>
/// <param name="Record">The serialized RegistrationRecord.</param>
/// <param name="WrappedAmk">The AMK sealed to the key pair derived from the new export key.</param>
/// <param name="KsfParameters">The Argon2id parameters the record was made with (9 bytes), handed to every later login.</param>
public sealed record SetPasswordRequest(byte[] Record, byte[] WrappedAmk, byte[] KsfParameters);

/// <summary>One device of the account, as <c>GET /v1/account/devices</c> lists it.</summary>
/// <param name="DeviceId">Its id.</param>
/// <param name="Name">Its label.</param>
/// <param name="PublicKey">Its Ed25519 public key.</param>
/// <param name="CreatedAt">When it joined.</param>
/// <param name="LastSeenAt">When it last authenticated.</param>
/// <param name="RevokedAt">When it was revoked (absent while active).</param>
public sealed record DeviceStatus(Guid DeviceId, string Name, byte[] PublicKey, DateTimeOffset CreatedAt, DateTimeOffset? LastSeenAt = null, DateTimeOffset? RevokedAt = null);

/// <summary><c>GET /v1/account/devices</c>: every device the account ever had, active first.</summary>
/// <param name="Devices">The devices.</param>
/// <param name="HasPassword">Whether the account has a password (an OPAQUE record).</param>
/// <param name="HasRecovery">Whether the account has a recovery slot.</param>
public sealed record DeviceListResponse(IReadOnlyList<DeviceStatus> Devices, bool HasPassword, bool HasRecovery);

/// <summary><c>DELETE /v1/account</c>: delete the account (documents, keys, devices); the address is quarantined.</summary>
/// <param name="ConfirmAddress">The account's address again, so no stray request deletes an account.</param>
public sealed record DeleteAccountRequest(string ConfirmAddress);

/// <summary>The signed messages of account access: each starts with its own context string and names the provider.</summary>
public static class AccountAccess
{
    /// <summary>The bytes the recovery key signs to redeem a recovery challenge; binds the device that will join.</summary>
    /// <param name="providerDomain">The provider's mail domain.</param>
    /// <param name="address">The account's address.</param>
    /// <param name="loginId">The recovery's id.</param>
    /// <param name="challenge">The challenge.</param>
    /// <param name="devicePublicKey">The joining device's key.</param>
    public static byte[] RecoveryMessage(string providerDomain, string address, Guid loginId, ReadOnlySpan<byte> challenge, ReadOnlySpan<byte> devicePublicKey) =>
        Message("letterlock-recovery-v1", providerDomain.ToLowerInvariant(), address.ToLowerInvariant(), loginId.ToString("D"), Convert.ToBase64String(challenge), Convert.ToBase64String(devicePublicKey));

    /// <summary>The bytes a joining device signs with its own key (proof of possession, bound to this login).</summary>
    /// <param name="providerDomain">The provider's mail domain.</param>
    /// <param name="address">The account's address.</param>
    /// <param name="loginId">The login or recovery id.</param>
    /// <param name="devicePublicKey">The joining device's key.</param>
    public static byte[] JoinMessage(string providerDomain, string address, Guid loginId, ReadOnlySpan<byte> devicePublicKey) =>
        Message("letterlock-device-join-v1", providerDomain.ToLowerInvariant(), address.ToLowerInvariant(), loginId.ToString("D"), Convert.ToBase64String(devicePublicKey));

    /// <summary>
    /// The OPAQUE context of a login (RFC 9807, 6.1: both sides must use the same): the provider's domain, the
    /// address and the server's nonce, so a transcript of one login, one account or one provider verifies nowhere else.
    /// </summary>
    /// <param name="providerDomain">The provider's mail domain.</param>
    /// <param name="address">The account's address.</param>
    /// <param name="serverNonce">The nonce from <see cref="LoginStartResponse"/>.</param>
    public static byte[] OpaqueContext(string providerDomain, string address, ReadOnlySpan<byte> serverNonce) =>
        Message("letterlock-opaque-login-v1", providerDomain.ToLowerInvariant(), address.ToLowerInvariant(), Convert.ToBase64String(serverNonce));

    private static byte[] Message(params string[] fields)
    {
        var builder = new StringBuilder();
        foreach (string field in fields)
        {
            if (field.Contains('\n', StringComparison.Ordinal))
            {
                throw new ArgumentException("A signed field may not contain a line feed.", nameof(fields));
            }

            builder.Append(field).Append('\n');
        }

        return Encoding.UTF8.GetBytes(builder.ToString());
    }
}

/// <summary>System.Text.Json source-generated metadata for the account-access contracts.</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    RespectRequiredConstructorParameters = true,
    RespectNullableAnnotations = true)]
[JsonSerializable(typeof(SetRecoveryRequest))]
[JsonSerializable(typeof(RecoveryStartRequest))]
[JsonSerializable(typeof(RecoveryStartResponse))]
[JsonSerializable(typeof(RecoveryFinishRequest))]
[JsonSerializable(typeof(LoginStartRequest))]
[JsonSerializable(typeof(LoginStartResponse))]
[JsonSerializable(typeof(LoginFinishRequest))]
[JsonSerializable(typeof(AccountAccessResponse))]
[JsonSerializable(typeof(PasswordStartRequest))]
[JsonSerializable(typeof(PasswordStartResponse))]
[JsonSerializable(typeof(SetPasswordRequest))]
[JsonSerializable(typeof(DeviceListResponse))]
[JsonSerializable(typeof(DeleteAccountRequest))]
public sealed partial class AccountsJsonContext : JsonSerializerContext;
