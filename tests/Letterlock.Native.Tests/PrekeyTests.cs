using System.Security.Cryptography;
using Letterlock.Native;

namespace Letterlock.Native.Tests;

public sealed class PrekeyTests
{
    private readonly ManualClock _clock = new(new DateTimeOffset(2026, 3, 1, 12, 0, 0, TimeSpan.Zero));

    [Fact]
    public void A_bundle_round_trips_and_every_signature_is_checked()
    {
        var bob = TestPeer.Create("bob@beta.test", _clock);
        var bundle = bob.Bundle();
        var encoded = bundle.Encode();
        Assert.Equal(1 + 128 + (13 + 32 + 64) + (13 + 1184 + 64) + 1 + (13 + 32 + 64), encoded.Length);
        var decoded = PrekeyBundle.Decode(encoded);
        Assert.Equal(encoded, decoded.Encode());
        Assert.Equal(PrekeyKind.OneTimeKem, decoded.KemPrekey.Kind);

        // Every byte of a signature or signed field matters.
        foreach (var position in new[] { 5, 40, 100, 140, 200, 300, 1000, encoded.Length - 100, encoded.Length - 1 })
        {
            var tampered = (byte[])encoded.Clone();
            tampered[position] ^= 0x08;
            var error = Assert.Throws<NativeException>(() => PrekeyBundle.Decode(tampered));
            Assert.True(error.Error is NativeError.InvalidSignature or NativeError.Malformed, $"byte {position}: {error.Error}");
        }
    }

    [Fact]
    public void A_prekey_signed_by_another_device_is_refused_in_a_bundle()
    {
        var bob = TestPeer.Create("bob@beta.test", _clock);
        var mallory = TestPeer.Create("mallory@beta.test", _clock);
        var genuine = bob.Bundle();
        var foreign = mallory.Bundle();
        var error = Assert.Throws<NativeException>(() => new PrekeyBundle(genuine.Identity, foreign.SignedPrekey, genuine.KemPrekey, genuine.OneTimePrekey));
        Assert.Equal(NativeError.InvalidSignature, error.Error);
    }

    [Fact]
    public void Bundles_without_one_time_prekeys_and_with_wrong_kinds()
    {
        var bob = TestPeer.Create("bob@beta.test", _clock, oneTime: 0);
        var bundle = bob.Bundle();
        Assert.Null(bundle.OneTimePrekey);
        Assert.Equal(PrekeyKind.LastResortKem, bundle.KemPrekey.Kind);
        Assert.Equal(bundle.Encode(), PrekeyBundle.Decode(bundle.Encode()).Encode());
        Assert.Equal(NativeError.Malformed, Assert.Throws<NativeException>(() => new PrekeyBundle(bundle.Identity, bundle.KemPrekey, bundle.SignedPrekey, null)).Error);
    }

    [Fact]
    public void Private_prekeys_export_and_import_to_the_same_public_part()
    {
        using var device = DeviceIdentity.Generate(RandomNumberGenerator.GetBytes(32));
        foreach (var kind in Enum.GetValues<PrekeyKind>())
        {
            using var prekey = PrivatePrekey.Generate(device, kind, 7, _clock.Now.AddDays(1));
            Assert.True(prekey.Public.Verify(device.DeviceKey.Span));
            using var again = PrivatePrekey.Import(prekey.Export());
            Assert.Equal(prekey.Public.Encode(), again.Public.Encode());
            Assert.Equal(prekey.Public.Encode(), SignedPrekey.Decode(prekey.Public.Encode()).Encode());
        }

        Assert.Throws<ArgumentOutOfRangeException>(() => PrivatePrekey.Generate(device, PrekeyKind.Signed, 0, _clock.Now));
    }

    [Fact]
    public void An_identity_certificate_verifies_only_with_its_own_device_key()
    {
        using var device = DeviceIdentity.Generate(RandomNumberGenerator.GetBytes(32));
        var encoded = device.Certificate.Encode();
        Assert.Equal(IdentityCertificate.Length, encoded.Length);
        Assert.Equal(encoded, IdentityCertificate.Decode(encoded).Encode());
        encoded[40] ^= 1; // the identity key
        Assert.Equal(NativeError.InvalidSignature, Assert.Throws<NativeException>(() => IdentityCertificate.Decode(encoded)).Error);

        using var reloaded = DeviceIdentity.Load(RandomNumberGenerator.GetBytes(32), device.IdentityPrivateKey.Span);
        Assert.Equal(device.Certificate.IdentityKey, reloaded.Certificate.IdentityKey);
        Assert.NotEqual(device.Certificate.DeviceKey, reloaded.Certificate.DeviceKey);
    }

    [Fact]
    public void A_session_start_naming_a_deleted_signed_prekey_is_undecryptable()
    {
        var alice = TestPeer.Create("alice@alpha.test", _clock);
        var bob = TestPeer.Create("bob@beta.test", _clock);
        var envelope = alice.Send("hi", bob);
        Assert.True(bob.Prekeys.Remove(PrekeyKind.Signed, bob.SignedPrekeyId));
        Assert.Equal(OpenStatus.Undecryptable, bob.Open(envelope.Bytes).Status);
    }

    [Fact]
    public void Reset_requests_round_trip_and_are_signed()
    {
        var bob = TestPeer.Create("bob@beta.test", _clock);
        var id = RandomNumberGenerator.GetBytes(16);
        var request = bob.Device.CreateResetRequest(id);
        var encoded = request.Encode();
        Assert.Equal(ResetRequest.Length, encoded.Length);
        var decoded = ResetRequest.Decode(encoded);
        Assert.Equal(id, decoded.EnvelopeId);
        Assert.Equal(bob.DeviceKey, decoded.DeviceKey);
        Assert.Equal(_clock.Now, decoded.IssuedAt);
        for (int i = 0; i < encoded.Length; i += 9)
        {
            var tampered = (byte[])encoded.Clone();
            tampered[i] ^= 0x20;
            Assert.Throws<NativeException>(() => ResetRequest.Decode(tampered));
        }

        Assert.Throws<NativeException>(() => ResetRequest.Decode(encoded.AsSpan(1)));
    }
}
