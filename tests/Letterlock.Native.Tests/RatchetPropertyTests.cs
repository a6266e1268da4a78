using System.Text;
using CsCheck;
using Letterlock.Native;

namespace Letterlock.Native.Tests;

/// <summary>
/// The ratchet under what mail does to messages: random loss, reordering and duplication, in both
/// directions, between two accounts of two devices each (every message goes to the other account's
/// devices and the sender's other device).
/// </summary>
public sealed class RatchetPropertyTests
{
    private enum Kind
    {
        Send,
        Deliver,
        Duplicate,
        Drop,
    }

    private sealed record InFlight(int Message, string Text, int Recipient, byte[] Envelope);

    private static readonly Gen<(Kind Kind, int Pick)[]> Operations =
        Gen.Select(Gen.Int[0, 9], Gen.Int[0, 1_000_000]).Select(t => (t.Item1 switch
        {
            < 3 => Kind.Send,
            < 7 => Kind.Deliver,
            < 8 => Kind.Duplicate,
            _ => Kind.Drop,
        }, t.Item2)).Array[1, 90];

    [Fact]
    public void Every_delivered_message_opens_exactly_once_whatever_the_order_loss_and_duplication()
    {
        Gen.Select(Operations, Gen.Int).Sample((ops, seed) =>
        {
            var run = new Run(NativeOptions.Default);
            run.Apply(ops, seed);
            foreach (var (message, deliveries) in run.Deliveries)
            {
                Assert.True(deliveries.Count(s => s == OpenStatus.Opened) == 1, $"message {message}: {string.Join(",", deliveries)}");
                Assert.Equal(OpenStatus.Opened, deliveries[0]);
            }

            Assert.True(run.MaxSkippedPerSession <= 1000);
        }, iter: 60, threads: 1);
    }

    [Fact]
    public void With_small_limits_the_bounds_hold_and_nothing_opens_twice_or_wrongly()
    {
        var options = new NativeOptions { MaxSkippedKeysPerSession = 4, MaxSkippedKeysTotal = 6 };
        Gen.Select(Operations, Gen.Int).Sample((ops, seed) =>
        {
            var run = new Run(options);
            run.Apply(ops, seed);
            Assert.True(run.MaxSkippedPerSession <= 4, $"a session held {run.MaxSkippedPerSession} skipped keys");
            Assert.True(run.MaxSkippedPerDevice <= 6, $"a device held {run.MaxSkippedPerDevice} skipped keys");
            foreach (var (message, deliveries) in run.Deliveries)
            {
                Assert.True(deliveries.Count(s => s == OpenStatus.Opened) <= 1, $"message {message}: {string.Join(",", deliveries)}");
                Assert.DoesNotContain(deliveries, s => s is OpenStatus.Tampered or OpenStatus.Malformed or OpenStatus.UntrustedSender);
            }
        }, iter: 60, threads: 1);
    }

    /// <summary>One simulated run: four devices, a pool of envelopes in flight.</summary>
    private sealed class Run
    {
        private readonly TestPeer[] _devices;
        private readonly List<InFlight> _pool = [];
        private int _messages;

        public Run(NativeOptions options)
        {
            var clock = new ManualClock(new DateTimeOffset(2026, 3, 1, 12, 0, 0, TimeSpan.Zero));
            _devices =
            [
                TestPeer.Create("alice@alpha.test", clock, options, oneTime: 2),
                TestPeer.Create("alice@alpha.test", clock, options, oneTime: 2),
                TestPeer.Create("bob@beta.test", clock, options, oneTime: 2),
                TestPeer.Create("bob@beta.test", clock, options, oneTime: 2),
            ];
        }

        /// <summary>Per message (by number, per recipient device), the status of each delivery in order.</summary>
        public Dictionary<(int Message, int Recipient), List<OpenStatus>> Deliveries { get; } = [];

        public int MaxSkippedPerSession { get; private set; }

        public int MaxSkippedPerDevice { get; private set; }

        public void Apply((Kind Kind, int Pick)[] ops, int seed)
        {
            foreach (var (kind, pick) in ops)
            {
                switch (kind)
                {
                    case Kind.Send:
                        Send(pick % _devices.Length);
                        break;
                    case Kind.Deliver when _pool.Count > 0:
                        Deliver(pick % _pool.Count, keep: false);
                        break;
                    case Kind.Duplicate when _pool.Count > 0:
                        Deliver(pick % _pool.Count, keep: true);
                        break;
                    case Kind.Drop when _pool.Count > 0:
                        _pool.RemoveAt(pick % _pool.Count);
                        break;
                }
            }

            // Whatever is still in flight arrives, in a random order.
            var random = new Random(seed);
            while (_pool.Count > 0)
            {
                Deliver(random.Next(_pool.Count), keep: false);
            }
        }

        private void Send(int sender)
        {
            var message = _messages++;
            var text = $"Subject: {message}\r\n\r\nfrom device {sender}";
            int[] recipients = [.. Enumerable.Range(0, _devices.Length).Where(d => d != sender)];
            var envelope = _devices[sender].Send(text, [.. recipients.Select(r => _devices[r])]);
            foreach (var recipient in recipients)
            {
                _pool.Add(new InFlight(message, text, recipient, envelope.Bytes));
            }
        }

        private void Deliver(int index, bool keep)
        {
            var item = _pool[index];
            if (!keep)
            {
                _pool.RemoveAt(index);
            }

            var device = _devices[item.Recipient];
            var result = device.Open(item.Envelope);
            if (!Deliveries.TryGetValue((item.Message, item.Recipient), out var list))
            {
                Deliveries[(item.Message, item.Recipient)] = list = [];
            }

            list.Add(result.Status);
            if (result.Status == OpenStatus.Opened)
            {
                Assert.Equal(item.Text, Encoding.UTF8.GetString(result.Content!));
                var sender = int.Parse(item.Text[(item.Text.LastIndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture);
                Assert.Equal(_devices[sender].DeviceKey, result.Sender!.Identity.DeviceKey);
                Assert.Equal(_devices[sender].Address, result.Sender.Address);
            }

            MaxSkippedPerDevice = Math.Max(MaxSkippedPerDevice, device.Sessions.SkippedKeyCount);
            MaxSkippedPerSession = Math.Max(MaxSkippedPerSession, device.Sessions.All.Select(s => s.SkippedKeyCount).DefaultIfEmpty(0).Max());
        }
    }
}
