using System.Globalization;
using Letterlock.Client;
using Letterlock.Client.Search;
using Letterlock.Client.Store;
using Letterlock.Client.Validation;
using Letterlock.Web.Mail;
using Letterlock.Web.Security;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Net.Http.Headers;

namespace Letterlock.Web.Api;

/// <summary>Reading: accounts, folders, pages of messages, one message with its banner, its frame and attachments, flags, moves, search.</summary>
internal sealed class MailEndpoints(WebContext web)
{
    private const int DefaultPageSize = 50;

    public void Map(IEndpointRouteBuilder app)
    {
        app.MapGet("/api/accounts", ListAccountsAsync);
        app.MapGet("/api/accounts/{account}/folders", ListFoldersAsync);
        app.MapPost("/api/accounts/{account}/folders", CreateFolderAsync);
        app.MapGet("/api/accounts/{account}/folders/{folder}/messages", PageAsync);
        app.MapGet("/api/accounts/{account}/messages/{message}", GetMessageAsync);
        app.MapPost("/api/accounts/{account}/messages/{message}/flags", SetFlagsAsync);
        app.MapPost("/api/accounts/{account}/messages/{message}/move", MoveAsync);
        app.MapDelete("/api/accounts/{account}/messages/{message}", DeleteAsync);
        app.MapGet("/api/accounts/{account}/messages/{message}/attachments/{index}", AttachmentAsync);
        app.MapPost("/api/accounts/{account}/remote-images", RemoteImagesAsync);
        app.MapGet("/api/accounts/{account}/search", SearchAsync);
        app.MapGet("/frame/{account}/{message}", FrameAsync);
    }

    private async Task ListAccountsAsync(HttpContext context)
    {
        var accounts = await web.Store.Accounts.ListAsync(context.RequestAborted);
        await HttpJson.WriteAsync(context, accounts.Select(a => new AccountDto(HttpJson.Id(a.Id.Value), a.Address, a.DisplayName, a.Policy.ToString())).ToList(),
            WebJson.Default.ListAccountDto);
    }

    private async Task ListFoldersAsync(HttpContext context)
    {
        if (await HttpJson.AccountAsync(context, web.Store) is not { } account)
        {
            return;
        }

        var mail = web.Store.Mail(account.Id);
        var folders = new List<FolderDto>();
        foreach (var folder in await mail.ListFoldersAsync(context.RequestAborted))
        {
            var (total, unread) = (await web.Views.FolderAsync(mail, folder.Id, context.RequestAborted)).Counts;
            folders.Add(new FolderDto(HttpJson.Id(folder.Id.Value), folder.Name, folder.Role.ToString(), total, unread));
        }

        await HttpJson.WriteAsync(context, folders, WebJson.Default.ListFolderDto);
    }

    private async Task CreateFolderAsync(HttpContext context)
    {
        if (await HttpJson.AccountAsync(context, web.Store) is not { } account
            || await HttpJson.ReadAsync(context, WebJson.Default.CreateFolderRequest, web.Options) is not { } request)
        {
            return;
        }

        var result = await web.Store.Mail(account.Id).CreateFolderAsync(request.Name ?? "", ct: context.RequestAborted);
        if (!result.IsOk)
        {
            await Refused(context, result.Status, result.Detail!);
            return;
        }

        await HttpJson.WriteAsync(context, new FolderDto(HttpJson.Id(result.Value!.Id.Value), result.Value.Name, result.Value.Role.ToString(), 0, 0),
            WebJson.Default.FolderDto, 201);
    }

