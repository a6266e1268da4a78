using System.Globalization;
using Letterlock.Client;
using Letterlock.Client.Mail;
using Letterlock.Client.Store;
using Letterlock.Client.Validation;
using Letterlock.OpenPgp.Mime;
using Letterlock.Web.Mail;
using Letterlock.Web.Security;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using MimeKit;
using MimeKit.Utils;

namespace Letterlock.Web.Api;

/// <summary>
/// Writing: compose, reply, reply-all, forward, drafts (kept in the Drafts folder, sealed like every message),
/// attachments, the per-recipient preview, and sending through the bridge's own submission path
/// (<see cref="Bridge.BridgeSubmission"/>), so a message sent here is treated exactly like one from a mail app.
/// </summary>
internal sealed class ComposeEndpoints(WebContext web)
{
    /// <summary>A draft's own header for what the form holds beyond the message: "send only if encrypted".</summary>
    internal const string DraftOptionsHeader = "X-Letterlock-Draft-Options";

    public void Map(IEndpointRouteBuilder app)
    {
        app.MapPost("/api/accounts/{account}/uploads", UploadAsync);
        app.MapDelete("/api/accounts/{account}/uploads/{upload}", DropUploadAsync);
        app.MapGet("/api/accounts/{account}/compose", StartAsync);
        app.MapPost("/api/accounts/{account}/plan", PlanAsync);
        app.MapPost("/api/accounts/{account}/send", SendAsync);
        app.MapPost("/api/accounts/{account}/drafts", SaveDraftAsync);
    }

    /// <summary>
    /// One attachment as the raw request body (its name in <c>X-File-Name</c>, percent-encoded), held for the session
    /// until sent or saved: refused at <see cref="WebOptions.MaxAttachmentBytes"/> before it is read, and at the
    /// session's count and byte limits.
    /// </summary>
    private async Task UploadAsync(HttpContext context)
    {
        if (await HttpJson.AccountAsync(context, web.Store) is null)
        {
            return;
        }

        var request = context.Request;
        if (request.ContentLength is not { } length)
        {
            await WebGuard.Problem(context, 411, "Length required", "An upload states its length.");
            return;
        }

        if (length > web.Options.MaxAttachmentBytes)
        {
            await WebGuard.Problem(context, 413, "Attachment too large", $"An attachment may be at most {web.Options.MaxAttachmentBytes} bytes (MaxAttachmentBytes).");
            return;
        }

        var content = new byte[length];
        int read = 0;
        while (read < length)
        {
            int n = await request.Body.ReadAsync(content.AsMemory(read), context.RequestAborted);
            if (n == 0)
            {
                await WebGuard.Problem(context, 400, "Upload cut short", "The upload ended before its stated length.");
                return;
            }

            read += n;
        }

        string name = MessageContent.SafeName(Uri.UnescapeDataString(request.Headers["X-File-Name"].ToString() is { Length: > 0 and < 2048 } n2 ? n2 : "attachment"));
        string type = ContentType.TryParse(request.ContentType ?? "", out var parsed) ? parsed.MimeType : "application/octet-stream";
        var upload = new Upload(WebSessions.NewSecret()[..22], name, type, content);
        if (WebContext.Session(context).Uploads.TryAdd(upload, web.Options) is { } refusal)
        {
            await WebGuard.Problem(context, 413, "Too many attachments", refusal);
            return;
        }

        await HttpJson.WriteAsync(context, Dto(upload), WebJson.Default.UploadDto, 201);
    }

    private async Task DropUploadAsync(HttpContext context)
    {
        if (await HttpJson.AccountAsync(context, web.Store) is null)
        {
            return;
        }

        WebContext.Session(context).Uploads.Remove((string)context.Request.RouteValues["upload"]!);
        await HttpJson.Ok(context);
    }

    private static UploadDto Dto(Upload upload) => new(upload.Id, upload.FileName, upload.ContentType, upload.Content.Length);

