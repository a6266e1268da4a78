using System.Text.Json;
using Letterlock.Client;
using Letterlock.Client.Store;

namespace Letterlock.Web.Mail;

/// <summary>
/// What the web app keeps in memory to answer fast: each opened folder's <see cref="FolderIndex"/>, each account's
/// <see cref="ThreadIndex"/>, and the senders whose remote images each account allows. Everything is built from the
/// store on first use and kept current from <see cref="LocalStore.Changed"/> (raised after commit, in commit order);
/// changes that arrive while an index is being built are applied to it once built, so none is missed.
/// </summary>
internal sealed class MailViews : IDisposable
{
    private readonly LocalStore _store;
    private readonly WebOptions _options;
    private readonly Dictionary<FolderId, FolderSlot> _folders = [];
    private readonly Dictionary<AccountId, ThreadSlot> _threads = [];
    private readonly Dictionary<AccountId, HashSet<string>> _remoteImages = [];
    private readonly object _gate = new();
    private readonly CancellationTokenSource _stop = new();

    public MailViews(LocalStore store, WebOptions options)
    {
        _store = store;
        _options = options;
        _store.Changed += OnChanged;
    }

    private sealed class FolderSlot
    {
        public Task<FolderIndex> Building = null!;
        public FolderIndex? Index;
        public List<StoreChange>? Pending = [];
    }

    /// <summary>An account's thread index and the changes still to apply to it, in commit order, by one reader.</summary>
    private sealed class ThreadSlot(ThreadIndex index)
    {
        public ThreadIndex Index { get; } = index;

        public System.Threading.Channels.Channel<StoreChange> Changes { get; } = System.Threading.Channels.Channel.CreateUnbounded<StoreChange>(
            new System.Threading.Channels.UnboundedChannelOptions { SingleReader = true });
    }

    /// <summary>The folder's index, built on first use.</summary>
    public Task<FolderIndex> FolderAsync(AccountMail mail, FolderId folder, CancellationToken ct)
    {
        lock (_gate)
        {
            if (_folders.TryGetValue(folder, out var slot) && !slot.Building.IsFaulted && !slot.Building.IsCanceled)
            {
                return slot.Building;
            }

            slot = new FolderSlot();
            _folders[folder] = slot;
            slot.Building = BuildFolderAsync(mail, folder, slot);
            return slot.Building.WaitAsync(ct);
        }
    }

    private async Task<FolderIndex> BuildFolderAsync(AccountMail mail, FolderId folder, FolderSlot slot)
    {
        // Not the caller's token: a page load that gives up must not leave a half-built index for the next one.
        var index = await FolderIndex.BuildAsync(mail, folder, _stop.Token).ConfigureAwait(false);
        lock (_gate)
        {
            foreach (var change in slot.Pending!)
            {
                index.Apply(change);
            }

            slot.Pending = null;
            slot.Index = index;
        }

        return index;
    }

    /// <summary>The account's thread index; its build starts on first use and runs in the background.</summary>
    public ThreadIndex Threads(AccountMail mail)
    {
        lock (_gate)
        {
            if (_threads.TryGetValue(mail.Account, out var slot))
            {
                return slot.Index;
            }

            slot = new ThreadSlot(new ThreadIndex());
            _threads[mail.Account] = slot;
            _ = BuildThreadsAsync(mail, slot);
            return slot.Index;
        }
    }

