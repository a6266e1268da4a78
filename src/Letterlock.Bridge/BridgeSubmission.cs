using System.Collections.Concurrent;
using Letterlock.Client;
using Letterlock.Client.Discovery;
using Letterlock.Client.Mail;
using Letterlock.Client.Store;
using Letterlock.OpenPgp;

namespace Letterlock.Bridge;

/// <summary>
/// The bridge's one way of sending: every front end of the bridge's process (SMTP submission, the web app) hands
/// messages here, so they are encrypted, refused or queued by the same rules with the same key discovery, and the
/// outbox is woken the same way.
/// </summary>
public sealed class BridgeSubmission
{
    private readonly LocalStore _store;
    private readonly Func<AccountId, KeyDiscovery> _discoveryFor;
    private readonly Client.Transparency.TransparencyService? _transparency;
    private readonly Action? _queued;
    private readonly Func<AccountRecord, CancellationToken, Task<Client.Native.NativeMail?>>? _nativeFor;
    private readonly ConcurrentDictionary<AccountId, UnlockedKey> _keys = new();
    private readonly OpenPgp.OpenPgpOptions _options;

    internal BridgeSubmission(LocalStore store, Func<AccountId, KeyDiscovery> discoveryFor, Client.Transparency.TransparencyService? transparency, Action? queued,
        Func<AccountRecord, CancellationToken, Task<Client.Native.NativeMail?>>? nativeFor = null, OpenPgp.Mime.MimeLimits? mimeLimits = null)
    {
        _options = new OpenPgp.OpenPgpOptions { MimeLimits = mimeLimits ?? OpenPgp.Mime.MimeLimits.Default };
        _nativeFor = nativeFor;
        _store = store;
        _discoveryFor = discoveryFor;
        _transparency = transparency;
        _queued = queued;
    }

    /// <summary>The store it sends from.</summary>
    public LocalStore Store => _store;

    /// <summary>What sending to <paramref name="recipients"/> would do now, recipient by recipient.</summary>
    public async Task<SendPlan> PlanAsync(AccountRecord account, IReadOnlyList<string> recipients, bool requireEncryption, CancellationToken ct = default) =>
        await (await ProcessorForAsync(account, ct).ConfigureAwait(false)).PlanAsync(recipients, requireEncryption, ct).ConfigureAwait(false);

    /// <summary>
    /// Encrypts (or, as the policy allows, not), queues and keeps a Sent copy of <paramref name="message"/>, then wakes
    /// the outbox; <paramref name="requireEncryption"/> refuses it unless it goes end to end to everyone.
    /// </summary>
    public async Task<SendOutcome> SubmitAsync(AccountRecord account, ReadOnlyMemory<byte> message, IReadOnlyList<string> recipients, bool requireEncryption,
        CancellationToken ct = default)
    {
        var processor = await ProcessorForAsync(account, ct).ConfigureAwait(false);
        var outcome = await processor.SubmitAsync(message, recipients, requireEncryption, ct).ConfigureAwait(false);
        if (outcome.Status == SendStatus.Queued)
        {
            _queued?.Invoke();
        }

        return outcome;
    }

    /// <summary>
    /// The account's processor: its unlocked OpenPGP key (cached), a resolver that verifies directory keys by transparency
    /// proof, and the native protocol for Letterlock recipients with native-capable devices (forward secret, post-quantum).
    /// </summary>
    internal async Task<OutgoingMailProcessor> ProcessorForAsync(AccountRecord account, CancellationToken ct)
    {
        var key = _keys.TryGetValue(account.Id, out var cached) ? cached : await AccountKeys.LoadOpenPgpAsync(_store, account.Id, ct).ConfigureAwait(false);
        _keys[account.Id] = key;
        // Directory keys are used only after their transparency proof verified; the provider's head is gossiped in the mail.
        var native = _nativeFor is null ? null : await _nativeFor(account, ct).ConfigureAwait(false);
        return new OutgoingMailProcessor(_store, account, key, new ContactKeyResolver(_store, account.Id, _discoveryFor(account.Id), _transparency),
            options: _options, gossip: _transparency, native: native);
    }
}