    /// <summary>A form to start from: empty, a reply, a reply to all, a forward (with the attachments), or a saved draft.</summary>
    private async Task StartAsync(HttpContext context)
    {
        if (await HttpJson.AccountAsync(context, web.Store) is not { } account)
        {
            return;
        }

        string mode = context.Request.Query["mode"].ToString();
        if (mode is "" or "new")
        {
            await HttpJson.WriteAsync(context, new DraftDto(null, [], [], [], "", "", null, null, [], account.Policy == EncryptionPolicy.EncryptedOnly),
                WebJson.Default.DraftDto);
            return;
        }

        var mail = web.Store.Mail(account.Id);
        if (mode is not ("reply" or "all" or "forward" or "draft")
            || context.Request.Query["message"].ToString() is not { Length: 32 } id || !Guid.TryParseExact(id, "N", out var messageId)
            || await mail.GetAsync(new MessageId(messageId), context.RequestAborted) is not { } message
            || await mail.ReadBodyAsync(message.Id, context.RequestAborted) is not { } body
            || MessageContent.Parse(body, 64) is not { } content)
        {
            await WebGuard.Problem(context, 404, "Nothing to start from", "mode is new, reply, all, forward or draft; the last four name an existing message.");
            return;
        }

        var session = WebContext.Session(context);
        var source = content.Message;
        var summary = message.Summary;
        bool wasEncrypted = summary.Security.Encryption == EncryptionState.EndToEnd || account.Policy == EncryptionPolicy.EncryptedOnly;
        if (mode == "draft")
        {
            var uploads = CopyAttachments(content, session);
            if (uploads is null)
            {
                await WebGuard.Problem(context, 413, "Too many attachments", "The draft's attachments pass this session's upload limits.");
                return;
            }

            await HttpJson.WriteAsync(context, new DraftDto(id, List(source.To), List(source.Cc), List(source.Bcc), source.Subject ?? "", content.Text(),
                source.InReplyTo, source.References.Count > 0 ? string.Join(' ', source.References.Select(r => "<" + r + ">")) : null, uploads,
                source.Headers[DraftOptionsHeader]?.Contains("only-encrypted", StringComparison.Ordinal) ?? false), WebJson.Default.DraftDto);
            return;
        }

        string from = summary.From.FirstOrDefault() is { } f ? (f.Name is { Length: > 0 } ? $"{f.Name} <{f.Address}>" : f.Address) : "";
        string date = (summary.Date ?? summary.InternalDate).ToString("ddd, d MMM yyyy HH:mm", CultureInfo.InvariantCulture);
        string subject = summary.Subject ?? "";
        if (mode == "forward")
        {
            var uploads = CopyAttachments(content, session);
            if (uploads is null)
            {
                await WebGuard.Problem(context, 413, "Too many attachments", "The forwarded attachments pass this session's upload limits.");
                return;
            }

            string forwarded = "\n\n---------- Forwarded message ----------\n" +
                $"From: {from}\nDate: {date}\nSubject: {subject}\nTo: {string.Join(", ", summary.To.Select(a => a.Address))}\n\n" + content.Text();
            await HttpJson.WriteAsync(context, new DraftDto(null, [], [], [], Prefixed("Fwd: ", subject), forwarded, null, null, uploads, wasEncrypted),
                WebJson.Default.DraftDto);
            return;
        }

        var me = account.Address;
        // A reply to one's own message goes to its recipients again; otherwise to Reply-To, else From.
        bool mine = summary.From.Count > 0 && MailAddress.TryNormalize(summary.From[0].Address) == me;
        var to = (mine ? summary.To : summary.ReplyTo.Count > 0 ? summary.ReplyTo : summary.From).Select(a => a.Address).ToList();
        var cc = new List<string>();
        if (mode == "all")
        {
            if (!mine)
            {
                to.AddRange(summary.To.Select(a => a.Address));
            }

            cc.AddRange(summary.Cc.Select(a => a.Address));
        }

        to = Distinct(to.Where(a => MailAddress.TryNormalize(a) != me));
        cc = Distinct(cc.Where(a => MailAddress.TryNormalize(a) != me && !to.Contains(a, StringComparer.OrdinalIgnoreCase)));
        string quoted = $"\n\nOn {date}, {from} wrote:\n" + string.Join('\n', content.Text().Replace("\r\n", "\n", StringComparison.Ordinal).TrimEnd().Split('\n').Select(l => "> " + l));
        var references = source.References.Select(r => "<" + r + ">").ToList();
        if (source.MessageId is { } mid)
        {
            references.Add("<" + mid + ">");
        }

        await HttpJson.WriteAsync(context, new DraftDto(null, to, cc, [], Prefixed("Re: ", subject), quoted, source.MessageId is { } m ? "<" + m + ">" : null,
            references.Count > 0 ? string.Join(' ', references) : null, [], wasEncrypted), WebJson.Default.DraftDto);
    }

    private List<UploadDto>? CopyAttachments(MessageContent content, WebSession session)
    {
        var list = new List<UploadDto>();
        foreach (var info in content.Attachments())
        {
            if (content.Attachment(info.Index) is not { } attachment)
            {
                continue;
            }

            var upload = new Upload(WebSessions.NewSecret()[..22], attachment.Info.Name, attachment.Info.ContentType, attachment.Content);
            if (attachment.Content.Length > web.Options.MaxAttachmentBytes || session.Uploads.TryAdd(upload, web.Options) is not null)
            {
                return null;
            }

            list.Add(Dto(upload));
        }

        return list;
    }