    private async Task BuildThreadsAsync(AccountMail mail, ThreadSlot slot)
    {
        try
        {
            await Task.Yield();
            await slot.Index.BuildAsync(mail, _stop.Token).ConfigureAwait(false);
            // Changes committed while building are applied now, then each as it comes, in order (re-applying one is harmless).
            await foreach (var change in slot.Changes.Reader.ReadAllAsync(_stop.Token).ConfigureAwait(false))
            {
                await ApplyToThreadsAsync(mail, slot.Index, change).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (ObjectDisposedException)
        {
            // the store closed under it: the app is stopping
        }
    }

    private static async Task ApplyToThreadsAsync(AccountMail mail, ThreadIndex threads, StoreChange change)
    {
        switch (change)
        {
            case MessageAddedChange added when await mail.GetAsync(added.Id).ConfigureAwait(false) is { } message:
                threads.Add(ThreadIndex.Node(message.Id.Value, message.Folder, message.Uid.Value, message.Summary));
                break;
            case MessagesRemovedChange removed:
                foreach (var uid in removed.Uids)
                {
                    threads.Remove(removed.Folder, uid.Value);
                }

                break;
            case FolderRemovedChange folder:
                threads.RemoveFolder(folder.Folder);
                break;
        }
    }

    private void OnChanged(StoreChange change)
    {
        lock (_gate)
        {
            if (_folders.TryGetValue(change.Folder, out var slot))
            {
                if (change is FolderRemovedChange)
                {
                    _folders.Remove(change.Folder);
                }
                else if (slot.Index is { } index)
                {
                    index.Apply(change);
                }
                else
                {
                    slot.Pending!.Add(change);
                }
            }

            if (change is not FlagsChangedChange && _threads.TryGetValue(change.Account, out var threads))
            {
                // Raised on the committing thread: the summary of a new message is read later, by the index's own reader.
                threads.Changes.Writer.TryWrite(change);
            }
        }
    }

    // ---- The account's own key ----

    private readonly System.Collections.Concurrent.ConcurrentDictionary<AccountId, Client.Validation.KeyFingerprint> _ownKeys = new();

    /// <summary>The fingerprint of the account's own OpenPGP key (read once).</summary>
    public async Task<Client.Validation.KeyFingerprint> OwnFingerprintAsync(AccountId account, CancellationToken ct)
    {
        if (_ownKeys.TryGetValue(account, out var known))
        {
            return known;
        }

        var key = await Client.Mail.AccountKeys.LoadOpenPgpAsync(_store, account, ct).ConfigureAwait(false);
        return _ownKeys[account] = Client.Validation.KeyFingerprint.Parse(key.Fingerprint.Hex);
    }

    // ---- Remote images, per sender ----

    private static string RemoteImagesSetting(AccountId account) => "web.remote-images." + account;

    /// <summary>Whether the account loads remote images in mail from <paramref name="sender"/> (not end-to-end encrypted mail: never).</summary>
    public async Task<bool> AllowsRemoteImagesAsync(AccountId account, string sender, CancellationToken ct) =>
        (await RemoteImageSendersAsync(account, ct).ConfigureAwait(false)).Contains(sender);

    /// <summary>Remembers (sealed, in the store) whether the account loads remote images from <paramref name="sender"/>.</summary>
    /// <returns>Null, or the refusal naming the limit.</returns>
    public async Task<string?> SetRemoteImagesAsync(AccountId account, string sender, bool allow, CancellationToken ct)
    {
        var senders = new HashSet<string>(await RemoteImageSendersAsync(account, ct).ConfigureAwait(false), StringComparer.Ordinal);
        if (allow && !senders.Contains(sender) && senders.Count >= _options.MaxRemoteImageSenders)
        {
            return $"Remote images can be allowed for at most {_options.MaxRemoteImageSenders} senders (MaxRemoteImageSenders).";
        }

        if (!(allow ? senders.Add(sender) : senders.Remove(sender)))
        {
            return null;
        }

        await _store.Settings.SetAsync(RemoteImagesSetting(account), JsonSerializer.SerializeToUtf8Bytes(senders.Order(StringComparer.Ordinal).ToList(),
            WebJson.Default.ListString), ct).ConfigureAwait(false);
        lock (_gate)
        {
            _remoteImages[account] = senders;
        }

        return null;
    }

    private async Task<HashSet<string>> RemoteImageSendersAsync(AccountId account, CancellationToken ct)
    {
        lock (_gate)
        {
            if (_remoteImages.TryGetValue(account, out var cached))
            {
                return cached;
            }
        }

        var stored = await _store.Settings.GetAsync(RemoteImagesSetting(account), ct).ConfigureAwait(false);
        var senders = new HashSet<string>(stored is null ? [] : JsonSerializer.Deserialize(stored, WebJson.Default.ListString) ?? [], StringComparer.Ordinal);
        lock (_gate)
        {
            _remoteImages[account] = senders;
        }

        return senders;
    }

    public void Dispose()
    {
        _store.Changed -= OnChanged;
        _stop.Cancel();
        _stop.Dispose();
    }
}
