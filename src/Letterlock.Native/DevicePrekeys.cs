using System.Security.Cryptography;

namespace Letterlock.Native;

/// <summary>
/// The private prekeys a device holds, in memory: the client loads them from its store, and this type
/// generates, finds and consumes them. Not thread-safe.
/// </summary>
public sealed class DevicePrekeys : IDisposable
{
    private readonly Dictionary<(PrekeyKind Kind, uint Id), PrivatePrekey> _prekeys = [];

    /// <summary>Every prekey held.</summary>
    public IEnumerable<PrivatePrekey> All => _prekeys.Values;

    /// <summary>How many prekeys of <paramref name="kind"/> the device holds.</summary>
    public int Count(PrekeyKind kind) => _prekeys.Keys.Count(k => k.Kind == kind);

    /// <summary>Adds a prekey (a loaded or generated one).</summary>
    /// <exception cref="ArgumentException">A prekey of that kind and id is already held.</exception>
    public void Add(PrivatePrekey prekey)
    {
        ArgumentNullException.ThrowIfNull(prekey);
        if (!_prekeys.TryAdd((prekey.Public.Kind, prekey.Public.Id), prekey))
        {
            throw new ArgumentException("A prekey of that kind and id is already held.", nameof(prekey));
        }
    }

    /// <summary>Generates a prekey with an unused random id, signs it and adds it.</summary>
    public PrivatePrekey Generate(DeviceIdentity device, PrekeyKind kind, DateTimeOffset expiresAt)
    {
        uint id;
        do
        {
            id = BitConverter.ToUInt32(RandomNumberGenerator.GetBytes(4));
        }
        while (id == 0 || _prekeys.ContainsKey((kind, id)));

        var prekey = PrivatePrekey.Generate(device, kind, id, expiresAt);
        _prekeys.Add((kind, id), prekey);
        return prekey;
    }

    /// <summary>The prekey of that kind and id, or null.</summary>
    public PrivatePrekey? Find(PrekeyKind kind, uint id) => _prekeys.GetValueOrDefault((kind, id));

    /// <summary>Removes (and wipes) a prekey; true if it was held.</summary>
    public bool Remove(PrekeyKind kind, uint id)
    {
        if (_prekeys.Remove((kind, id), out var prekey))
        {
            prekey.Dispose();
            return true;
        }

        return false;
    }

    /// <summary>Wipes every prekey.</summary>
    public void Dispose()
    {
        foreach (var prekey in _prekeys.Values)
        {
            prekey.Dispose();
        }

        _prekeys.Clear();
    }
}
