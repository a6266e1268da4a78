namespace Letterlock.OpenPgp.Autocrypt;

/// <summary>What Autocrypt recommends for a recipient (Level 1, section 2.4).</summary>
public enum AutocryptRecommendation
{
    /// <summary>Encryption is not possible: no usable key.</summary>
    Disable,
    /// <summary>Encryption is possible but may not be readable (stale or gossip-only key): do not encrypt by default.</summary>
    Discourage,
    /// <summary>Encryption is possible; offer it.</summary>
    Available,
    /// <summary>Encrypt by default (both mutual, or replying to an encrypted message).</summary>
    Encrypt,
}

/// <summary>
/// The Autocrypt state kept per peer address (Level 1, section 2.3). Immutable: updates return
/// a new state, so the caller stores it transactionally with the message that caused it.
/// </summary>
/// <param name="Address">The peer's address (lower-cased by convention).</param>
/// <param name="LastSeen">Effective date of the newest message seen from the peer.</param>
/// <param name="AutocryptTimestamp">Effective date of the newest message with a valid Autocrypt header.</param>
/// <param name="PublicKey">The key from that header, or null.</param>
/// <param name="PreferEncrypt">The preference from that header.</param>
/// <param name="GossipTimestamp">Effective date of the newest gossip about the peer.</param>
/// <param name="GossipKey">The key from that gossip, or null.</param>
public sealed record AutocryptPeerState(
    string Address,
    DateTimeOffset LastSeen,
    DateTimeOffset? AutocryptTimestamp,
    Certificate? PublicKey,
    PreferEncrypt PreferEncrypt,
    DateTimeOffset? GossipTimestamp,
    Certificate? GossipKey)
{
    /// <summary>A key older than this relative to the last message seen is "stale" (section 2.4.1).</summary>
    public static readonly TimeSpan StaleAfter = TimeSpan.FromDays(35);

    /// <summary>
    /// The message's effective date: its Date header, but never in the future (section 2.3.2),
    /// so a forged future date cannot pin a key forever.
    /// </summary>
    public static DateTimeOffset EffectiveDate(DateTimeOffset? dateHeader, DateTimeOffset now) =>
        dateHeader is { } d && d < now ? d : now;

    /// <summary>
    /// Applies a message from the peer (section 2.3.3). <paramref name="header"/> is the message's
    /// valid Autocrypt header, or null when it had none (or only invalid ones).
    /// </summary>
    public static AutocryptPeerState Update(AutocryptPeerState? state, string address, DateTimeOffset effectiveDate, AutocryptHeader? header)
    {
        state ??= new AutocryptPeerState(address, DateTimeOffset.MinValue, null, null, PreferEncrypt.NoPreference, null, null);
        // 1. Older than the last Autocrypt header seen: nothing changes.
        if (state.AutocryptTimestamp is { } ts && effectiveDate < ts)
        {
            return state;
        }

        // 2. Newer than anything seen: remember when.
        if (effectiveDate > state.LastSeen)
        {
            state = state with { LastSeen = effectiveDate };
        }

        // 3. No header: done. 4. Otherwise take the key and preference.
        return header is null
            ? state
            : state with { AutocryptTimestamp = effectiveDate, PublicKey = header.Certificate, PreferEncrypt = header.PreferEncrypt };
    }

    /// <summary>Applies an <c>Autocrypt-Gossip</c> header about the peer found inside an encrypted message (section 2.3.4).</summary>
    public static AutocryptPeerState UpdateFromGossip(AutocryptPeerState? state, string address, DateTimeOffset effectiveDate, AutocryptHeader gossip)
    {
        state ??= new AutocryptPeerState(address, DateTimeOffset.MinValue, null, null, PreferEncrypt.NoPreference, null, null);
        return state.GossipTimestamp is { } ts && effectiveDate <= ts
            ? state
            : state with { GossipTimestamp = effectiveDate, GossipKey = gossip.Certificate };
    }

    /// <summary>
    /// The recommendation for writing to this peer (section 2.4): preliminary from key
    /// availability and staleness, final from both parties' preferences and whether the message
    /// replies to an encrypted one.
    /// </summary>
    public static AutocryptRecommendation Recommend(AutocryptPeerState? state, PreferEncrypt ownPreference, bool replyToEncrypted, DateTimeOffset now)
    {
        if (state is null)
        {
            return AutocryptRecommendation.Disable;
        }

        var usable = state.PublicKey?.SelectEncryptionKey(now) is not null;
        var gossipUsable = state.GossipKey?.SelectEncryptionKey(now) is not null;
        AutocryptRecommendation preliminary;
        if (!usable && !gossipUsable)
        {
            preliminary = AutocryptRecommendation.Disable;
        }
        else if (!usable)
        {
            preliminary = AutocryptRecommendation.Discourage; // gossip only
        }
        else if (state.AutocryptTimestamp is { } ts && state.LastSeen - ts > StaleAfter)
        {
            preliminary = AutocryptRecommendation.Discourage; // the peer stopped sending Autocrypt headers
        }
        else
        {
            preliminary = AutocryptRecommendation.Available;
        }

        if (preliminary is AutocryptRecommendation.Available or AutocryptRecommendation.Discourage && replyToEncrypted)
        {
            return AutocryptRecommendation.Encrypt;
        }

        if (preliminary == AutocryptRecommendation.Available && ownPreference == PreferEncrypt.Mutual && state.PreferEncrypt == PreferEncrypt.Mutual)
        {
            return AutocryptRecommendation.Encrypt;
        }

        return preliminary;
    }

    /// <summary>The key to encrypt to: the peer's own Autocrypt key if usable, else the gossiped one.</summary>
    public Certificate? EncryptionKey(DateTimeOffset now) =>
        PublicKey?.SelectEncryptionKey(now) is not null ? PublicKey : GossipKey?.SelectEncryptionKey(now) is not null ? GossipKey : null;
}
