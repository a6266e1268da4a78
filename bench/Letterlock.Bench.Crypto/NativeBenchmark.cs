using System.Security.Cryptography;
using System.Text;
using Letterlock.Native;
using Letterlock.OpenPgp;

namespace Letterlock.Bench.Crypto;

/// <summary>
/// The native protocol on one core: session start (PQXDH) on both sides, a Double Ratchet message with and without a
/// DH step, sealing and opening per message size against PGP/MIME's encrypt+sign and decrypt+verify in the same run,
/// and the cost and size of one envelope for 1, 2 and 5 recipient devices.
/// </summary>
internal static class NativeBenchmark
{
    private static readonly DateTimeOffset Now = DateTimeOffset.UtcNow;

    public static void Run()
    {
        Console.WriteLine("## Native protocol (one core)");
        Console.WriteLine();
        Console.WriteLine("| operation | result |");
        Console.WriteLine("|---|---|");

        // Session start. The responder opens the same first envelope with fresh sessions each time (a bundle without a
        // one-time prekey, so no prekey is spent): DH1..DH3, ML-KEM-768 decapsulation, the sealed sender certificate,
        // the first ratchet message and the payload.
        var alice = Peer.Create("alice@alpha.test");
        var bob = Peer.Create("bob@beta.test");
        var withOneTime = bob.Bundle(oneTime: true);
        var lastResort = bob.Bundle(oneTime: false);
        Measure.Row("session start, initiator (bundle checks, 4 X25519 DH, ML-KEM-768 encapsulation, HKDF)",
            $"{Measure.OpsPerSecond(() => alice.Fresh().StartSession(bob.Address, withOneTime, bob.DeviceKey)):N0} /s");
        var starter = alice.Fresh();
        starter.StartSession(bob.Address, lastResort, bob.DeviceKey);
        var first = starter.Seal(Message(1024), [new EnvelopeRecipient(bob.DeviceKey)]).Bytes;
        Measure.Row("session start, responder (opens the first 1 KiB message: 3 DH, ML-KEM-768 decapsulation, sender certificate)",
            $"{Measure.OpsPerSecond(() => Check(bob.Fresh().Open(first))):N0} /s");

        // Established sessions both ways.
        var (aliceDevice, bobDevice) = (alice.Fresh(), bob.Fresh());
        aliceDevice.StartSession(bob.Address, withOneTime, bob.DeviceKey);
        Check(bobDevice.Open(aliceDevice.Seal(Message(100), [new EnvelopeRecipient(bob.DeviceKey)]).Bytes));
        Check(aliceDevice.Open(bobDevice.Seal(Message(100), [new EnvelopeRecipient(alice.DeviceKey)]).Bytes));

        // A DH ratchet step each message: they take turns, so every message seals under a new ratchet key and opens with a new DH.
        var small = Message(1024);
        Measure.Row("1 KiB message with a DH ratchet step each way (seal + open, per message)", $"{Rate(2000, _ =>
        {
            Check(bobDevice.Open(aliceDevice.Seal(small, [new EnvelopeRecipient(bob.DeviceKey)]).Bytes));
            Check(aliceDevice.Open(bobDevice.Seal(small, [new EnvelopeRecipient(alice.DeviceKey)]).Bytes));
        }) * 2:N0} /s");

        // Per size: a run of messages on one sending chain (symmetric steps only), then PGP/MIME's armored encrypt+sign.
        var engine = new OpenPgpEngine();
        var aliceKey = KeyGenerator.Generate("Alice <alice@alpha.test>", "").SecretKey.Unlock();
        var bobKey = KeyGenerator.Generate("Bob <bob@beta.test>", "").SecretKey.Unlock();
        var encrypt = new EncryptOptions { Signers = [aliceKey], Armor = true };
        var decrypt = new DecryptOptions { Keys = [bobKey], Verifiers = [aliceKey.Certificate] };
        foreach (int size in new[] { 1024, 10 * 1024, 100 * 1024, 1024 * 1024 })
        {
            var content = Message(size);
            int count = Math.Max(20, 4_000_000 / size);
            var envelopes = new byte[count][];
            double seal = Rate(count, i => envelopes[i] = aliceDevice.Seal(content, [new EnvelopeRecipient(bob.DeviceKey)]).Bytes);
            double open = Rate(count, i => Check(bobDevice.Open(envelopes[i])));
            var armored = engine.Encrypt(content, [bobKey.Certificate], encrypt);
            double pgpSeal = Rate(Math.Max(10, count / 4), _ => engine.Encrypt(content, [bobKey.Certificate], encrypt));
            double pgpOpen = Rate(Math.Max(10, count / 4), _ => engine.Decrypt(armored, decrypt));
            string label = size >= 1024 * 1024 ? $"{size / (1024 * 1024)} MiB" : $"{size / 1024} KiB";
            Measure.Row($"{label}: native seal / open (one device)", $"{seal:N0} /s / {open:N0} /s");
            Measure.Row($"{label}: PGP/MIME encrypt+sign / decrypt+verify (armored)", $"{pgpSeal:N0} /s / {pgpOpen:N0} /s");
            Measure.Row($"{label}: bytes on the wire, native (envelope, base64) / PGP/MIME (armored)",
                $"{Base64Length(envelopes[0].Length):N0} / {armored.Length:N0}");
        }