    /// <summary>What sending to these recipients would do now, each recipient's route with its protocol, decided as sending decides.</summary>
    private async Task PlanAsync(HttpContext context)
    {
        if (await HttpJson.AccountAsync(context, web.Store) is not { } account
            || await HttpJson.ReadAsync(context, WebJson.Default.PlanRequest, web.Options) is not { } request)
        {
            return;
        }

        var given = request.Recipients ?? [];
        if (given.Count > web.Options.MaxRecipients)
        {
            await WebGuard.Problem(context, 400, "Too many recipients", $"A message may have at most {web.Options.MaxRecipients} recipients (MaxRecipients).");
            return;
        }

        var bad = given.FirstOrDefault(r => Address(r) is null);
        if (bad is not null)
        {
            await WebGuard.Problem(context, 400, "Not an address", $"'{Shorten(bad)}' is not a mail address.");
            return;
        }

        var recipients = given.Select(Address).OfType<string>().ToList();

        var plan = await web.Bridge.Submission.PlanAsync(account, recipients, request.OnlyEncrypted, context.RequestAborted);
        await HttpJson.WriteAsync(context, Dto(plan), WebJson.Default.PlanDto);
    }

    internal static PlanDto Dto(SendPlan plan)
    {
        var recipients = plan.Recipients.Select(r => new RecipientPlanDto(r.Address, Route(r.Route), r.Protocol == EncryptionProtocol.PgpMime ? "OpenPGP (PGP/MIME)" : "none",
            r.Level.ToString().ToLowerInvariant(), r.Fingerprint is { } fp && KeyFingerprint.TryParse(fp, out var parsed) ? parsed.ToDisplayString() : null,
            r.Route switch
            {
                RecipientRoute.EndToEnd => $"end-to-end encrypted with OpenPGP (PGP/MIME), key {r.Level.ToString().ToLowerInvariant()}",
                RecipientRoute.KeyChanged => "key CHANGED: nothing is sent to them until you decide (Contacts)",
                RecipientRoute.KeyUnpublished => "their provider served a key it has NOT PUBLISHED: nothing is sent to them",
                _ => r.ContactWantsEncryption ? "no key, and the contact takes encrypted mail only" : "no key: not end-to-end encrypted",
            })).ToList();
        int noKey = plan.Recipients.Count(r => r.Route == RecipientRoute.NoKey);
        string summary = plan.Outcome switch
        {
            SendStatus.Queued when plan.Encrypted => "Will be sent end-to-end encrypted to every recipient.",
            SendStatus.Queued => $"Will be sent WITHOUT end-to-end encryption: {noKey} recipient(s) have no key.",
            SendStatus.RefusedNoKey => $"Will not be sent: it must be encrypted, and {noKey} recipient(s) have no key.",
            SendStatus.RefusedChangedKey => "Will not be sent until you decide about a changed key: " +
                string.Join(", ", plan.Recipients.Where(r => r.Route == RecipientRoute.KeyChanged).Select(r => r.Address)) + ".",
            SendStatus.RefusedUnpublishedKey => "Will not be sent: the provider of " +
                string.Join(", ", plan.Recipients.Where(r => r.Route == RecipientRoute.KeyUnpublished).Select(r => r.Address)) +
                " served a key it has not published in its transparency log.",
            _ => "Add a recipient.",
        };
        return new PlanDto(recipients, Outcome(plan.Outcome), plan.Encrypted, summary);
    }

    private static string Route(RecipientRoute route) => route switch
    {
        RecipientRoute.EndToEnd => "end-to-end",
        RecipientRoute.KeyChanged => "key-changed",
        RecipientRoute.KeyUnpublished => "key-unpublished",
        _ => "no-key",
    };

    private static string Outcome(SendStatus status) => status switch
    {
        SendStatus.Queued => "queued",
        SendStatus.RefusedNoKey => "refused-no-key",
        SendStatus.RefusedChangedKey => "refused-changed-key",
        SendStatus.RefusedUnpublishedKey => "refused-unpublished-key",
        SendStatus.RefusedSender => "refused-sender",
        SendStatus.TooComplex => "refused-limit",
        _ => "invalid",
    };