    /// <summary>One page of a folder, newest first: the index gives the page's UIDs, the store opens that page's summaries alone.</summary>
    private async Task PageAsync(HttpContext context)
    {
        if (await HttpJson.AccountAsync(context, web.Store) is not { } account)
        {
            return;
        }

        var mail = web.Store.Mail(account.Id);
        if (!HttpJson.TryId(context, "folder", out var folderId) || await mail.GetFolderAsync(new FolderId(folderId), context.RequestAborted) is not { } folder)
        {
            await WebGuard.Problem(context, 404, "No such folder", "The account has no such folder.");
            return;
        }

        int offset = Query(context, "offset", 0, 0, int.MaxValue);
        int size = Query(context, "size", DefaultPageSize, 1, web.Options.MaxPageSize);
        if (offset < 0 || size < 0)
        {
            await WebGuard.Problem(context, 400, "Bad paging", $"offset is 0 or more; size is 1 to {web.Options.MaxPageSize} (MaxPageSize).");
            return;
        }

        var index = await web.Views.FolderAsync(mail, folder.Id, context.RequestAborted);
        var entries = index.PageNewestFirst(offset, size);
        var (total, unread) = index.Counts;
        var items = await ItemsAsync(mail, folder.Id, entries, context.RequestAborted);
        await HttpJson.WriteAsync(context, new MessagePageDto(HttpJson.Id(folder.Id.Value), total, unread, offset, size, items), WebJson.Default.MessagePageDto);
    }

    /// <summary>The rows of <paramref name="entries"/> (newest first) with their summaries, in one read of the UID range they span.</summary>
    private async Task<List<MessageItemDto>> ItemsAsync(AccountMail mail, FolderId folder, IndexEntry[] entries, CancellationToken ct)
    {
        if (entries.Length == 0)
        {
            return [];
        }

        uint lowest = entries[^1].Uid, highest = entries[0].Uid;
        var wanted = entries.Select(e => e.Uid).ToHashSet();
        var rows = await mail.PageAsync(folder, new Uid(lowest - 1), new Uid(highest), entries.Length + 64, needSummary: uid => wanted.Contains(uid.Value), ct: ct);
        var threads = web.Views.Threads(mail);
        return rows.Where(r => wanted.Contains(r.Uid.Value)).OrderByDescending(r => r.Uid.Value)
            .Select(r => Item(r.Id.Value, folder, r.Uid.Value, r.Summary!, FolderIndex.FlagsOf(r.Flags), threads.SizeOf(r.Id.Value))).ToList();
    }

    private static MessageItemDto Item(Guid id, FolderId folder, uint uid, MessageSummary summary, ListFlags flags, int thread)
    {
        var from = summary.From.FirstOrDefault();
        return new MessageItemDto(HttpJson.Id(id), HttpJson.Id(folder.Value), uid, summary.Subject, from?.Name ?? from?.Address, from?.Address,
            summary.Date ?? summary.InternalDate, flags.HasFlag(ListFlags.Seen), flags.HasFlag(ListFlags.Flagged), flags.HasFlag(ListFlags.Answered),
            summary.Security.Encryption == EncryptionState.EndToEnd ? "end-to-end" : "none", summary.Security.Signature.ToString().ToLowerInvariant(), thread);
    }

