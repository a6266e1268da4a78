using System.Text;
using Letterlock.Api;
using Letterlock.Cryptography;
using Letterlock.Provider.Accounts;
using Letterlock.Provider.Configuration;
using Letterlock.Provider.Mx;
using Letterlock.Provider.Storage;
using Letterlock.Relay.Queue;
using Microsoft.Extensions.Logging;

namespace Letterlock.Provider.Outbound;

/// <summary>
/// Delivers mail that starts on this provider into its own users' inboxes through the encrypt-on-arrival path the MX
/// uses: the provider's <c>Authentication-Results</c> header replaces any that claim its name, the whole message is
/// framed (<see cref="InboxEnvelope"/>: length, message, Padmé padding), HPKE-sealed to each recipient's inbox key
/// and appended to every inbox in one durable transaction. Used for submissions to local addresses (no SMTP loop
/// through our own MX) and for DSNs to local senders.
/// </summary>
internal sealed class LocalInbox(IProviderStore store, IBlobStore blobs, ProviderSettings settings, TimeProvider time)
{
    /// <summary>Seals <paramref name="message"/> to each account's inbox key and appends it to every inbox, all or nothing.</summary>
    /// <param name="recipients">The accounts, each once.</param>
    /// <param name="message">The raw message (CRLF line ends).</param>
    /// <param name="authenticationResults">The value of our Authentication-Results header after the authserv-id.</param>
    /// <param name="ct">Cancels.</param>
    public async Task<IReadOnlyList<WriteOutcome>> DeliverAsync(IReadOnlyList<AccountRecord> recipients, ReadOnlyMemory<byte> message, string authenticationResults, CancellationToken ct)
    {
        byte[] resultsHeader = Encoding.ASCII.GetBytes($"Authentication-Results: {settings.HostName}; {authenticationResults}\r\n");
        byte[] headerBlock;
        long bodyOffset;
        using (var reader = new MemoryStream(message.ToArray(), writable: false))
        {
            (headerBlock, bodyOffset) = await HeaderFilter.ReadWithoutOwnResultsAsync(reader, settings.HostName, settings.Mx.MaxHeaderBytes, ct);
        }

        var body = message[(int)bodyOffset..];
        long messageLength = resultsHeader.Length + headerBlock.Length + body.Length;
        long framedLength = InboxEnvelope.FramedLength(messageLength);
        var arrived = time.GetUtcNow();
        var writes = new List<InboxWrite>(recipients.Count);
        foreach (var account in recipients)
        {
            await using var sink = new CiphertextSink(blobs, settings.Storage.InlineThreshold);
            var sealing = HpkeSealingStream.Create(sink, account.InboxPublicKey, InboxEnvelope.Info, leaveOpen: true);
            await using (sealing)
            {
                byte[] prefix = new byte[InboxEnvelope.PrefixLength];
                InboxEnvelope.WritePrefix(prefix, messageLength);
                await sealing.WriteAsync(prefix, ct);
                await sealing.WriteAsync(resultsHeader, ct);
                await sealing.WriteAsync(headerBlock, ct);
                await sealing.WriteAsync(body, ct);
                await sealing.WriteAsync(new byte[framedLength - InboxEnvelope.PrefixLength - messageLength], ct);
                await sealing.CompleteAsync(ct);
            }

            writes.Add(new InboxWrite(account.Id, await sink.CompleteAsync(ct), framedLength, arrived));
        }

        return await store.AppendInboxAsync(writes, ct);
    }
}

/// <summary>
/// The relay's DSNs for local senders (<see cref="ILocalDelivery"/>): into the sender's inbox through
/// <see cref="LocalInbox"/>. A DSN that can never be delivered (the account is gone or disabled, or its mailbox is
/// full) is dropped with a warning rather than retried forever; a storage failure throws, so the relay retries it.
/// </summary>
internal sealed class DsnToInbox(IProviderStore store, LocalInbox inbox, ProviderSettings settings, ILogger logger) : ILocalDelivery
{
    public async Task DeliverAsync(string recipient, ReadOnlyMemory<byte> message, CancellationToken ct)
    {
        if (!AccountService.TryParseAddress(recipient, out string localPart, out string domain) || !string.Equals(domain, settings.Domain, StringComparison.OrdinalIgnoreCase))
        {
            Log.DsnOutsideDomain(logger, settings.Domain);
            return;
        }

        var account = await store.FindAccountAsync(localPart, ct);
        if (account is null || account.Status != AccountStatus.Active)
        {
            Log.DsnAccountGone(logger);
            return;
        }

        // RFC 8601 "none": the provider wrote this report itself; there was nothing to authenticate
        var outcome = (await inbox.DeliverAsync([account], message, "none (delivery status notification from this provider)", ct))[0];
        if (outcome.Status != WriteStatus.Ok)
        {
            Log.DsnInboxRefused(logger, outcome.Status);
        }
    }
}