    private async Task SendAsync(HttpContext context)
    {
        if (await HttpJson.AccountAsync(context, web.Store) is not { } account
            || await HttpJson.ReadAsync(context, WebJson.Default.DraftDto, web.Options) is not { } draft
            || await BuildAsync(context, account, draft, forDraft: false) is not { } built)
        {
            return;
        }

        var recipients = draft.To.Concat(draft.Cc).Concat(draft.Bcc).Select(Address).OfType<string>().Distinct(StringComparer.Ordinal).ToList();
        var outcome = await web.Bridge.Submission.SubmitAsync(account, built, recipients, draft.OnlyEncrypted, context.RequestAborted);
        string detail = outcome.Status switch
        {
            SendStatus.Queued when outcome.Encrypted => "Sent end-to-end encrypted (queued for your provider).",
            SendStatus.Queued => "Sent without end-to-end encryption (queued for your provider).",
            SendStatus.RefusedNoKey => "Not sent: it must be encrypted, and there is no key for " + string.Join(", ", outcome.Recipients) + ".",
            SendStatus.RefusedChangedKey => "Not sent: the key of " + string.Join(", ", outcome.Recipients) + " changed; decide in Contacts first.",
            SendStatus.RefusedUnpublishedKey => "Not sent: the provider of " + string.Join(", ", outcome.Recipients) +
                " served a key it has not published in its transparency log.",
            SendStatus.RefusedSender => "Not sent: From must be the account's own address.",
            SendStatus.TooComplex when outcome.Limit is { } limit => $"Not sent: {limit.Description} (limit MimeLimits.{limit.Limit}).",
            _ => "Not sent: the message has no valid recipient.",
        };
        if (outcome.Status == SendStatus.Queued)
        {
            var session = WebContext.Session(context);
            foreach (var upload in draft.Attachments)
            {
                session.Uploads.Remove(upload.Id);
            }

            var mail = web.Store.Mail(account.Id);
            if (draft.DraftId is { Length: 32 } d && Guid.TryParseExact(d, "N", out var draftId)
                && await mail.GetAsync(new MessageId(draftId), context.RequestAborted) is { } old && old.Flags.Contains("\\Draft"))
            {
                await mail.DeleteAsync([old.Id], context.RequestAborted);
            }
        }

        await HttpJson.WriteAsync(context, new SendResultDto(Outcome(outcome.Status), outcome.Encrypted, detail, outcome.Recipients),
            WebJson.Default.SendResultDto, outcome.Status == SendStatus.Queued ? 200 : 422);
    }

    /// <summary>Saves the form in the Drafts folder (sealed in the store like every message, synced to the account's devices), replacing the previous save.</summary>
    private async Task SaveDraftAsync(HttpContext context)
    {
        if (await HttpJson.AccountAsync(context, web.Store) is not { } account
            || await HttpJson.ReadAsync(context, WebJson.Default.DraftDto, web.Options) is not { } draft
            || await BuildAsync(context, account, draft, forDraft: true) is not { } built)
        {
            return;
        }

        var mail = web.Store.Mail(account.Id);
        if (await mail.FindFolderAsync(FolderRole.Drafts, context.RequestAborted) is not { } drafts)
        {
            await WebGuard.Problem(context, 409, "No Drafts folder", "The account has no Drafts folder.");
            return;
        }

        var (summary, text) = MessageSummaryBuilder.Build(built, web.Time.GetUtcNow(), MessageSecurity.Plain);
        var saved = await mail.AppendAsync(drafts.Id, new NewMessage(summary, built, ["\\Draft", "\\Seen"], text), context.RequestAborted);
        if (!saved.IsOk)
        {
            await MailEndpoints.Refused(context, saved.Status, saved.Detail!);
            return;
        }

        if (draft.DraftId is { Length: 32 } d && Guid.TryParseExact(d, "N", out var previous)
            && await mail.GetAsync(new MessageId(previous), context.RequestAborted) is { } old && old.Folder == drafts.Id)
        {
            await mail.DeleteAsync([old.Id], context.RequestAborted);
        }

        await HttpJson.WriteAsync(context, new SavedDraftDto(HttpJson.Id(saved.Value!.Id.Value)), WebJson.Default.SavedDraftDto);
    }