    private async Task GetMessageAsync(HttpContext context)
    {
        if (await LoadAsync(context) is not { } loaded)
        {
            return;
        }

        var (account, message, content, folder) = loaded;
        var summary = message.Summary;
        var sender = summary.From.FirstOrDefault()?.Address is { } address ? MailAddress.TryNormalize(address) : null;
        bool sentHere = sender == account.Address && folder.Role is FolderRole.Sent or FolderRole.Drafts;
        KeyValidationLevel? trustNow = null;
        if (sender is not null && sender != account.Address && await web.Store.Contacts.GetAsync(account.Id, sender, context.RequestAborted) is { } contact)
        {
            trustNow = contact.KeyState.Level;
        }

        var banner = SecurityBanner.For(summary.Security, sentHere, content?.StillEncrypted ?? false, sender, trustNow);
        var remote = await RemoteAsync(account, summary, sender, content, context.RequestAborted);
        var mail = web.Store.Mail(account.Id);
        var threads = web.Views.Threads(mail);
        var thread = threads.ThreadOf(message.Id.Value);
        var index = await web.Views.FolderAsync(mail, folder.Id, context.RequestAborted);
        int position = index.PositionOf(message.Id.Value);
        string? Neighbour(int at) => at < 0 || position < 0 ? null : index.PageNewestFirst(at, 1) is [var e] ? HttpJson.Id(e.Id) : null;
        var flags = FolderIndex.FlagsOf(message.Flags);
        await HttpJson.WriteAsync(context, new MessageDto(
            HttpJson.Id(message.Id.Value), HttpJson.Id(folder.Id.Value), folder.Role.ToString(), summary.Subject,
            Addresses(summary.From), Addresses(summary.To), Addresses(summary.Cc), Addresses(summary.ReplyTo), summary.Date ?? summary.InternalDate,
            flags.HasFlag(ListFlags.Seen), flags.HasFlag(ListFlags.Flagged), Banner(banner),
            content?.Attachments().Select(a => new AttachmentDto(a.Index, a.Name, a.ContentType, a.Size)).ToList() ?? [],
            remote,
            thread.Count > 1 ? thread.Select(t => new ThreadItemDto(HttpJson.Id(t.Id), HttpJson.Id(t.Folder.Value), t.Subject, t.From, t.Date, t.Id == message.Id.Value)).ToList() : [],
            $"/frame/{HttpJson.Id(account.Id.Value)}/{HttpJson.Id(message.Id.Value)}",
            Neighbour(position - 1), Neighbour(position + 1)), WebJson.Default.MessageDto);
    }

    private async Task<RemoteContentDto> RemoteAsync(AccountRecord account, MessageSummary summary, string? sender, MessageContent? content, CancellationToken ct)
    {
        if (summary.Security.Encryption == EncryptionState.EndToEnd)
        {
            // Decrypted HTML never loads anything (DESIGN.md invariant 4): there is no choice to offer.
            return new RemoteContentDto(0, false, false, sender, "Remote content is never loaded in end-to-end encrypted mail.");
        }

        int blocked = content?.RemoteReferences() ?? 0;
        bool allowed = sender is not null && await web.Views.AllowsRemoteImagesAsync(account.Id, sender, ct);
        return new RemoteContentDto(blocked, allowed, sender is not null, sender, null);
    }

    private static BannerDto Banner(SecurityBanner b) => new(Tone(b.Tone), b.Encryption, Tone(b.EncryptionTone), b.EncryptionText, b.Signature,
        Tone(b.SignatureTone), b.SignatureText, b.Signer, b.SignerFingerprint, b.TrustAtReceipt, b.TrustNow);

    private static string Tone(BannerTone tone) => tone.ToString().ToLowerInvariant();

    private static List<AddressDto> Addresses(IReadOnlyList<EnvelopeAddress> list) => list.Select(a => new AddressDto(a.Name, a.Address)).ToList();

    /// <summary>The message's frame: its own document under its own CSP (sandbox, nothing remote unless the reader allowed images).</summary>
    private async Task FrameAsync(HttpContext context)
    {
        if (await LoadAsync(context) is not { } loaded)
        {
            return;
        }

        var (account, message, content, _) = loaded;
        var sender = message.Summary.From.FirstOrDefault()?.Address is { } address ? MailAddress.TryNormalize(address) : null;
        bool remote = message.Summary.Security.Encryption != EncryptionState.EndToEnd && sender is not null
            && await web.Views.AllowsRemoteImagesAsync(account.Id, sender, context.RequestAborted);
        string html = content?.FrameHtml(remote, web.Options.MaxInlineImageBytes)
            ?? "<!DOCTYPE html><p>This message cannot be shown: its stored form is damaged.</p>";
        context.Response.Headers.ContentSecurityPolicy = WebGuard.FramePolicy(remote);
        context.Response.ContentType = "text/html; charset=utf-8";
        await context.Response.WriteAsync(html, context.RequestAborted);
    }

