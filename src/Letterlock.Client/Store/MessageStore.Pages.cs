namespace Letterlock.Client.Store;

/// <summary>A message as read for an IMAP FETCH: its row and, when asked for and kept, its sealed-at-rest ENVELOPE.</summary>
/// <param name="Message">The message (everything but the body).</param>
/// <param name="Envelope">The IMAP ENVELOPE the bridge rendered for it (opaque to the store), or null when not kept yet or not asked for.</param>
public sealed record FetchedMessage(StoredMessage Message, byte[]? Envelope);

/// <summary>Read paths that serve a large mailbox a page at a time, and the per-message ENVELOPE cache.</summary>
public sealed partial class MessageStore
{
    /// <summary>
    /// Up to <paramref name="limit"/> messages of a folder with a UID above <paramref name="after"/> and at most
    /// <paramref name="last"/>, in UID order: an IMAP FETCH over a whole folder walks it page by page
    /// instead of holding every row at once.
    /// </summary>
    /// <param name="folderId">The folder.</param>
    /// <param name="after">Exclusive lower bound (0 for the start of the folder).</param>
    /// <param name="last">Inclusive upper bound.</param>
    /// <param name="limit">Most rows returned (at least 1).</param>
    /// <param name="withEnvelope">Whether to open the kept ENVELOPE too (otherwise it is not decrypted).</param>
    /// <param name="ct">Cancellation.</param>
    public Task<IReadOnlyList<FetchedMessage>> ListPageAsync(FolderId folderId, Uid after, Uid last, int limit, bool withEnvelope,
        CancellationToken ct = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        return _store.Read<IReadOnlyList<FetchedMessage>>((connection, transaction) =>
        {
            using var command = Sql.Command(connection, transaction,
                $"""
                SELECT {SelectColumns}, m.envelope FROM messages m
                WHERE m.folder_id = $folder AND m.uid > $after AND m.uid <= $last ORDER BY m.uid LIMIT $limit
                """,
                ("$folder", folderId.Value), ("$after", (long)after.Value), ("$last", (long)last.Value), ("$limit", limit));
            using var reader = command.ExecuteReader();
            var page = new List<FetchedMessage>(Math.Min(limit, 1024));
            while (reader.Read())
            {
                var message = Read(reader);
                byte[]? envelope = withEnvelope && !reader.IsDBNull(9)
                    ? _store.Cipher.Open(SealedColumn.MessageEnvelope, message.Id.Value, message.Account.Value, reader.GetBlob(9))
                    : null;
                page.Add(new FetchedMessage(message, envelope));
            }

            return page;
        }, ct);
    }

    /// <summary>
    /// The full decrypted message in one query that opens nothing but the body (no summary or flags), for a
    /// mail app fetching whole messages one by one; null when the message is gone.
    /// </summary>
    public byte[]? TryReadBodyOnly(MessageId id)
    {
        using var connection = _store.OpenConnection();
        using var transaction = connection.BeginTransaction(deferred: true);
        using var command = Sql.Command(connection, transaction,
            "SELECT m.account_id, b.body FROM messages m JOIN message_bodies b ON b.message_id = m.id WHERE m.id = $id", ("$id", id.Value));
        using var reader = command.ExecuteReader();
        return reader.Read() ? _store.Cipher.Open(SealedColumn.MessageBody, id.Value, reader.GetId(0), reader.GetBlob(1)) : null;
    }

    /// <summary>
    /// Keeps the IMAP ENVELOPE of messages, sealed under each message's row like its summary (a copy gets its
    /// own when first fetched). Messages that no longer exist are skipped. The value is derived from the
    /// body, so writing it again is harmless.
    /// </summary>
    public Task SetEnvelopesAsync(IReadOnlyList<(StoredMessage Message, byte[] Envelope)> envelopes, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(envelopes);
        return _store.Write((connection, transaction) =>
        {
            foreach (var (message, envelope) in envelopes)
            {
                Sql.Execute(connection, transaction, "UPDATE messages SET envelope = $envelope WHERE id = $id",
                    ("$id", message.Id.Value),
                    ("$envelope", _store.Cipher.Seal(SealedColumn.MessageEnvelope, message.Id.Value, message.Account.Value, envelope)));
            }

            return envelopes.Count;
        }, ct);
    }
}
