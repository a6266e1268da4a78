using System.Net.Security;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Security.Cryptography.X509Certificates;
using MailKit;
using MailKit.Net.Imap;
using MailKit.Security;

namespace Letterlock.Client.Import;

/// <summary>How the connection to an IMAP source is protected. There is no clear-text mode: the password would cross the network readable.</summary>
public enum ImapSourceTls
{
    /// <summary>TLS from the first byte (port 993).</summary>
    Implicit,

    /// <summary>STARTTLS before login (port 143); a server that does not offer it is refused.</summary>
    StartTls,
}

/// <summary>Where and as whom to read a remote IMAP account.</summary>
/// <param name="Host">The server's host name (checked against its certificate).</param>
/// <param name="Port">Its port.</param>
/// <param name="User">The login name.</param>
/// <param name="Password">The password or app password (never logged, never in an error).</param>
/// <param name="Tls">Implicit TLS or STARTTLS.</param>
/// <param name="TrustedRoots">Trust these CA certificates instead of the system's (a private CA); null: the system's.</param>
/// <param name="Folders">Only these folders (by full name), or null: every selectable folder.</param>
public sealed record ImapSourceSettings(string Host, int Port, string User, string Password, ImapSourceTls Tls = ImapSourceTls.Implicit,
    X509Certificate2Collection? TrustedRoots = null, IReadOnlyList<string>? Folders = null)
{
    /// <inheritdoc />
    public override string ToString() => $"{User}@{Host}:{Port}"; // the password stays out of any log line
}

/// <summary>
/// Reads every selectable folder of a remote IMAP account (RFC 9051/3501) with MailKit, read-only (EXAMINE, BODY.PEEK:
/// the source's \Seen flags stay as they are), keeping folder names (hierarchy separator turned into <c>/</c>),
/// flags and keywords, and INTERNALDATE. TLS is always verified: against the system's roots, or a private CA given
/// explicitly.
/// </summary>
/// <remarks>
/// A message whose announced RFC822.SIZE is over <see cref="ImportOptions.MaxMessageBytes"/> is refused without being
/// downloaded; one that arrives larger than announced is refused too. A server that closes the connection or sends
/// something that is not IMAP part-way ends the read with an <see cref="ImportSourceException"/>: messages received
/// whole before are imported, the rest come with the next run.
/// </remarks>
public sealed class ImapImportSource(ImapSourceSettings settings, ImportOptions options) : IImportSource
{
    private const int FetchChunk = 64;
    private long _done;
    private long? _total;

    /// <inheritdoc />
    public string Description => $"IMAP {settings}";

    /// <inheritdoc />
    public SourcePosition Position => new(Interlocked.Read(ref _done), _total, "messages");

