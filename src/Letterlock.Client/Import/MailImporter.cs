using System.Security.Cryptography;
using Letterlock.Client.Mail;
using Letterlock.Client.Store;
using Letterlock.OpenPgp.Mime;

namespace Letterlock.Client.Import;

/// <summary>A message not imported, and why (never content).</summary>
/// <param name="Where">Where it is in the source.</param>
/// <param name="Reason">Why it was refused, naming the limit when there is one.</param>
public sealed record ImportRefusal(string Where, string Reason);

/// <summary>Counts so far, and how far the source has been read.</summary>
/// <param name="Imported">Messages stored by this run.</param>
/// <param name="Duplicates">Messages skipped because an earlier run (or an earlier copy in this one) stored them.</param>
/// <param name="Refused">Messages refused.</param>
/// <param name="Position">How far the source has been read.</param>
public sealed record ImportProgress(long Imported, long Duplicates, long Refused, SourcePosition Position);

/// <summary>The outcome of an import run.</summary>
/// <param name="Imported">Messages stored by this run.</param>
/// <param name="Duplicates">Messages skipped as imported already.</param>
/// <param name="Refused">Messages refused, with reasons.</param>
public sealed record ImportReport(long Imported, long Duplicates, IReadOnlyList<ImportRefusal> Refused);

/// <summary>
/// Imports messages from a source (<see cref="MboxReader"/>, <see cref="MaildirReader"/>, <see cref="ImapImportSource"/>)
/// into an account's folders on this device, keeping folders, flags and internal dates (docs/design/import.md).
/// </summary>
/// <remarks>
/// <para>Messages are stored as this device's (<see cref="ChangeOrigin.ThisDevice"/>): sealed in the local store
/// before anything reaches the disk, and pushed by the next sync as the account's message documents, so every
/// device of the account gets them. Nothing is written in the clear.</para>
/// <para><b>Idempotent and resumable.</b> Each message is keyed by
/// <c>HMAC(store lookup key, "import" || account || folder || SHA-256(message with CRLF line ends))</c>, recorded in
/// the store in the same transaction as the message (a batch of <see cref="ImportOptions.BatchSize"/> per commit).
/// A run that meets a recorded key skips the message, so a second run imports nothing and an interrupted run
/// resumes after the last committed batch; a message is stored whole with its key or not at all.</para>
/// </remarks>
public sealed class MailImporter
{
    private readonly LocalStore _store;
    private readonly AccountMail _mail;
    private readonly ImportOptions _options;
    private readonly TimeProvider _time;

    /// <summary>Creates an importer into one account of a store.</summary>
    public MailImporter(LocalStore store, AccountId account, ImportOptions? options = null, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        _store = store;
        _mail = store.Mail(account);
        _options = options ?? new ImportOptions();
        _time = time ?? TimeProvider.System;
    }

    /// <summary>
    /// Reads the source to its end and imports what is new. A source that fails part-way
    /// (<see cref="ImportSourceException"/>) is rethrown after the complete messages read before it are committed;
    /// cancellation leaves the batch in hand uncommitted (the next run imports it).
    /// </summary>
    public async Task<ImportReport> ImportAsync(IImportSource source, IProgress<ImportProgress>? progress = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(source);
        var run = new Run(source, progress);
        var batch = new List<SourceMessage>(_options.BatchSize);
        try
        {
            await foreach (var message in source.ReadAsync(ct).ConfigureAwait(false))
            {
                batch.Add(message);
                if (batch.Count >= _options.BatchSize)
                {
                    await StoreBatchAsync(batch, run, ct).ConfigureAwait(false);
                    batch.Clear();
                }
            }
        }
        catch (ImportSourceException)
        {
            // What was read whole before the source failed is kept; the rest comes with the next run.
            await StoreBatchAsync(batch, run, ct).ConfigureAwait(false);
            throw;
        }

        await StoreBatchAsync(batch, run, ct).ConfigureAwait(false);
        return new ImportReport(run.Imported, run.Duplicates, run.Refusals);
    }

    /// <summary>The keyed digest recording that a message was imported into a folder.</summary>
    internal byte[] Digest(string folder, ReadOnlySpan<byte> normalized)
    {
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(normalized, hash);
        return _store.Cipher.LookupKey("import", _mail.Account.Value, folder + "\n" + Convert.ToBase64String(hash));
    }