        // Recipient devices: one envelope, the message key wrapped per device.
        foreach (int devices in new[] { 1, 2, 5 })
        {
            var sender = alice.Fresh();
            var keys = new List<byte[]>();
            for (int i = 0; i < devices; i++)
            {
                var device = Peer.Create("carol@gamma.test");
                sender.StartSession(device.Address, device.Bundle(oneTime: true), device.DeviceKey);
                keys.Add(device.DeviceKey);
            }

            var content = Message(10 * 1024);
            var recipients = keys.Select(k => new EnvelopeRecipient(k)).ToList();
            int size = sender.Seal(content, recipients).Bytes.Length;
            double rate = Rate(2000, _ => sender.Seal(content, recipients));
            Measure.Row($"10 KiB message to {devices} device(s): seal / envelope bytes (sessions not yet answered: start fields in each entry)", $"{rate:N0} /s / {size:N0}");
        }

        Console.WriteLine();
    }

    /// <summary>Operations per CPU-second of <paramref name="count"/> calls, each on its own input (an envelope opens once).</summary>
    private static double Rate(int count, Action<int> operation)
    {
        var start = Measure.Cpu;
        for (int i = 0; i < count; i++)
        {
            operation(i);
        }

        return count / Math.Max((Measure.Cpu - start).TotalSeconds, 1e-9);
    }

    private static byte[] Message(int size)
    {
        var header = Encoding.ASCII.GetBytes("From: <alice@alpha.test>\r\nTo: <bob@beta.test>\r\nSubject: bench\r\n\r\n");
        var message = new byte[Math.Max(size, header.Length)];
        header.CopyTo(message, 0);
        RandomNumberGenerator.Fill(message.AsSpan(header.Length));
        return message;
    }

    private static int Base64Length(int bytes) => (bytes + 2) / 3 * 4 + (bytes + 56) / 57 * 2;

    private static void Check(OpenResult result)
    {
        if (result.Status != OpenStatus.Opened)
        {
            throw new InvalidOperationException($"the benchmark's envelope did not open: {result.Status}");
        }
    }

    /// <summary>One device: identity and prekeys; <see cref="Fresh"/> gives it a device with no sessions.</summary>
    private sealed class Peer
    {
        private readonly DeviceIdentity _identity;
        private readonly DevicePrekeys _prekeys = new();
        private readonly SignedPrekey _signed;
        private readonly SignedPrekey _kem;

        private Peer(string address)
        {
            Address = address;
            _identity = DeviceIdentity.Generate(RandomNumberGenerator.GetBytes(32));
            _signed = _prekeys.Generate(_identity, PrekeyKind.Signed, Now.AddDays(14)).Public;
            _kem = _prekeys.Generate(_identity, PrekeyKind.LastResortKem, Now.AddDays(14)).Public;
        }

        public string Address { get; }

        public byte[] DeviceKey => _identity.DeviceKey.ToArray();

        public static Peer Create(string address) => new(address);

        public NativeDevice Fresh() => new(_identity, Address, _prekeys, new DeviceSessions());

        /// <summary>A bundle over the wire and back; with a fresh one-time prekey pair, or the last-resort KEM prekey alone.</summary>
        public PrekeyBundle Bundle(bool oneTime)
        {
            var kem = oneTime ? _prekeys.Generate(_identity, PrekeyKind.OneTimeKem, Now.AddDays(30)).Public : _kem;
            var x = oneTime ? _prekeys.Generate(_identity, PrekeyKind.OneTime, Now.AddDays(30)).Public : null;
            return PrekeyBundle.Decode(new PrekeyBundle(_identity.Certificate, _signed, kem, x).Encode());
        }
    }
}
