using System.Security.Cryptography;
using System.Text;
using Letterlock.Native;

namespace Letterlock.Native.Tests;

/// <summary>A clock the tests move by hand.</summary>
internal sealed class ManualClock(DateTimeOffset start) : TimeProvider
{
    public DateTimeOffset Now { get; set; } = start;

    public override DateTimeOffset GetUtcNow() => Now;

    public void Advance(TimeSpan by) => Now += by;
}

/// <summary>
/// One device in a test: its identity, prekeys and sessions, and the part of a provider that hands out
/// its prekey bundles (each one-time prekey once, then the last-resort KEM prekey).
/// </summary>
internal sealed class TestPeer
{
    private readonly byte[] _devicePrivateKey;
    private readonly Queue<uint> _oneTimeX = new();
    private readonly Queue<uint> _oneTimeKem = new();

    private TestPeer(string address, byte[] devicePrivateKey, DeviceIdentity identity, DevicePrekeys prekeys, DeviceSessions sessions, ManualClock clock)
    {
        Address = address;
        _devicePrivateKey = devicePrivateKey;
        Identity = identity;
        Prekeys = prekeys;
        Clock = clock;
        Device = new NativeDevice(identity, address, prekeys, sessions, clock);
    }

    public string Address { get; }

    public DeviceIdentity Identity { get; }

    public DevicePrekeys Prekeys { get; }

    public ManualClock Clock { get; }

    public NativeDevice Device { get; private set; }

    public DeviceSessions Sessions => Device.Sessions;

    public byte[] DeviceKey => Identity.DeviceKey.ToArray();

    public uint SignedPrekeyId { get; private set; }

    public uint LastResortId { get; private set; }

    public static TestPeer Create(string address, ManualClock clock, NativeOptions? options = null, int oneTime = 3) =>
        CreateWithDeviceKey(address, clock, RandomNumberGenerator.GetBytes(32), options, oneTime);

    /// <summary>A device rebuilt from stolen (or backed-up) storage: device key, identity key, prekeys and sessions.</summary>
    public static TestPeer Restored(string address, ManualClock clock, byte[] devicePrivate, byte[] identityPrivate, (List<byte[]> Sessions, List<byte[]> Prekeys) stored)
    {
        var prekeys = new DevicePrekeys();
        foreach (var prekey in stored.Prekeys)
        {
            prekeys.Add(PrivatePrekey.Import(prekey));
        }

        return new TestPeer(address, devicePrivate, DeviceIdentity.Load(devicePrivate, identityPrivate), prekeys, DeviceSessions.Load(stored.Sessions), clock);
    }

    public static TestPeer CreateWithDeviceKey(string address, ManualClock clock, byte[] devicePrivate, NativeOptions? options = null, int oneTime = 3)
    {
        var identity = DeviceIdentity.Generate(devicePrivate);
        var peer = new TestPeer(address, devicePrivate, identity, new DevicePrekeys(), new DeviceSessions(options), clock);
        peer.RotateSignedPrekey();
        peer.AddOneTimePrekeys(oneTime);
        return peer;
    }

    public void RotateSignedPrekey()
    {
        var expires = Clock.Now.AddDays(14);
        SignedPrekeyId = Prekeys.Generate(Identity, PrekeyKind.Signed, expires).Public.Id;
        LastResortId = Prekeys.Generate(Identity, PrekeyKind.LastResortKem, expires).Public.Id;
    }

    public void AddOneTimePrekeys(int count)
    {
        for (int i = 0; i < count; i++)
        {
            _oneTimeX.Enqueue(Prekeys.Generate(Identity, PrekeyKind.OneTime, Clock.Now.AddYears(1)).Public.Id);
            _oneTimeKem.Enqueue(Prekeys.Generate(Identity, PrekeyKind.OneTimeKem, Clock.Now.AddYears(1)).Public.Id);
        }
    }

    /// <summary>What the provider hands a sender: one-time prekeys while any are left.</summary>
    public PrekeyBundle Bundle()
    {
        var signed = Prekeys.Find(PrekeyKind.Signed, SignedPrekeyId)!.Public;
        var kem = _oneTimeKem.TryDequeue(out var kemId) ? Prekeys.Find(PrekeyKind.OneTimeKem, kemId)!.Public : Prekeys.Find(PrekeyKind.LastResortKem, LastResortId)!.Public;
        var oneTime = _oneTimeX.TryDequeue(out var id) ? Prekeys.Find(PrekeyKind.OneTime, id)!.Public : null;

        // Over the wire and back, as a client receives it.
        return PrekeyBundle.Decode(new PrekeyBundle(Identity.Certificate, signed, kem, oneTime).Encode());
    }

    public void EnsureSessionWith(TestPeer other)
    {
        if (Sessions.Active(other.DeviceKey) is null)
        {
            Device.StartSession(other.Address, other.Bundle(), other.DeviceKey);
        }
    }

    public SealedEnvelope Send(string text, params TestPeer[] recipients)
    {
        foreach (var recipient in recipients)
        {
            EnsureSessionWith(recipient);
        }

        return Device.Seal(Encoding.UTF8.GetBytes(text), [.. recipients.Select(r => new EnvelopeRecipient(r.DeviceKey))]);
    }

    public OpenResult Open(ReadOnlySpan<byte> envelope) => Device.Open(envelope);

    /// <summary>Everything the device stores, as the client would write it.</summary>
    public (List<byte[]> Sessions, List<byte[]> Prekeys) Snapshot() =>
        ([.. Sessions.All.Select(s => s.Export())], [.. Prekeys.All.Select(p => p.Export())]);

    /// <summary>Replaces the device's sessions and prekeys with a snapshot (a restore from an old backup).</summary>
    public void Restore((List<byte[]> Sessions, List<byte[]> Prekeys) snapshot)
    {
        Prekeys.Dispose();
        foreach (var stored in snapshot.Prekeys)
        {
            Prekeys.Add(PrivatePrekey.Import(stored));
        }

        Device = new NativeDevice(Identity, Address, Prekeys, DeviceSessions.Load(snapshot.Sessions, Sessions.Options), Clock);
    }

    /// <summary>Loses every session (prekeys stay), as after a broken session store.</summary>
    public void LoseSessions() =>
        Device = new NativeDevice(Identity, Address, Prekeys, new DeviceSessions(Sessions.Options), Clock);

    /// <summary>The device reloaded from its own storage: sessions and prekeys through Export and Import.</summary>
    public void Reload() => Restore(Snapshot());
}
