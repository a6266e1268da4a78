namespace Letterlock.Client.Validation;

/// <summary>
/// Key-transparency evidence that came with a key (for example from the recipient provider's
/// directory): the log it claims membership in and the serialized proof. The client never trusts
/// it as such; an <see cref="ITransparencyVerifier"/> checks it and yields a <see cref="TransparencyVerdict"/>.
/// </summary>
/// <param name="Log">The log's identity (its origin, e.g. the provider domain).</param>
/// <param name="Proof">The proof as served (format owned by Letterlock.Transparency); empty when a directory that
/// publishes key transparency served the key without one.</param>
/// <param name="Pending">The provider said the key is newer than its newest epoch (the proof then shows the previous
/// state of the address).</param>
/// <param name="Certificate">The certificate served with the proof, kept as evidence when the proof fails.</param>
public sealed record TransparencyEvidence(string Log, ReadOnlyMemory<byte> Proof, bool Pending = false, ReadOnlyMemory<byte> Certificate = default);

/// <summary>The outcome of checking transparency evidence.</summary>
public enum TransparencyVerdict
{
    /// <summary>No evidence came with the key, or no verifier is configured.</summary>
    Absent,

    /// <summary>The proof verified and is consistent with the log history this client has seen.</summary>
    Verified,

    /// <summary>
    /// Evidence came but did not verify, or a provider that publishes key transparency served the key without a
    /// proof: provider misbehaviour. The key is never encrypted to automatically; the failure is recorded and alerted.
    /// </summary>
    Failed,

    /// <summary>
    /// The proof verifies but shows another key for the address than the one served (the provider says the served
    /// key is pending publication): never encrypted to automatically until it is published.
    /// </summary>
    Unpublished,
}

/// <summary>
/// Checks transparency evidence for an address and key (inclusion under a signed tree head,
/// consistency with the heads seen before). Implemented on top of Letterlock.Transparency.
/// </summary>
public interface ITransparencyVerifier
{
    /// <summary>Checks <paramref name="evidence"/> for <paramref name="address"/> and <paramref name="fingerprint"/>.</summary>
    ValueTask<TransparencyVerdict> VerifyAsync(string address, KeyFingerprint fingerprint, TransparencyEvidence evidence, CancellationToken ct);
}

/// <summary>A key observed for an address, as input to <see cref="ContactKeyValidator.Observe"/>.</summary>
/// <param name="Fingerprint">Primary key fingerprint.</param>
/// <param name="Certificate">The certificate bytes.</param>
/// <param name="Origin">Where it was found.</param>
/// <param name="Transparency">Evidence that came with it, if any.</param>
/// <param name="Authentication">How the sighting was authenticated (mail that carried it, or the channel it came over).</param>
/// <param name="NamesAddress">Whether one of the certificate's user IDs carries the address; a key that does not is
/// never pinned for it.</param>
public sealed record ObservedKey(KeyFingerprint Fingerprint, byte[] Certificate, KeyOrigin Origin, TransparencyEvidence? Transparency = null,
    KeyAuthentication Authentication = KeyAuthentication.Channel, bool NamesAddress = true);
