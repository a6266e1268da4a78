using System.Security.Cryptography;
using Letterlock.Cryptography.Internal;

namespace Letterlock.Cryptography.Cpace;

/// <summary>The two roles of CPace's initiator-responder setting (draft-irtf-cfrg-cpace-21, sections 4 and 6.3).</summary>
public enum CpaceRole
{
    /// <summary>Party A: its message comes first in the transcript (for device linking: the new device).</summary>
    Initiator,

    /// <summary>Party B: its message comes second (for device linking: the device that approves).</summary>
    Responder,
}

/// <summary>
/// One party of a CPace exchange (draft-irtf-cfrg-cpace-21, suite CPACE-RISTR255-SHA512), a balanced PAKE: both
/// parties hold the same low-entropy secret (the link code), each sends one message, and both derive the same key
/// only if they used the same code, channel identifier and session id. An attacker who relays or replaces messages
/// gets one guess at the code per exchange and learns nothing to test guesses offline.
/// </summary>
/// <remarks>
/// Start, send the message <c>Start</c> returns, pass the peer's message to <see cref="Finish"/>, send the result's
/// <see cref="CpaceResult.ConfirmationTag"/>, and check the peer's with <see cref="CpaceResult.ConfirmPeer"/>
/// before using any key or showing the short authentication string.
/// </remarks>
public sealed class CpaceSession : IDisposable
{
    private readonly CpaceRole _role;
    private readonly byte[] _scalar;
    private readonly byte[] _sessionId;
    private readonly CpaceMessage _own;
    private bool _finished;

    private CpaceSession(CpaceRole role, byte[] scalar, byte[] sessionId, CpaceMessage own)
    {
        _role = role;
        _scalar = scalar;
        _sessionId = sessionId;
        _own = own;
    }

    /// <summary>
    /// Starts a party: g = calculate_generator(PRS, CI, sid), a random scalar y, and the message (y*g, AD).
    /// </summary>
    /// <param name="role">Which side of the exchange this party is.</param>
    /// <param name="password">PRS: the shared secret, for instance the link code as UTF-8.</param>
    /// <param name="channelIdentifier">CI: not sent; both sides must pass the same (for instance the account and both roles).</param>
    /// <param name="sessionId">sid: a public value unique to this exchange (for instance chosen by the provider's link session).</param>
    /// <param name="associatedData">AD: sent in the clear and authenticated (for instance the device's name and public key).</param>
    public static (CpaceSession Session, CpaceMessage Message) Start(
        CpaceRole role, ReadOnlySpan<byte> password, ReadOnlySpan<byte> channelIdentifier, ReadOnlySpan<byte> sessionId,
        ReadOnlySpan<byte> associatedData)
    {
        var scalar = new byte[Ristretto255.ScalarLength];
        Sodium.ScalarRandom(scalar);
        return Start(role, password, channelIdentifier, sessionId, associatedData, scalar);
    }

    /// <summary>
    /// Finishes with the peer's message: K = scalar_mult_vfy(y, Y_peer) and
    /// ISK = SHA-512(lv_cat("CPaceRistretto255_ISK", sid, K) || transcript_ir). A peer element that does not decode or
    /// gives the identity aborts with <see cref="CpaceStatus.InvalidPeerMessage"/>. A wrong code is not detected
    /// here but by <see cref="CpaceResult.ConfirmPeer"/>. Consumes the session.
    /// </summary>
    public CpaceResult Finish(CpaceMessage peerMessage)
    {
        ArgumentNullException.ThrowIfNull(peerMessage);
        ObjectDisposedException.ThrowIf(_finished, this);
        Span<byte> k = stackalloc byte[Ristretto255.ElementLength];
        try
        {
            if (!CpaceProtocol.ScalarMultVfy(_scalar, peerMessage.Y, k))
            {
                return CpaceResult.Invalid;
            }

            byte[] transcript = _role == CpaceRole.Initiator
                ? CpaceProtocol.TranscriptIr(_own.Y, _own.Ad, peerMessage.Y, peerMessage.Ad)
                : CpaceProtocol.TranscriptIr(peerMessage.Y, peerMessage.Ad, _own.Y, _own.Ad);
            byte[] isk = CpaceProtocol.Isk(_sessionId, k, transcript);
            byte[] ownTag = CpaceProtocol.ConfirmationTag(_sessionId, isk, _own.Y, _own.Ad);
            byte[] peerTag = CpaceProtocol.ConfirmationTag(_sessionId, isk, peerMessage.Y, peerMessage.Ad);
            return new CpaceResult(isk, ownTag, peerTag, peerMessage.AssociatedData);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(k);
            Dispose();
        }
    }

    /// <summary>Zeroes the secret scalar.</summary>
    public void Dispose()
    {
        CryptographicOperations.ZeroMemory(_scalar);
        _finished = true;
    }

    internal static (CpaceSession Session, CpaceMessage Message) Start(
        CpaceRole role, ReadOnlySpan<byte> password, ReadOnlySpan<byte> channelIdentifier, ReadOnlySpan<byte> sessionId,
        ReadOnlySpan<byte> associatedData, byte[] scalar)
    {
        Span<byte> generator = stackalloc byte[Ristretto255.ElementLength];
        var y = new byte[Ristretto255.ElementLength];
        CpaceProtocol.CalculateGenerator(password, channelIdentifier, sessionId, generator);

        // G.scalar_mult(y, g); a zero scalar (probability 2^-252) would give the identity.
        if (!Sodium.Ristretto255ScalarMult(scalar, generator, y))
        {
            CryptographicOperations.ZeroMemory(scalar);
            throw new CryptographicException("The CPace share is the identity element.");
        }

        var message = new CpaceMessage(y, associatedData.ToArray());
        return (new CpaceSession(role, scalar, sessionId.ToArray(), message), message);
    }
}
