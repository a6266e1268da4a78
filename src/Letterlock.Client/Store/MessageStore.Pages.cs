using System.Text.Json;

namespace Letterlock.Client.Store;

/// <summary>A message row as an IMAP FETCH reads it: identifiers, flags, and what was asked for of the rest.</summary>
/// <param name="Id">The message.</param>
/// <param name="Account">Its account.</param>
/// <param name="Uid">Its UID in the folder.</param>
/// <param name="ModSeq">Its MODSEQ.</param>
/// <param name="Flags">Its flags and keywords.</param>
/// <param name="Summary">Its summary, or null when the caller said it does not need it (it already knows what it needs from it).</param>
/// <param name="Envelope">The IMAP ENVELOPE the bridge rendered for it (opaque to the store), or null when not kept yet or not asked for.</param>
public sealed record MessageRow(MessageId Id, AccountId Account, Uid Uid, ulong ModSeq, IReadOnlySet<string> Flags, MessageSummary? Summary,
    byte[]? Envelope);

/// <summary>Read paths that serve a large mailbox a page at a time, and the per-message ENVELOPE cache.</summary>
public sealed partial class MessageStore
{
    /// <summary>
    /// Up to <paramref name="limit"/> messages of a folder with a UID above <paramref name="after"/> and at most
    /// <paramref name="last"/>, in UID order: an IMAP FETCH over a whole folder walks it page by page
    /// instead of holding every row at once. Only what is asked for is opened: the summary (the costliest
    /// part: a JSON document) when <paramref name="needSummary"/> says so for that UID, the envelope when
    /// <paramref name="withEnvelope"/>.
    /// </summary>
    /// <param name="folderId">The folder.</param>
    /// <param name="after">Exclusive lower bound (0 for the start of the folder).</param>
    /// <param name="last">Inclusive upper bound.</param>
    /// <param name="limit">Most rows returned (at least 1).</param>
    /// <param name="withEnvelope">Whether to open the kept ENVELOPE too.</param>
    /// <param name="needSummary">Whether the summary of the message with this UID is wanted; null: always.</param>
    /// <param name="ct">Cancellation.</param>
    public Task<IReadOnlyList<MessageRow>> ListRowsAsync(FolderId folderId, Uid after, Uid last, int limit, bool withEnvelope,
        Func<Uid, bool>? needSummary = null, CancellationToken ct = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        return _store.Read<IReadOnlyList<MessageRow>>((connection, transaction) =>
        {
            using var command = Sql.Command(connection, transaction,
                """
                SELECT m.id, m.account_id, m.uid, m.modseq, m.flags, m.summary, m.envelope FROM messages m
                WHERE m.folder_id = $folder AND m.uid > $after AND m.uid <= $last ORDER BY m.uid LIMIT $limit
                """,
                ("$folder", folderId.Value), ("$after", (long)after.Value), ("$last", (long)last.Value), ("$limit", limit));
            using var reader = command.ExecuteReader();
            var page = new List<MessageRow>(Math.Min(limit, 1024));
            while (reader.Read())
            {
                var id = reader.GetId(0);
                var account = reader.GetId(1);
                var uid = new Uid((uint)reader.GetInt64(2));
                var flagText = _store.Cipher.OpenString(SealedColumn.MessageFlags, id, account, reader.GetBlob(4));
                var flags = new HashSet<string>(flagText.Split(' ', StringSplitOptions.RemoveEmptyEntries), StringComparer.OrdinalIgnoreCase);
                MessageSummary? summary = needSummary is null || needSummary(uid)
                    ? JsonSerializer.Deserialize(_store.Cipher.Open(SealedColumn.MessageSummary, id, account, reader.GetBlob(5)),
                        StoreJson.Default.MessageSummary) ?? throw new StoreIntegrityException("a message summary is empty")
                    : null;
                byte[]? envelope = withEnvelope && !reader.IsDBNull(6)
                    ? _store.Cipher.Open(SealedColumn.MessageEnvelope, id, account, reader.GetBlob(6))
                    : null;
                page.Add(new MessageRow(new MessageId(id), new AccountId(account), uid, (ulong)reader.GetInt64(3), flags, summary, envelope));
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
    public Task SetEnvelopesAsync(IReadOnlyList<(MessageId Id, AccountId Account, byte[] Envelope)> envelopes, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(envelopes);
        return _store.Write((connection, transaction) =>
        {
            foreach (var (id, account, envelope) in envelopes)
            {
                Sql.Execute(connection, transaction, "UPDATE messages SET envelope = $envelope WHERE id = $id",
                    ("$id", id.Value), ("$envelope", _store.Cipher.Seal(SealedColumn.MessageEnvelope, id.Value, account.Value, envelope)));
            }

            return envelopes.Count;
        }, ct);
    }
}
