using Letterlock.OpenPgp;
using Letterlock.Provider.Transparency;

namespace Letterlock.KeyTransparency.Tests;

/// <summary>The provider's fast primary-key fingerprint agrees with the OpenPGP parser on every packet header form.</summary>
public sealed class FingerprintTests
{
    private static readonly Lazy<byte[]> Certificate = new(() => KeyGenerator.Generate("<fp@example.test>", ReadOnlySpan<char>.Empty).Certificate.Export(armored: false));

    [Fact]
    public void Every_header_form_of_the_first_packet_gives_the_parsers_fingerprint()
    {
        byte[] certificate = Certificate.Value;
        byte[] expected = Letterlock.OpenPgp.Certificate.Parse(certificate).Fingerprint.ToBytes();
        Assert.Equal(expected, PrimaryKeyFingerprint.TryCompute(certificate));

        var (body, rest) = SplitFirstPacket(certificate);
        byte[][] headers =
        [
            [0xC6, (byte)body.Length],                                          // new format, one-octet length
            [0xC6, 0xFF, 0, 0, 0, (byte)body.Length],                           // new format, five-octet length
            [0x98, (byte)body.Length],                                          // legacy, tag 6, one-octet length
            [0x99, 0, (byte)body.Length],                                       // legacy, two-octet length
            [0x9A, 0, 0, 0, (byte)body.Length],                                 // legacy, four-octet length
        ];
        foreach (var header in headers)
        {
            byte[] variant = [.. header, .. body, .. rest];
            Assert.Equal(expected, Letterlock.OpenPgp.Certificate.Parse(variant).Fingerprint.ToBytes());
            Assert.Equal(expected, PrimaryKeyFingerprint.TryCompute(variant));
        }
    }

    [Fact]
    public void Long_packets_use_two_and_five_octet_lengths_and_v6_keys_hash_with_sha256()
    {
        byte[] body = new byte[300];
        new Random(3).NextBytes(body);
        body[0] = 4;
        byte[] expected = System.Security.Cryptography.SHA1.HashData([0x99, 0x01, 0x2C, .. body]);
        int encoded = body.Length - 192;
        Assert.Equal(expected, PrimaryKeyFingerprint.TryCompute([0xC6, (byte)(192 + (encoded >> 8)), (byte)encoded, .. body]));
        Assert.Equal(expected, PrimaryKeyFingerprint.TryCompute([0xC6, 0xFF, 0, 0, 0x01, 0x2C, .. body]));
        Assert.Equal(expected, PrimaryKeyFingerprint.TryCompute([0x99, 0x01, 0x2C, .. body]));
        body[0] = 6;
        Assert.Equal(System.Security.Cryptography.SHA256.HashData([0x9B, 0, 0, 0x01, 0x2C, .. body]), PrimaryKeyFingerprint.TryCompute([0xC6, 0xFF, 0, 0, 0x01, 0x2C, .. body]));
    }

    [Fact]
    public void Anything_but_a_complete_v4_or_v6_public_key_packet_is_left_to_the_full_parser()
    {
        var (body, _) = SplitFirstPacket(Certificate.Value);
        Assert.Null(PrimaryKeyFingerprint.TryCompute([]));
        Assert.Null(PrimaryKeyFingerprint.TryCompute([0x00, 0x01]));                               // not a packet header
        Assert.Null(PrimaryKeyFingerprint.TryCompute([0xC6, (byte)(body.Length + 1), .. body]));   // truncated body
        Assert.Null(PrimaryKeyFingerprint.TryCompute([0xC6, 0xE0, .. body]));                      // partial length
        Assert.Null(PrimaryKeyFingerprint.TryCompute([0x9B, .. body]));                            // legacy indeterminate length
        Assert.Null(PrimaryKeyFingerprint.TryCompute([0xCE, (byte)body.Length, .. body]));         // tag 14: a subkey first
        byte[] v5 = [.. body];
        v5[0] = 5;
        Assert.Null(PrimaryKeyFingerprint.TryCompute([0xC6, (byte)v5.Length, .. v5]));
        Assert.Null(PrimaryKeyFingerprint.TryCompute([0xC6, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 4]));   // length beyond the input
    }

    /// <summary>The first packet's body and everything after it (the generated certificate's header is short).</summary>
    private static (byte[] Body, byte[] Tail) SplitFirstPacket(byte[] certificate)
    {
        int headerLength, length;
        if ((certificate[0] & 0x40) != 0)
        {
            Assert.True(certificate[1] < 192);
            (headerLength, length) = (2, certificate[1]);
        }
        else
        {
            Assert.InRange(certificate[0] & 0x03, 0, 1);
            (headerLength, length) = (certificate[0] & 0x03) == 0 ? (2, certificate[1]) : (3, (certificate[1] << 8) | certificate[2]);
        }

        Assert.True(length < 256);
        return (certificate[headerLength..(headerLength + length)], certificate[(headerLength + length)..]);
    }
}