    /// <inheritdoc />
    public async IAsyncEnumerable<SourceMessage> ReadAsync([EnumeratorCancellation] CancellationToken ct)
    {
        using var client = new ImapClient { Timeout = (int)options.ImapTimeout.TotalMilliseconds };
        if (settings.TrustedRoots is { } roots)
        {
            client.ServerCertificateValidationCallback = (_, certificate, _, errors) => Verify(certificate, errors, roots);
        }

        await ConnectAsync(client, ct).ConfigureAwait(false);
        var folders = await Guard("listing the folders", null, () => ListFoldersAsync(client, ct)).ConfigureAwait(false);
        _total = folders.Sum(f => (long)f.Count);
        foreach (var (folder, count) in folders)
        {
            if (count == 0)
            {
                continue;
            }

            var name = FolderName(folder);
            await Guard("opening", name, () => folder.OpenAsync(FolderAccess.ReadOnly, ct)).ConfigureAwait(false);
            var summaries = await Guard("listing", name, () => folder.FetchAsync(0, -1,
                MessageSummaryItems.UniqueId | MessageSummaryItems.Flags | MessageSummaryItems.InternalDate | MessageSummaryItems.Size, ct)).ConfigureAwait(false);
            foreach (var chunk in summaries.Where(s => s.UniqueId.IsValid).OrderBy(s => s.UniqueId.Id).Chunk(FetchChunk))
            {
                var wanted = chunk.Where(s => s.Size is null || s.Size <= options.MaxMessageBytes).Select(s => s.UniqueId).ToList();
                var bodies = new Dictionary<uint, byte[]?>();
                if (wanted.Count > 0)
                {
                    await Guard("fetching messages of", name, () => ((IImapFolder)folder).GetStreamsAsync(wanted, async (_, _, uid, stream, token) =>
                    {
                        bodies[uid.Id] = await ReadLimitedAsync(stream, options.MaxMessageBytes, token).ConfigureAwait(false);
                    }, ct)).ConfigureAwait(false);
                }

                foreach (var summary in chunk)
                {
                    Interlocked.Increment(ref _done);
                    var where = $"{name} UID {summary.UniqueId.Id}";
                    var flags = Flags(summary);
                    var date = summary.InternalDate;
                    if (!wanted.Contains(summary.UniqueId) || (bodies.TryGetValue(summary.UniqueId.Id, out var b) && b is null))
                    {
                        yield return new SourceMessage(name, flags, date, null, where,
                            $"the message is larger than the limit of {options.MaxMessageBytes} bytes (ImportOptions.MaxMessageBytes)");
                    }
                    else if (bodies.TryGetValue(summary.UniqueId.Id, out var body))
                    {
                        yield return new SourceMessage(name, flags, date, body, where);
                    }
                    else
                    {
                        yield return new SourceMessage(name, flags, date, null, where, "the server did not send the message it listed");
                    }
                }
            }

            await Guard("closing", name, () => folder.CloseAsync(false, ct)).ConfigureAwait(false);
        }

        try
        {
            await client.DisconnectAsync(true, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or ImapProtocolException or SocketException)
        {
            // Everything was read; a server that drops the connection at LOGOUT loses nothing.
        }
    }

    private static bool Verify(X509Certificate? certificate, SslPolicyErrors errors, X509Certificate2Collection roots)
    {
        if (certificate is null)
        {
            return false;
        }

        using var leaf = new X509Certificate2(certificate);
        return Net.HttpFetch.ValidateAgainst(roots, leaf, errors);
    }

    private async Task ConnectAsync(ImapClient client, CancellationToken ct)
    {
        try
        {
            await client.ConnectAsync(settings.Host, settings.Port,
                settings.Tls == ImapSourceTls.Implicit ? SecureSocketOptions.SslOnConnect : SecureSocketOptions.StartTls, ct).ConfigureAwait(false);
        }
        catch (SslHandshakeException e)
        {
            throw new ImportSourceException($"the IMAP server {settings.Host}:{settings.Port} did not present a certificate this client trusts " +
                "(use --ca for a private CA)", unreachable: true, e);
        }
        catch (NotSupportedException e)
        {
            throw new ImportSourceException($"the IMAP server {settings.Host}:{settings.Port} does not offer STARTTLS", unreachable: true, e);
        }
        catch (Exception e) when (e is SocketException or IOException or ImapProtocolException or TimeoutException or OperationCanceledException &&
            !ct.IsCancellationRequested)
        {
            throw new ImportSourceException($"cannot connect to the IMAP server {settings.Host}:{settings.Port}: {e.Message}", unreachable: true, e);
        }

        try
        {
            await client.AuthenticateAsync(settings.User, settings.Password, ct).ConfigureAwait(false);
        }
        catch (AuthenticationException e)
        {
            throw new ImportSourceException($"the IMAP server {settings.Host} refused the login of {settings.User} (wrong password or app password?)",
                unreachable: true, e);
        }
        catch (Exception e) when (e is IOException or ImapProtocolException or ImapCommandException or SocketException)
        {
            throw new ImportSourceException($"the IMAP server {settings.Host} failed during login: {e.Message}", unreachable: true, e);
        }
    }

    private async Task<List<(IMailFolder Folder, int Count)>> ListFoldersAsync(ImapClient client, CancellationToken ct)
    {
        var all = new List<IMailFolder> { client.Inbox };
        foreach (var space in client.PersonalNamespaces)
        {
            foreach (var folder in await client.GetFoldersAsync(space, StatusItems.None, false, ct).ConfigureAwait(false))
            {
                if (!folder.Attributes.HasFlag(FolderAttributes.NoSelect) && !folder.Attributes.HasFlag(FolderAttributes.NonExistent) &&
                    !all.Any(f => f.FullName == folder.FullName))
                {
                    all.Add(folder);
                }
            }
        }

        if (settings.Folders is { } only)
        {
            all = all.Where(f => only.Contains(f.FullName, StringComparer.Ordinal) || only.Contains(FolderName(f), StringComparer.Ordinal)).ToList();
        }

        var counted = new List<(IMailFolder, int)>();
        foreach (var folder in all)
        {
            await folder.StatusAsync(StatusItems.Count, ct).ConfigureAwait(false);
            counted.Add((folder, folder.Count));
        }

        return counted;
    }

    private static string FolderName(IMailFolder folder) =>
        folder.FullName.Equals("INBOX", StringComparison.OrdinalIgnoreCase) ? "INBOX"
        : folder.DirectorySeparator is '\0' or '/' ? folder.FullName : folder.FullName.Replace(folder.DirectorySeparator, '/');

    private static List<string> Flags(IMessageSummary summary)
    {
        var flags = new List<string>();
        var f = summary.Flags ?? MessageFlags.None;
        foreach (var (flag, name) in (ReadOnlySpan<(MessageFlags, string)>)[(MessageFlags.Seen, "\\Seen"), (MessageFlags.Answered, "\\Answered"),
            (MessageFlags.Flagged, "\\Flagged"), (MessageFlags.Deleted, "\\Deleted"), (MessageFlags.Draft, "\\Draft")])
        {
            if (f.HasFlag(flag))
            {
                flags.Add(name);
            }
        }

        if (summary.Keywords is { } keywords)
        {
            flags.AddRange(keywords);
        }

        return flags;
    }

    /// <summary>The stream's bytes, or null when there are more than <paramref name="limit"/> (the server sent more than it announced).</summary>
    private static async Task<byte[]?> ReadLimitedAsync(Stream stream, long limit, CancellationToken ct)
    {
        using var buffer = new MemoryStream();
        var chunk = new byte[1 << 16];
        int read;
        while ((read = await stream.ReadAsync(chunk, ct).ConfigureAwait(false)) > 0)
        {
            if (buffer.Length + read > limit)
            {
                return null;
            }

            await buffer.WriteAsync(chunk.AsMemory(0, read), ct).ConfigureAwait(false);
        }

        return buffer.ToArray();
    }

    private async Task<T> Guard<T>(string doing, string? folder, Func<Task<T>> work)
    {
        try
        {
            return await work().ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or ImapProtocolException or ImapCommandException or SocketException or ServiceNotConnectedException
            or FolderNotFoundException or TimeoutException)
        {
            throw new ImportSourceException($"the IMAP server {settings.Host} failed while {doing}{(folder is null ? "" : " " + folder)}: {e.Message}", inner: e);
        }
    }

    private Task Guard(string doing, string? folder, Func<Task> work) => Guard<bool>(doing, folder, async () =>
    {
        await work().ConfigureAwait(false);
        return true;
    });
}
