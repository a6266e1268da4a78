using System.Text;
using CsCheck;
using Letterlock.Native;

namespace Letterlock.Native.Tests;

/// <summary>
/// Session reset as a state machine: two devices write to each other while mail is reordered and
/// duplicated and either device loses its sessions or rolls back to an old backup. A device that cannot
/// open an envelope it never opened before sends a reset request to the envelope's sender, who retires
/// the session and sends the message again on a new one. In the end every message reaches its recipient
/// (the user saw "session reset", and lost nothing), and nothing opens as something it is not.
/// </summary>
public sealed class SessionResetTests
{
    private enum Kind
    {
        Send,
        Deliver,
        Duplicate,
        LoseSessions,
        TakeBackup,
        RestoreBackup,
    }

    private static readonly Gen<(Kind Kind, int Pick)[]> Operations =
        Gen.Select(Gen.Int[0, 19], Gen.Int[0, 1_000_000]).Select(t => (t.Item1 switch
        {
            < 6 => Kind.Send,
            < 14 => Kind.Deliver,
            < 16 => Kind.Duplicate,
            < 17 => Kind.LoseSessions,
            < 19 => Kind.TakeBackup,
            _ => Kind.RestoreBackup,
        }, t.Item2)).Array[1, 80];

    [Fact]
    public void After_lost_or_rolled_back_state_every_message_still_arrives()
    {
        Gen.Select(Operations, Gen.Int).Sample((ops, seed) =>
        {
            var world = new World();
            world.Apply(ops, seed);
            world.AssertNothingLost();
        }, iter: 80, threads: 1);
    }

    [Fact]
    public void A_lost_session_is_reset_once_and_the_message_is_sent_again()
    {
        var world = new World();
        world.Send(0);
        world.DeliverAll();
        world.Send(1);
        world.DeliverAll();
        world.Devices[1].Peer.LoseSessions();
        world.Send(0);
        world.DeliverAll();
        Assert.Equal(1, world.Devices[1].ResetNotices);
        Assert.Equal(0, world.Devices[0].ResetNotices);
        world.AssertNothingLost();

        // The sender's old session was retired: the next message starts a new one, and no more resets follow.
        world.Send(0);
        world.Send(1);
        world.DeliverAll();
        Assert.Equal(1, world.Devices[1].ResetNotices);
        world.AssertNothingLost();
    }

    [Fact]
    public void A_request_about_an_old_session_retires_nothing()
    {
        var world = new World();
        world.Send(0);
        world.DeliverAll();
        var alice = world.Devices[0].Peer;
        var bob = world.Devices[1].Peer;
        var first = alice.Sessions.Active(bob.DeviceKey)!.SessionId;
        var request = ResetRequest.Decode(bob.Device.CreateResetRequest(new byte[16]).Encode());
        Assert.True(alice.Device.AcceptReset(request, first));
        Assert.Null(alice.Sessions.Active(bob.DeviceKey));
        alice.EnsureSessionWith(bob);
        Assert.False(alice.Device.AcceptReset(request, first));
        Assert.NotNull(alice.Sessions.Active(bob.DeviceKey));

        // Too old, or from the future.
        var second = alice.Sessions.Active(bob.DeviceKey)!.SessionId;
        alice.Clock.Advance(TimeSpan.FromDays(31));
        Assert.False(alice.Device.AcceptReset(request, second));
        alice.Clock.Advance(TimeSpan.FromDays(-33));
        Assert.False(alice.Device.AcceptReset(request, second));
    }

    private sealed record Sent(int Message, string Text, int From, int To, byte[] SessionId);

    private sealed class Device(TestPeer peer)
    {
        public TestPeer Peer { get; } = peer;

        public Dictionary<string, Sent> SentEnvelopes { get; } = [];

        public HashSet<string> OpenedEnvelopes { get; } = [];

        public HashSet<int> Received { get; } = [];

        public (List<byte[]>, List<byte[]>)? Backup { get; set; }

        public int ResetNotices { get; set; }

        public bool LostState { get; set; }
    }

    /// <summary>In flight: an envelope to a device, or a reset request back to a sender.</summary>
    private sealed record Item(int To, byte[]? Envelope, byte[]? Reset);

    private sealed class World
    {
        private readonly List<Item> _pool = [];
        private readonly List<Sent> _messages = [];

        public World()
        {
            var clock = new ManualClock(new DateTimeOffset(2026, 3, 1, 12, 0, 0, TimeSpan.Zero));
            Devices = [new Device(TestPeer.Create("alice@alpha.test", clock, oneTime: 2)), new Device(TestPeer.Create("bob@beta.test", clock, oneTime: 2))];
        }

