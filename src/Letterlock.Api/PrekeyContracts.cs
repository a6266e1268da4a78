using System.Text.Json.Serialization;

namespace Letterlock.Api;

/// <summary>
/// <c>PUT /v1/prekeys</c>: a device publishes its native-protocol prekeys (docs/API.md, "Prekeys"). Every value is
/// in the native protocol's own encoding (docs/FORMATS.md, "Native protocol") and signed by the device's key.
/// </summary>
/// <param name="Identity">The device's identity certificate (128 bytes); its device key must be the authenticated device's.</param>
/// <param name="SignedPrekey">A new signed X25519 prekey (kind 1), replacing the one served; required on the first publication.</param>
/// <param name="KemPrekey">A new last-resort ML-KEM-768 prekey (kind 2), replacing the one served; required on the first publication.</param>
/// <param name="OneTimePrekeys">One-time prekeys (kinds 3 and 4) added to the device's pool.</param>
public sealed record PublishPrekeysRequest(byte[] Identity, byte[]? SignedPrekey = null, byte[]? KemPrekey = null, IReadOnlyList<byte[]>? OneTimePrekeys = null);

/// <summary>What the provider holds for the calling device (<c>GET /v1/prekeys</c>, and the answer to a publication).</summary>
/// <param name="OneTimePrekeys">One-time X25519 prekeys left in the pool.</param>
/// <param name="OneTimeKemPrekeys">One-time ML-KEM-768 prekeys left in the pool.</param>
/// <param name="SignedPrekeyId">The id of the signed prekey served, or null when none was published.</param>
/// <param name="SignedPrekeyExpiresAt">When the signed prekey served expires.</param>
/// <param name="KemPrekeyId">The id of the last-resort KEM prekey served.</param>
public sealed record PrekeyStatus(int OneTimePrekeys, int OneTimeKemPrekeys, uint? SignedPrekeyId = null, DateTimeOffset? SignedPrekeyExpiresAt = null, uint? KemPrekeyId = null);

/// <summary>
/// <c>GET /v1/prekeys/{address}</c> (through the caller's own provider) and <c>GET /v1/federation/prekeys/{address}</c>
/// (provider to provider): one prekey bundle per active device of the address that published prekeys. Handing out a
/// bundle removes its one-time prekeys from the pool. The caller checks each bundle's device key against the
/// address's key-transparency entry; the provider vouches for nothing.
/// </summary>
/// <param name="Address">The address asked for.</param>
/// <param name="Bundles">The encoded prekey bundles (empty: no native-capable device).</param>
public sealed record PrekeyBundlesResponse(string Address, IReadOnlyList<byte[]> Bundles);

/// <summary>System.Text.Json source-generated metadata for the prekey contracts.</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    RespectRequiredConstructorParameters = true,
    RespectNullableAnnotations = true)]
[JsonSerializable(typeof(PublishPrekeysRequest))]
[JsonSerializable(typeof(PrekeyStatus))]
[JsonSerializable(typeof(PrekeyBundlesResponse))]
public sealed partial class PrekeyJsonContext : JsonSerializerContext;