    private async Task AttachmentAsync(HttpContext context)
    {
        if (await LoadAsync(context) is not { } loaded)
        {
            return;
        }

        if (!int.TryParse((string?)context.Request.RouteValues["index"], NumberStyles.None, CultureInfo.InvariantCulture, out int index)
            || loaded.Content?.Attachment(index) is not { } attachment)
        {
            await WebGuard.Problem(context, 404, "No such attachment", "The message has no attachment with that number.");
            return;
        }

        // Always a download, never rendered by the browser in the app's origin, whatever the sender called it.
        var disposition = new ContentDispositionHeaderValue("attachment");
        disposition.SetHttpFileName(attachment.Info.Name);
        context.Response.Headers.ContentDisposition = disposition.ToString();
        context.Response.Headers.ContentSecurityPolicy = "sandbox; default-src 'none'";
        context.Response.ContentType = "application/octet-stream";
        context.Response.ContentLength = attachment.Content.Length;
        await context.Response.Body.WriteAsync(attachment.Content, context.RequestAborted);
    }

    private async Task SetFlagsAsync(HttpContext context)
    {
        if (await MessageRouteAsync(context) is not { } route || await HttpJson.ReadAsync(context, WebJson.Default.FlagsRequest, web.Options) is not { } request)
        {
            return;
        }

        var mail = web.Store.Mail(route.Account.Id);
        foreach (var (flag, value) in new[] { ("\\Seen", request.Seen), ("\\Flagged", request.Flagged) })
        {
            if (value is { } set)
            {
                var result = await mail.SetFlagsAsync([route.Message.Id], set ? FlagOperation.Add : FlagOperation.Remove, [flag], ct: context.RequestAborted);
                if (!result.IsOk)
                {
                    await Refused(context, result.Status, result.Detail!);
                    return;
                }
            }
        }

        await HttpJson.Ok(context);
    }

    private async Task MoveAsync(HttpContext context)
    {
        if (await MessageRouteAsync(context) is not { } route || await HttpJson.ReadAsync(context, WebJson.Default.MoveRequest, web.Options) is not { } request)
        {
            return;
        }

        if (request.Folder is not { Length: 32 } folder || !Guid.TryParseExact(folder, "N", out var target))
        {
            await WebGuard.Problem(context, 400, "No folder", "Name the folder to move to by its id.");
            return;
        }

        var result = await web.Store.Mail(route.Account.Id).MoveAsync([route.Message.Id], new FolderId(target), context.RequestAborted);
        if (!result.IsOk)
        {
            await Refused(context, result.Status, result.Detail!);
            return;
        }

        await HttpJson.Ok(context);
    }

    /// <summary>Deleting moves to Trash; deleting in Trash removes for good.</summary>
    private async Task DeleteAsync(HttpContext context)
    {
        if (await MessageRouteAsync(context) is not { } route)
        {
            return;
        }

        var mail = web.Store.Mail(route.Account.Id);
        var trash = await mail.FindFolderAsync(FolderRole.Trash, context.RequestAborted);
        if (trash is null || route.Message.Folder == trash.Id)
        {
            await mail.DeleteAsync([route.Message.Id], context.RequestAborted);
        }
        else
        {
            await mail.MoveAsync([route.Message.Id], trash.Id, context.RequestAborted);
        }

        await HttpJson.Ok(context);
    }

    private async Task RemoteImagesAsync(HttpContext context)
    {
        if (await HttpJson.AccountAsync(context, web.Store) is not { } account
            || await HttpJson.ReadAsync(context, WebJson.Default.RemoteImagesRequest, web.Options) is not { } request)
        {
            return;
        }

        if (MailAddress.TryNormalize(request.Sender ?? "") is not { } sender)
        {
            await WebGuard.Problem(context, 400, "Not an address", "Name the sender by a mail address.");
            return;
        }

        if (await web.Views.SetRemoteImagesAsync(account.Id, sender, request.Allow, context.RequestAborted) is { } refusal)
        {
            await WebGuard.Problem(context, 409, "Limit reached", refusal);
            return;
        }

        await HttpJson.Ok(context);
    }

