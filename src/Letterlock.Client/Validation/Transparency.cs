namespace Letterlock.Client.Validation;

/// <summary>
/// Key-transparency evidence that came with a key (for example from the recipient provider's
/// directory): the log it claims membership in and the serialized proof. The client never trusts
/// it as such; an <see cref="ITransparencyVerifier"/> checks it and yields a <see cref="TransparencyVerdict"/>.
/// </summary>
/// <param name="Log">The log's identity (its origin, e.g. the provider domain).</param>
/// <param name="Proof">The proof as served (format owned by Letterlock.Transparency).</param>
public sealed record TransparencyEvidence(string Log, ReadOnlyMemory<byte> Proof);

/// <summary>The outcome of checking transparency evidence.</summary>
public enum TransparencyVerdict
{
    /// <summary>No evidence came with the key, or no verifier is configured.</summary>
    Absent,

    /// <summary>The proof verified and is consistent with the log history this client has seen.</summary>
    Verified,

    /// <summary>Evidence came but did not verify: treated as absent, and the failure is recorded.</summary>
    Failed,
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
public sealed record ObservedKey(KeyFingerprint Fingerprint, byte[] Certificate, KeyOrigin Origin, TransparencyEvidence? Transparency = null);
