using System.Text;

namespace Letterlock.Cryptography.Opaque;

/// <summary>
/// The optional client and server identities of RFC 9807, section 4 (for Letterlock: the account address and
/// the provider's domain). An identity left null defaults to that party's public key. Both parties must pass the
/// same values at registration and at every login: they are bound into the envelope's MAC and the key schedule, so
/// a login that names another account or another provider fails.
/// </summary>
public sealed class OpaqueIdentities
{
    private readonly byte[]? _client;
    private readonly byte[]? _server;

    /// <summary>
    /// Identities as bytes, each at most 65535 bytes (<c>uint8 identity&lt;1..2^16-1&gt;</c>); an empty span
    /// leaves that identity unset.
    /// </summary>
    /// <exception cref="ArgumentException">An identity is longer than 65535 bytes.</exception>
    public OpaqueIdentities(ReadOnlySpan<byte> clientIdentity, ReadOnlySpan<byte> serverIdentity)
        : this(Copy(clientIdentity, nameof(clientIdentity)), Copy(serverIdentity, nameof(serverIdentity)))
    {
    }

    private OpaqueIdentities(byte[]? client, byte[]? server)
    {
        _client = client;
        _server = server;
    }

    /// <summary>No identities: both default to the public keys (the RFC's recommendation absent other names).</summary>
    public static OpaqueIdentities None { get; } = new(null, null);

    /// <summary>True when a client identity was given.</summary>
    public bool HasClientIdentity => _client is not null;

    /// <summary>True when a server identity was given.</summary>
    public bool HasServerIdentity => _server is not null;

    /// <summary>Identities from text, UTF-8 encoded; null or empty leaves one unset.</summary>
    /// <exception cref="ArgumentException">An identity encodes to more than 65535 bytes.</exception>
    public static OpaqueIdentities FromStrings(string? clientIdentity, string? serverIdentity) =>
        new(Encode(clientIdentity, nameof(clientIdentity)), Encode(serverIdentity, nameof(serverIdentity)));

    /// <summary>client_identity, or <paramref name="clientPublicKey"/> when none was given.</summary>
    internal ReadOnlySpan<byte> ClientOr(ReadOnlySpan<byte> clientPublicKey) => _client ?? clientPublicKey;

    /// <summary>server_identity, or <paramref name="serverPublicKey"/> when none was given.</summary>
    internal ReadOnlySpan<byte> ServerOr(ReadOnlySpan<byte> serverPublicKey) => _server ?? serverPublicKey;

    private static byte[]? Copy(ReadOnlySpan<byte> identity, string name)
    {
        if (identity.IsEmpty)
        {
            return null;
        }

        return identity.Length <= OpaqueSuite.MaxFramedLength
            ? identity.ToArray()
            : throw new ArgumentException("An identity must be at most 65535 bytes.", name);
    }

    private static byte[]? Encode(string? identity, string name) =>
        string.IsNullOrEmpty(identity) ? null : Copy(Encoding.UTF8.GetBytes(identity), name);
}