    /// <summary>
    /// Search with the client's encrypted index, in the syntax of <c>letterlock search</c> (<see cref="MailQuery"/>):
    /// words and quoted phrases, <c>from:</c>, <c>to:</c>, <c>subject:</c>, <c>body:</c>, <c>date:</c>, <c>folder:</c>, <c>is:</c>.
    /// A malformed query is a 400 problem naming what is wrong; a query that finds nothing to look for (no word of two
    /// letters, an unknown folder) answers no messages and says why.
    /// </summary>
    private async Task SearchAsync(HttpContext context)
    {
        if (await HttpJson.AccountAsync(context, web.Store) is not { } account)
        {
            return;
        }

        string query = context.Request.Query["q"].ToString();
        if (!MailQuery.TryParse(query, out var parsed, out var problem))
        {
            await WebGuard.Problem(context, 400, "Malformed search", $"The search cannot be read: {problem}.");
            return;
        }

        var mail = web.Store.Mail(account.Id);
        var result = await mail.QueryAsync(parsed!, context.RequestAborted);
        if (!result.IsOk)
        {
            await HttpJson.WriteAsync(context, new SearchResultDto(query, 0, [], Capitalised(result.Detail) + "."), WebJson.Default.SearchResultDto);
            return;
        }

        var found = result.Done;
        var threads = web.Views.Threads(mail);
        var items = found.Take(web.Options.MaxSearchResults)
            .Select(m => Item(m.Id.Value, m.Folder, m.Uid.Value, m.Summary, FolderIndex.FlagsOf(m.Flags), threads.SizeOf(m.Id.Value)))
            .ToList();
        await HttpJson.WriteAsync(context, new SearchResultDto(query, found.Count, items,
            found.Count > items.Count ? $"Showing {items.Count} of {found.Count}: add words to narrow the search." : null), WebJson.Default.SearchResultDto);
    }

    private static string Capitalised(string? text) => string.IsNullOrEmpty(text) ? "Nothing to search for" : char.ToUpperInvariant(text[0]) + text[1..];

    private sealed record Loaded(AccountRecord Account, StoredMessage Message, MessageContent? Content, FolderRecord Folder);

    private sealed record MessageRoute(AccountRecord Account, StoredMessage Message);

    private async Task<MessageRoute?> MessageRouteAsync(HttpContext context)
    {
        if (await HttpJson.AccountAsync(context, web.Store) is not { } account)
        {
            return null;
        }

        if (HttpJson.TryId(context, "message", out var id) && await web.Store.Mail(account.Id).GetAsync(new MessageId(id), context.RequestAborted) is { } message)
        {
            return new MessageRoute(account, message);
        }

        await WebGuard.Problem(context, 404, "No such message", "The account has no such message (it may have been moved or deleted).");
        return null;
    }

    private async Task<Loaded?> LoadAsync(HttpContext context)
    {
        if (await MessageRouteAsync(context) is not { } route)
        {
            return null;
        }

        var mail = web.Store.Mail(route.Account.Id);
        var body = await mail.ReadBodyAsync(route.Message.Id, context.RequestAborted);
        var folder = await mail.GetFolderAsync(route.Message.Folder, context.RequestAborted);
        if (body is null || folder is null)
        {
            await WebGuard.Problem(context, 404, "No such message", "The message was moved or deleted meanwhile.");
            return null;
        }

        return new Loaded(route.Account, route.Message, MessageContent.Parse(body, 64), folder);
    }

    internal static Task Refused(HttpContext context, MailStatus status, string detail) => status switch
    {
        MailStatus.NotFound => WebGuard.Problem(context, 404, "Not found", detail),
        MailStatus.AlreadyExists => WebGuard.Problem(context, 409, "Already exists", detail),
        MailStatus.TooLarge => WebGuard.Problem(context, 413, "Too large", detail),
        _ => WebGuard.Problem(context, 400, "Refused", detail),
    };

    private static int Query(HttpContext context, string name, int fallback, int min, int max)
    {
        var value = context.Request.Query[name].ToString();
        if (value.Length == 0)
        {
            return fallback;
        }

        return int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out int parsed) && parsed >= min && parsed <= max ? parsed : -1;
    }
}
