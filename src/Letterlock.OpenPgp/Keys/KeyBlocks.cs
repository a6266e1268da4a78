using Org.BouncyCastle.Bcpg.OpenPgp;

namespace Letterlock.OpenPgp;

/// <summary>The one reader of concatenated key blocks (certificates, secret keys): armor, the packet limit, markers skipped.</summary>
internal static class KeyBlocks
{
    /// <summary>
    /// Reads every OpenPGP object of <paramref name="data"/> (armored or binary) within <see cref="OpenPgpOptions.MaxPacketCount"/>,
    /// skipping marker packets (RFC 9580, 5.8) and handing every other one to <paramref name="read"/>, which returns the key
    /// or throws for anything else; at least one key must be found.
    /// </summary>
    public static IReadOnlyList<T> ParseAll<T>(ReadOnlyMemory<byte> data, OpenPgpOptions? options, string what, Func<PgpObject, T> read)
    {
        options ??= OpenPgpOptions.Default;
        var binary = Armor.Decode(data, options);
        var result = new List<T>();
        PacketGuard.Run(() =>
        {
            var factory = new PgpObjectFactory(binary);
            var count = 0;
            while (factory.NextPgpObject() is { } obj)
            {
                if (++count > options.MaxPacketCount)
                {
                    throw new LimitExceededException(nameof(OpenPgpOptions.MaxPacketCount), options.MaxPacketCount);
                }

                if (obj is not PgpMarker)
                {
                    result.Add(read(obj));
                }
            }
        });
        return result.Count > 0 ? result : throw new MalformedInputException($"no {what} found");
    }
}
