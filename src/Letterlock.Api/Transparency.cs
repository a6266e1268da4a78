using System.Text.Json.Serialization;

namespace Letterlock.Api;

/// <summary>
/// The transparency part of <c>GET /v1/directory/{address}</c>: a lookup proof for the address against the
/// provider's newest signed tree head. The client verifies it (Letterlock.Transparency) before using the keys
/// of the entry; the proof's key set must name the certificate's fingerprint.
/// </summary>
/// <param name="Epoch">The epoch of the head the proof is against (informative; the proof carries the signed head).</param>
/// <param name="LookupProof">The <c>LookupProof</c> encoding (docs/FORMATS.md).</param>
/// <param name="Pending">True when the address's current keys are newer than the newest epoch: they are
/// published with the next one, and until then the proof shows the previous key set (or none).</param>
public sealed record DirectoryTransparency(long Epoch, byte[] LookupProof, bool Pending);

/// <summary><c>GET /v1/transparency/heads/latest</c> and <c>GET /v1/transparency/heads/{epoch}</c>: one signed tree head.</summary>
/// <param name="Epoch">The head's epoch (also inside <paramref name="Head"/>).</param>
/// <param name="TimestampMs">Its publication time, Unix milliseconds (also inside <paramref name="Head"/>).</param>
/// <param name="Head">The <c>SignedTreeHead</c> encoding.</param>
/// <param name="EpochIntervalSeconds">How often the provider publishes an epoch when something changed: when clients monitor.</param>
public sealed record TransparencyHeadResponse(long Epoch, long TimestampMs, byte[] Head, int EpochIntervalSeconds);

/// <summary><c>GET /v1/transparency/heads?from=N&amp;limit=M</c>: consecutive signed tree heads from epoch N.</summary>
/// <param name="LatestEpoch">The newest epoch, or -1 before the first.</param>
/// <param name="EpochIntervalSeconds">As in <see cref="TransparencyHeadResponse"/>.</param>
/// <param name="Heads">The <c>SignedTreeHead</c> encodings of epochs N, N+1, ... (at most M).</param>
public sealed record TransparencyHeadsResponse(long LatestEpoch, int EpochIntervalSeconds, IReadOnlyList<byte[]> Heads);

/// <summary>
/// <c>GET /v1/transparency/lookup/{address}</c>: the address's key set with its proof against the newest
/// signed head. <paramref name="Keys"/> repeats the proof's entry for people reading the JSON; clients use only
/// the verified proof.
/// </summary>
/// <param name="Address">The address as the directory holds it (canonical: lower case).</param>
/// <param name="Epoch">The epoch of the head the proof is against.</param>
/// <param name="Proof">The <c>LookupProof</c> encoding.</param>
/// <param name="Keys">The entry the proof carries, or null when the address has none (a proof of absence).</param>
/// <param name="Pending">True when the address has a change not yet published in an epoch.</param>
public sealed record TransparencyLookupResponse(string Address, long Epoch, byte[] Proof, TransparencyKeySet? Keys, bool Pending);

/// <summary>One version of an address's key set, as published.</summary>
/// <param name="Version">1 for the first key set of the address, one more for each epoch that changed it.</param>
/// <param name="Epoch">The epoch that published this version.</param>
/// <param name="OpenPgpFingerprint">The OpenPGP certificate's fingerprint (20 bytes for v4; empty if the certificate did not parse).</param>
/// <param name="InboxPublicKey">The inbox key the MX seals arriving mail to.</param>
/// <param name="DeviceKeys">The active devices' Ed25519 keys, in byte order.</param>
/// <param name="Revoked">True when the account is disabled: encrypt nothing to it.</param>
public sealed record TransparencyKeySet(ulong Version, ulong Epoch, byte[] OpenPgpFingerprint, byte[] InboxPublicKey, IReadOnlyList<byte[]> DeviceKeys, bool Revoked);

/// <summary><c>GET /v1/transparency/monitor/{address}?since=E</c>: the owner's view of its address since epoch E.</summary>
/// <param name="Address">The canonical address.</param>
/// <param name="SinceEpoch">The first epoch the proof covers (the request's <c>since</c>).</param>
/// <param name="Proof">The <c>MonitorProof</c> encoding (the current state, and every version published in epoch E or later).</param>
public sealed record TransparencyMonitorResponse(string Address, long SinceEpoch, byte[] Proof);

/// <summary><c>GET /v1/transparency/consistency?from=A&amp;to=B</c>: the log of epoch B extends the log of epoch A.</summary>
/// <param name="From">Epoch A.</param>
/// <param name="To">Epoch B (A &lt;= B &lt;= newest).</param>
/// <param name="Proof">The <c>ConsistencyProof</c> encoding.</param>
public sealed record TransparencyConsistencyResponse(long From, long To, byte[] Proof);

/// <summary>Paths and media types of the transparency API (docs/API.md, "Key transparency").</summary>
public static class TransparencyPaths
{
    /// <summary>Prefix of every transparency endpoint.</summary>
    public const string Prefix = "/v1/transparency";

    /// <summary>The media type of <c>GET /v1/transparency/epochs/{epoch}</c>: an <c>EpochAudit</c> encoding.</summary>
    public const string EpochAuditMediaType = "application/vnd.letterlock.epoch-audit";
}

/// <summary>Source-generated JSON for the transparency contracts (same options as <see cref="ApiJsonContext"/>).</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    RespectRequiredConstructorParameters = true,
    RespectNullableAnnotations = true)]
[JsonSerializable(typeof(TransparencyHeadResponse))]
[JsonSerializable(typeof(TransparencyHeadsResponse))]
[JsonSerializable(typeof(TransparencyLookupResponse))]
[JsonSerializable(typeof(TransparencyMonitorResponse))]
[JsonSerializable(typeof(TransparencyConsistencyResponse))]
public sealed partial class TransparencyJsonContext : JsonSerializerContext;