    private async Task StoreBatchAsync(List<SourceMessage> batch, Run run, CancellationToken ct)
    {
        if (batch.Count == 0)
        {
            return;
        }

        var items = new Item[batch.Count];
        long limit = Math.Min(_options.MaxMessageBytes, _store.Options.MaxMessageBytes);
        // Digests first (cheap): what a previous run stored is skipped before the costly parse, index and seal.
        Parallel.For(0, batch.Count, new ParallelOptions { MaxDegreeOfParallelism = _options.MaxParallelism, CancellationToken = ct }, i =>
        {
            var source = batch[i];
            if (source.Problem is not null || source.Raw is null)
            {
                items[i] = new Item(source) { Problem = source.Problem ?? "the source did not yield the message" };
                return;
            }

            var normalized = NormalizeLineEnds(source.Raw);
            items[i] = normalized.Length > limit
                ? new Item(source) { Problem = $"the message is larger than the limit of {limit} bytes (" +
                    (limit == _options.MaxMessageBytes ? "ImportOptions.MaxMessageBytes" : "LocalStoreOptions.MaxMessageBytes") + ")" }
                : new Item(source) { Bytes = normalized, Digest = Digest(source.Folder, normalized) };
        });

        var known = await _store.Read((c, t) =>
        {
            var seen = new HashSet<int>();
            using var command = c.CreateCommand();
            command.Transaction = t;
            command.CommandText = "SELECT 1 FROM imported_messages WHERE account_id = $account AND digest = $digest";
            var account = command.Parameters.AddWithValue("$account", StoreCipher.GuidBytes(_mail.Account.Value));
            var digest = command.Parameters.Add("$digest", Microsoft.Data.Sqlite.SqliteType.Blob);
            for (int i = 0; i < items.Length; i++)
            {
                if (items[i].Digest is { } d)
                {
                    digest.Value = d;
                    if (command.ExecuteScalar() is not null)
                    {
                        seen.Add(i);
                    }
                }
            }

            return seen;
        }, ct).ConfigureAwait(false);

        Parallel.For(0, items.Length, new ParallelOptions { MaxDegreeOfParallelism = _options.MaxParallelism, CancellationToken = ct }, i =>
        {
            if (items[i].Bytes is null || known.Contains(i))
            {
                return;
            }

            items[i].Prepared = Prepare(items[i], out var problem);
            items[i].Problem = problem;
        });

        var outcome = await _mail.WriteAsync(ChangeOrigin.ThisDevice, writer =>
        {
            var done = new Outcome();
            var folders = new Dictionary<string, FolderRecord?>(StringComparer.Ordinal);
            foreach (var item in items)
            {
                if (item.Problem is not null)
                {
                    done.Refused.Add(new ImportRefusal(item.Source.Where, item.Problem));
                    continue;
                }

                if (writer.WasImported(item.Digest!))
                {
                    done.Duplicates++;
                    continue;
                }

                if (!folders.TryGetValue(item.Source.Folder, out var folder))
                {
                    folders[item.Source.Folder] = folder = writer.FolderNamed(item.Source.Folder, FolderRole.None);
                }

                if (folder is null)
                {
                    done.Refused.Add(new ImportRefusal(item.Source.Where, $"the folder name '{item.Source.Folder}' is not acceptable"));
                    continue;
                }

                writer.Append(folder, item.Prepared!);
                writer.RecordImported(item.Digest!);
                done.Imported++;
            }

            return done;
        }, ct).ConfigureAwait(false);

        run.Imported += outcome.Imported;
        run.Duplicates += outcome.Duplicates;
        run.Refusals.AddRange(outcome.Refused);
        run.Report();
    }

    private PreparedMessage? Prepare(Item item, out string? problem)
    {
        var bytes = item.Bytes!;
        if (MimeStructureScanner.Check(bytes, _options.MimeLimits) is { } violation)
        {
            problem = $"{violation.Description} (limit MimeLimits.{violation.Limit})";
            return null;
        }

        MessageSummary summary;
        string text;
        string? searchText;
        try
        {
            var arrival = item.Source.InternalDate ?? DateTimeOffset.MinValue;
            (summary, text, searchText) = MessageSummaryBuilder.BuildForIndex(bytes, arrival, MessageSecurity.Plain);
            if (item.Source.InternalDate is null)
            {
                summary = summary with { InternalDate = summary.Date ?? _time.GetUtcNow() };
            }
        }
        catch (FormatException e)
        {
            problem = e.Message;
            return null;
        }

        var prepared = _mail.Prepare(new NewMessage(summary, bytes, item.Source.Flags, text, searchText));
        problem = prepared.IsOk ? null : prepared.Detail;
        return prepared.Value;
    }

    /// <summary>Line ends as IMAP and RFC 5322 want them: every bare LF becomes CRLF (mbox and Maildir files use LF).</summary>
    internal static byte[] NormalizeLineEnds(byte[] raw)
    {
        int bare = 0;
        for (int i = 0; i < raw.Length; i++)
        {
            if (raw[i] == '\n' && (i == 0 || raw[i - 1] != '\r'))
            {
                bare++;
            }
        }

        if (bare == 0)
        {
            return raw;
        }

        var result = new byte[raw.Length + bare];
        int o = 0;
        for (int i = 0; i < raw.Length; i++)
        {
            if (raw[i] == '\n' && (i == 0 || raw[i - 1] != '\r'))
            {
                result[o++] = (byte)'\r';
            }

            result[o++] = raw[i];
        }

        return result;
    }

    private sealed class Item(SourceMessage source)
    {
        public SourceMessage Source { get; } = source;

        public byte[]? Bytes { get; init; }

        public byte[]? Digest { get; init; }

        public string? Problem { get; set; }

        public PreparedMessage? Prepared { get; set; }
    }

    private sealed class Outcome
    {
        public long Imported { get; set; }

        public long Duplicates { get; set; }

        public List<ImportRefusal> Refused { get; } = [];
    }

    private sealed class Run(IImportSource source, IProgress<ImportProgress>? progress)
    {
        public long Imported { get; set; }

        public long Duplicates { get; set; }

        public List<ImportRefusal> Refusals { get; } = [];

        public void Report() => progress?.Report(new ImportProgress(Imported, Duplicates, Refusals.Count, source.Position));
    }
}