        public Device[] Devices { get; }

        public void Apply((Kind Kind, int Pick)[] ops, int seed)
        {
            foreach (var (kind, pick) in ops)
            {
                var device = Devices[pick % 2];
                switch (kind)
                {
                    case Kind.Send:
                        Send(pick % 2);
                        break;
                    case Kind.Deliver when _pool.Count > 0:
                        Deliver(pick % _pool.Count, keep: false);
                        break;
                    case Kind.Duplicate when _pool.Count > 0:
                        Deliver(pick % _pool.Count, keep: true);
                        break;
                    case Kind.LoseSessions:
                        device.Peer.LoseSessions();
                        device.LostState = true;
                        break;
                    case Kind.TakeBackup:
                        device.Backup = device.Peer.Snapshot();
                        break;
                    case Kind.RestoreBackup when device.Backup is { } backup:
                        device.Peer.Restore(backup);
                        device.LostState = true;
                        break;
                }
            }

            DeliverAll(new Random(seed));
        }

        public void Send(int from)
        {
            var text = $"message {_messages.Count} from {from}";
            var sent = new Sent(_messages.Count, text, from, 1 - from, []);
            _messages.Add(sent);
            Transmit(sent);
        }

        public void DeliverAll(Random? random = null)
        {
            for (int steps = 0; _pool.Count > 0; steps++)
            {
                Assert.True(steps < 10_000, "resets do not settle");
                Deliver(random?.Next(_pool.Count) ?? 0, keep: false);
            }
        }

        public void AssertNothingLost()
        {
            foreach (var message in _messages)
            {
                Assert.Contains(message.Message, Devices[message.To].Received);
            }
        }

        private void Transmit(Sent message)
        {
            var sender = Devices[message.From].Peer;
            var recipient = Devices[message.To].Peer;
            var envelope = sender.Send(message.Text, recipient);
            Devices[message.From].SentEnvelopes[Convert.ToHexString(envelope.EnvelopeId)] = message with { SessionId = envelope.SessionIds[0] };
            _pool.Add(new Item(message.To, envelope.Bytes, null));
        }

        private void Deliver(int index, bool keep)
        {
            var item = _pool[index];
            if (!keep)
            {
                _pool.RemoveAt(index);
            }

            var device = Devices[item.To];
            if (item.Reset is not null)
            {
                // The sender's client: a genuine request about an envelope it sent to that device -> retire the session, send again.
                var request = ResetRequest.Decode(item.Reset);
                var sent = device.SentEnvelopes[Convert.ToHexString(request.EnvelopeId)];
                Assert.Equal(Devices[sent.To].Peer.DeviceKey, request.DeviceKey);
                device.Peer.Device.AcceptReset(request, sent.SessionId);
                Transmit(sent);
                return;
            }

            var result = device.Peer.Open(item.Envelope!);
            var id = Convert.ToHexString(result.EnvelopeId ?? []);
            switch (result.Status)
            {
                case OpenStatus.Opened:
                    // A device that lost its sessions (a start can be taken up again) or went back to a backup (it holds keys
                    // it had used) may open an envelope again: the client's record of opened envelopes catches those.
                    Assert.True(device.OpenedEnvelopes.Add(id) || device.LostState, "an envelope opened twice");
                    var text = Encoding.UTF8.GetString(result.Content!);
                    var message = _messages.Single(m => m.Text == text);
                    Assert.Equal(item.To, message.To);
                    Assert.Equal(Devices[message.From].Peer.DeviceKey, result.Sender!.Identity.DeviceKey);
                    device.Received.Add(message.Message);
                    break;
                case OpenStatus.Replayed or OpenStatus.Undecryptable or OpenStatus.TooManySkipped or OpenStatus.Tampered when !device.OpenedEnvelopes.Contains(id):
                    // Never opened here: the session state is lost or rolled back (on either side). "Session reset".
                    device.ResetNotices++;
                    _pool.Add(new Item(1 - item.To, null, device.Peer.Device.CreateResetRequest(result.EnvelopeId!).Encode()));
                    break;
                case OpenStatus.Replayed or OpenStatus.Undecryptable or OpenStatus.Tampered:
                    break; // a duplicate of an envelope already opened (after a rollback it may meet a diverged session)
                default:
                    Assert.Fail($"unexpected {result.Status}");
                    break;
            }
        }
    }
}
