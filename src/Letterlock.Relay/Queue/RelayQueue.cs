using System.Security.Cryptography;
using Letterlock.Cryptography;
using Letterlock.Relay.Routing;

namespace Letterlock.Relay.Queue;

/// <summary>Delivers a message to a local mailbox: the provider routes DSNs through its encrypt-on-arrival path.</summary>
public interface ILocalDelivery
{
    /// <summary>Delivers <paramref name="message"/> to <paramref name="recipient"/>; returns only once it is durable.</summary>
    /// <param name="recipient">The local address (the original sender).</param>
    /// <param name="message">The raw message (CRLF line ends).</param>
    /// <param name="ct">Cancels.</param>
    Task DeliverAsync(string recipient, ReadOnlyMemory<byte> message, CancellationToken ct);
}

/// <summary>The outcome of <see cref="RelayQueue.EnqueueAsync"/>.</summary>
/// <param name="Accepted">True when queued durably.</param>
/// <param name="MessageId">The queue id, when accepted.</param>
/// <param name="Error">Why not (a limit or a bad address), when refused.</param>
public sealed record EnqueueResult(bool Accepted, string? MessageId, string? Error)
{
    internal static EnqueueResult Refused(string error) => new(false, null, error);
}

/// <summary>
/// The front of the relay queue: validates a message for relay, splits its recipients by destination domain, seals
/// the body and each destination's envelope to the queue key and stores them durably (<see cref="IRelayQueueStore"/>).
/// </summary>
public sealed class RelayQueue
{
    private readonly RelayOptions _options;
    private readonly TimeProvider _time;

    /// <summary>Creates the queue front.</summary>
    /// <param name="store">Durable storage.</param>
    /// <param name="queueKey">The provider's queue key pair (X25519); entries are sealed to its public key.</param>
    /// <param name="options">Limits and retry settings.</param>
    /// <param name="time">The clock.</param>
    public RelayQueue(IRelayQueueStore store, HpkeKeyPair queueKey, RelayOptions options, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(queueKey);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(time);
        options.Validate();
        Store = store;
        Sealing = new QueueSealing(queueKey);
        _options = options;
        _time = time;
    }

    /// <summary>The storage.</summary>
    public IRelayQueueStore Store { get; }

    internal QueueSealing Sealing { get; }

    /// <summary>Raised after a message was queued (the scheduler wakes up).</summary>
    public event Action? Enqueued;

    /// <summary>
    /// Queues <paramref name="message"/> for <paramref name="recipients"/>. Returns only after the entry is durable,
    /// so the caller may then acknowledge (SMTP 250, HTTP 202).
    /// </summary>
    /// <param name="sender">The envelope sender (a local address; empty for the null reverse path).</param>
    /// <param name="recipients">The recipients (remote addresses).</param>
    /// <param name="message">The raw message.</param>
    /// <param name="ct">Cancels.</param>
    public async Task<EnqueueResult> EnqueueAsync(string sender, IReadOnlyList<string> recipients, ReadOnlyMemory<byte> message, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(sender);
        ArgumentNullException.ThrowIfNull(recipients);
        if (recipients.Count == 0)
        {
            return EnqueueResult.Refused("no recipients");
        }

        if (recipients.Count > _options.MaxRecipients)
        {
            return EnqueueResult.Refused($"more than {_options.MaxRecipients} recipients");
        }

        if (message.Length > _options.MaxMessageSize)
        {
            return EnqueueResult.Refused($"message larger than {_options.MaxMessageSize} bytes");
        }

        if (OpenPgp.Mime.BoundedMime.Check(message.Span, _options.MimeLimits) is { } violation)
        {
            return EnqueueResult.Refused($"{violation.Description} (limit MimeLimits.{violation.Limit})");
        }

        if (sender.Length > 0 && SplitAddress(sender) is null)
        {
            return EnqueueResult.Refused("the sender is not a valid address");
        }

        var byDomain = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        foreach (string recipient in recipients)
        {
            var parts = SplitAddress(recipient);
            if (parts is null)
            {
                return EnqueueResult.Refused("a recipient is not a valid address");
            }

            if (!byDomain.TryGetValue(parts.Value.Domain, out var list))
            {
                byDomain[parts.Value.Domain] = list = [];
            }

            if (!list.Contains(recipient, StringComparer.OrdinalIgnoreCase))
            {
                list.Add(recipient);
            }
        }

        var now = _time.GetUtcNow();
        string messageId = NewId();
        var deliveries = byDomain.Select(d => new NewQueueDelivery(
            NewId(),
            Sealing.Destination(d.Key),
            Sealing.SealState(new QueuedState { Domain = d.Key, Sender = sender, Recipients = d.Value.Select(r => new QueuedRecipient { Address = r }).ToList(), ArrivedAt = now }),
            now + _options.MessageLifetime,
            now)).ToList();
        await Store.EnqueueAsync(new NewQueueMessage(messageId, Sealing.SealMessage(message.Span), now, deliveries), ct).ConfigureAwait(false);
        Enqueued?.Invoke();
        return new EnqueueResult(true, messageId, null);
    }

    /// <summary>Splits <c>local@domain</c>; the domain comes back in ASCII (A-labels), lower case. Null if malformed.</summary>
    internal static (string Local, string Domain)? SplitAddress(string address)
    {
        int at = address.LastIndexOf('@');
        if (at <= 0 || at == address.Length - 1 || address.Length > 320 || address.Any(c => c <= ' ' || c == '<' || c == '>' || c == '\x7f'))
        {
            return null;
        }

        string? domain = MxRouter.ToAsciiDomain(address[(at + 1)..]);
        return domain is null || at > 64 ? null : (address[..at], domain);
    }

    private static string NewId() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
}