    /// <summary>The RFC 5322 message the form describes, or null after answering what is wrong with it.</summary>
    private async Task<byte[]?> BuildAsync(HttpContext context, AccountRecord account, DraftDto draft, bool forDraft)
    {
        var message = new MimeMessage();
        message.From.Add(new MailboxAddress(account.DisplayName, account.Address));
        int count = 0;
        foreach (var (list, target) in new[] { (draft.To, message.To), (draft.Cc, message.Cc), (draft.Bcc, message.Bcc) })
        {
            foreach (var address in list ?? [])
            {
                if (Address(address) is null || !MailboxAddress.TryParse(address, out var mailbox))
                {
                    await WebGuard.Problem(context, 400, "Not an address", $"'{Shorten(address)}' is not a mail address.");
                    return null;
                }

                target.Add(mailbox);
                count++;
            }
        }

        if (count > web.Options.MaxRecipients)
        {
            await WebGuard.Problem(context, 400, "Too many recipients", $"A message may have at most {web.Options.MaxRecipients} recipients (MaxRecipients).");
            return null;
        }

        if (count == 0 && !forDraft)
        {
            await WebGuard.Problem(context, 400, "No recipient", "Add at least one recipient.");
            return null;
        }

        message.Subject = draft.Subject ?? "";
        message.Date = web.Time.GetUtcNow();
        message.MessageId = MimeUtils.GenerateMessageId(MailAddress.Split(account.Address).Domain);
        if (draft.InReplyTo is { Length: > 0 and < 1000 } inReplyTo)
        {
            message.InReplyTo = inReplyTo;
        }

        if (draft.References is { Length: > 0 and < 10_000 } references)
        {
            foreach (var reference in references.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            {
                message.References.Add(reference.Trim('<', '>'));
            }
        }

        if (forDraft && draft.OnlyEncrypted)
        {
            message.Headers.Add(DraftOptionsHeader, "only-encrypted");
        }

        var text = new TextPart("plain") { Text = draft.Text ?? "" };
        text.ContentType.Charset = "utf-8";
        var session = WebContext.Session(context);
        var attachments = new List<MimePart>();
        foreach (var reference in draft.Attachments ?? [])
        {
            if (session.Uploads.Get(reference.Id) is not { } upload)
            {
                await WebGuard.Problem(context, 409, "Attachment gone", $"The attachment {Shorten(reference.Name)} is no longer held; add it again.");
                return null;
            }

            attachments.Add(new MimePart(ContentType.TryParse(upload.ContentType, out var type) ? type : new ContentType("application", "octet-stream"))
            {
                Content = new MimeContent(new MemoryStream(upload.Content, writable: false)),
                ContentDisposition = new ContentDisposition(ContentDisposition.Attachment),
                ContentTransferEncoding = ContentEncoding.Base64,
                FileName = upload.FileName,
            });
        }

        if (attachments.Count == 0)
        {
            message.Body = text;
        }
        else
        {
            var mixed = new Multipart("mixed") { text };
            foreach (var attachment in attachments)
            {
                mixed.Add(attachment);
            }

            message.Body = mixed;
        }

        using var buffer = new MemoryStream();
        await message.WriteToAsync(new FormatOptions { NewLineFormat = NewLineFormat.Dos }, buffer, context.RequestAborted);
        if (buffer.Length > web.Store.Options.MaxMessageBytes)
        {
            await WebGuard.Problem(context, 413, "Message too large", $"A message may be at most {web.Store.Options.MaxMessageBytes} bytes (MaxMessageBytes).");
            return null;
        }

        if (!forDraft)
        {
            return buffer.ToArray(); // sending strips indicator fields from the Sent copy and writes the true ones
        }

        try
        {
            // A draft is stored as built: an attached message (an uploaded .eml) must not carry fields that pass for
            // the bridge's indicators into Drafts.
            return SecurityHeaders.WithoutIndicators(buffer.GetBuffer().AsMemory(0, (int)buffer.Length)).ToArray();
        }
        catch (MimeLimitExceededException e)
        {
            await WebGuard.Problem(context, 413, "Message too complex", $"Not saved: {e.Violation.Description} (limit MimeLimits.{e.Violation.Limit}).");
            return null;
        }
    }

    /// <summary>The normalized address of a recipient as typed: <c>bob@beta.test</c> or <c>Bob &lt;bob@beta.test&gt;</c>; null when it is neither.</summary>
    internal static string? Address(string? typed) =>
        typed is { Length: > 0 and <= 998 } && MailboxAddress.TryParse(typed, out var mailbox) ? MailAddress.TryNormalize(mailbox.Address) : null;

    private static List<string> List(InternetAddressList list) => list.Mailboxes.Select(m => m.Name is { Length: > 0 } ? $"{m.Name} <{m.Address}>" : m.Address).ToList();

    private static List<string> Distinct(IEnumerable<string> addresses) => addresses.Distinct(StringComparer.OrdinalIgnoreCase).ToList();

    private static string Prefixed(string prefix, string subject) =>
        subject.StartsWith(prefix.Trim(), StringComparison.OrdinalIgnoreCase) ? subject : prefix + subject;

    private static string Shorten(string text) => text.Length > 80 ? text[..80] + "..." : text;
}
