using Microsoft.Data.Sqlite;

namespace Letterlock.Client.Store;

/// <summary>Where a change to an account's mail comes from, which decides whether sync pushes it.</summary>
internal enum ChangeOrigin
{
    /// <summary>
    /// Made on this device (a mail app, the CLI, the Sent copy of outgoing mail, a local notice): new messages
    /// become documents, changed ones are marked for the next push, deletions are recorded to push.
    /// </summary>
    ThisDevice,

    /// <summary>
    /// Read from the provider (another device's change, or mail that arrived in the inbox): applied here only,
    /// never pushed back. A message from the provider always names the document it mirrors.
    /// </summary>
    Provider,
}

/// <summary>
/// The one writer behind sync and mail processing: changes to an account's mail inside one write transaction
/// of the store (<see cref="AccountMail.WriteAsync{T}"/>), each recorded according to <see cref="Origin"/>.
/// Everything written commits together or not at all.
/// </summary>
internal sealed class MailWriter
{
    private readonly LocalStore _store;
    private readonly AccountMail _mail;

    internal MailWriter(LocalStore store, AccountMail mail, SqliteConnection connection, SqliteTransaction transaction, ChangeOrigin origin)
    {
        _store = store;
        _mail = mail;
        Connection = connection;
        Transaction = transaction;
        Origin = origin;
    }

    /// <summary>Where the changes of this transaction come from.</summary>
    public ChangeOrigin Origin { get; }

    /// <summary>The transaction's connection, for other parts of the store that commit with the mail (the outbox's jobs, sync's cursor).</summary>
    public SqliteConnection Connection { get; }

    /// <summary>The transaction itself.</summary>
    public SqliteTransaction Transaction { get; }

    /// <summary>A folder of the account, or null.</summary>
    public FolderRecord? Folder(FolderId id) => _mail.Folder(Connection, Transaction, id);

    /// <summary>The folder of a role, or null.</summary>
    public FolderRecord? Folder(FolderRole role) => _store.Folders.List(Connection, Transaction, _mail.Account).FirstOrDefault(f => f.Role == role);

    /// <summary>
    /// The folder another device named (by role when it has one, else by name), created as a plain folder when
    /// missing; null when the name is not acceptable here.
    /// </summary>
    public FolderRecord? FolderNamed(string name, FolderRole role)
    {
        if (role != FolderRole.None && Folder(role) is { } byRole)
        {
            return byRole;
        }

        return FolderStore.Canonical(name, out _) is { } canonical
            ? _store.Folders.Find(Connection, Transaction, _mail.Account, canonical) ?? _mail.CreateFolder(Connection, Transaction, canonical, FolderRole.None).Value
            : null;
    }

    /// <summary>The message of the account mirroring a provider document, or null.</summary>
    public StoredMessage? FindByRemote(string documentId) => _store.Messages.FindByRemote(Connection, Transaction, _mail.Account, documentId);

    /// <summary>Whether this device deleted the message mirroring a document and the deletion is still to be pushed.</summary>
    public bool DeletedHere(string documentId) => MessageStore.IsPendingDelete(Connection, Transaction, _mail.Account, documentId);

    /// <summary>A message of the account, or null.</summary>
    public StoredMessage? Message(MessageId id) => _mail.Message(Connection, Transaction, id);

    /// <summary>The full decrypted message, or null.</summary>
    public byte[]? ReadBody(MessageId id) => Message(id) is null ? null : _store.Messages.ReadBody(Connection, Transaction, id);

    /// <summary>
    /// Adds a prepared message (<see cref="AccountMail.Prepare"/>) to a folder of the account. From the provider it
    /// must name its document; from this device it must not (it becomes a new document at the next push).
    /// </summary>
    public StoredMessage Append(FolderRecord folder, PreparedMessage prepared)
    {
        if ((Origin == ChangeOrigin.Provider) != (prepared.Remote is not null))
        {
            throw new InvalidOperationException(Origin == ChangeOrigin.Provider
                ? "A message from the provider must name the document it mirrors."
                : "A message made on this device has no document yet.");
        }

        return _store.Messages.Append(Connection, Transaction, folder, prepared);
    }

    /// <summary>
    /// Takes another device's folder and flags for a message and records the document revision they came from
    /// (nothing left to push). Only for changes from the provider.
    /// </summary>
    public StoredMessage ApplyRemoteState(StoredMessage message, IReadOnlySet<string> flags, FolderRecord folder, RemoteReference remote)
    {
        if (Origin != ChangeOrigin.Provider)
        {
            throw new InvalidOperationException("Another device's state is applied only from the provider.");
        }

        var current = _store.Messages.SetFlags(Connection, Transaction, message, FlagOperation.Replace, new HashSet<string>(flags, StringComparer.OrdinalIgnoreCase), null)?.Message
            ?? throw new InvalidOperationException("Flags from the provider were not checked before they were applied.");
        current = current.Folder == folder.Id ? current : _store.Messages.Move(Connection, Transaction, current, folder);
        MessageStore.SetRemote(Connection, Transaction, message.Id, remote, dirty: false);
        return current with { Remote = remote };
    }

    /// <summary>Removes a message; from this device its document's deletion is recorded for the next push.</summary>
    public void Delete(StoredMessage message) =>
        _store.Messages.Delete(Connection, Transaction, message, pushDeletion: Origin == ChangeOrigin.ThisDevice);

    /// <summary>Records the deletion of a document to push (its revision, or 0 when unknown: the push looks it up).</summary>
    public void RecordDeletion(string documentId, long revision) =>
        MessageStore.AddPendingDelete(Connection, Transaction, _mail.Account, documentId, revision);

    /// <summary>
    /// Records that the provider holds <paramref name="pushed"/>, the state of a message a document was made from, at
    /// <paramref name="remote"/>: nothing left to push, unless the message changed here since the document was made.
    /// </summary>
    public void MarkPushed(StoredMessage pushed, RemoteReference remote) => MessageStore.SetPushed(Connection, Transaction, pushed, remote);

    /// <summary>Whether a message mirroring a document was changed here since its last push.</summary>
    public bool HasUnpushedChanges(StoredMessage message) =>
        Sql.Scalar(Connection, Transaction, "SELECT dirty FROM messages WHERE id = $id", ("$id", message.Id.Value)) is long dirty && dirty != 0;

    /// <summary>
    /// Records the document revision a message mirrors while keeping this device's state of it, to be pushed over that
    /// revision (a document this device wrote itself, found again after a crash, older than the changes made here since).
    /// </summary>
    public void KeepLocalState(StoredMessage message, RemoteReference remote) => MessageStore.SetRemote(Connection, Transaction, message.Id, remote, dirty: true);

    /// <summary>Whether an import already stored the message with this keyed digest (<see cref="Import.MailImporter"/>).</summary>
    public bool WasImported(byte[] digest) =>
        Sql.Scalar(Connection, Transaction, "SELECT 1 FROM imported_messages WHERE account_id = $account AND digest = $digest",
            ("$account", _mail.Account.Value), ("$digest", digest)) is not null;

    /// <summary>Records an imported message's keyed digest, committed with the message itself.</summary>
    public void RecordImported(byte[] digest) =>
        Sql.Execute(Connection, Transaction, "INSERT OR IGNORE INTO imported_messages (account_id, digest) VALUES ($account, $digest)",
            ("$account", _mail.Account.Value), ("$digest", digest));

    /// <summary>Sets a client setting in this transaction (sync's cursor commits with the page it covers).</summary>
    public void SetSetting(string name, ReadOnlySpan<byte> value) => _store.Settings.Set(Connection, Transaction, name, value);
}
