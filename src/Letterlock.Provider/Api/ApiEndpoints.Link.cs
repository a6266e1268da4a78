using System.Globalization;
using Letterlock.Api;
using Letterlock.Provider.Link;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Letterlock.Provider.Api;

/// <summary>The device-link relay (docs/API.md, "Linking a device"): no account needed, opaque messages only.</summary>
internal sealed partial class ApiEndpoints
{
    private LinkRelay? _links;

    private LinkRelay Links
    {
        get
        {
            if (_links is null)
            {
                Interlocked.CompareExchange(ref _links, new LinkRelay(settings.Link, time), null);
            }

            return _links;
        }
    }

    private void MapLink(IEndpointRouteBuilder app)
    {
        app.MapPost("/v1/link", StartLink);
        app.MapGet("/v1/link/{slot}", FindLink);
        app.MapDelete("/v1/link/{slot}", EndLink);
        app.MapPut("/v1/link/{slot}/{party}/{index}", WriteLinkMessage);
        app.MapGet("/v1/link/{slot}/{party}/{index}", ReadLinkMessage);
    }

    private async Task StartLink(HttpContext context)
    {
        if (!await WithinLimitAsync(context, ClientRateLimits.Kind.Link, "device links"))
        {
            return;
        }

        if (Links.Start() is not { } link)
        {
            await WriteProblem(context, 503, ProblemTypes.ServerError, "Too many open links", $"The relay holds link.maxOpenLinks ({settings.Link.MaxOpenLinks}) open links; try again later.");
            return;
        }

        await WriteJson(context, 201, new LinkSession(link.Slot, link.SessionId, link.ExpiresAt), AccountsJsonContext.Default.LinkSession);
    }

    private async Task FindLink(HttpContext context)
    {
        // Looking up a code counts like starting a link, so slots cannot be swept quickly.
        if (!await WithinLimitAsync(context, ClientRateLimits.Kind.Link, "device links"))
        {
            return;
        }

        if (Links.Find(Slot(context)) is not { } link)
        {
            await NoSuchLink(context);
            return;
        }

        await WriteJson(context, 200, new LinkSession(link.Slot, link.SessionId, link.ExpiresAt), AccountsJsonContext.Default.LinkSession);
    }

    private async Task EndLink(HttpContext context)
    {
        if (!Links.End(Slot(context)))
        {
            await NoSuchLink(context);
            return;
        }

        context.Response.StatusCode = 204;
    }

    private async Task WriteLinkMessage(HttpContext context)
    {
        if (!TryLinkPosition(context, out var party, out int index))
        {
            await BadLinkPosition(context);
            return;
        }

        var message = await ReadJson(context, AccountsJsonContext.Default.LinkMessage);
        if (message is null)
        {
            return;
        }

        switch (Links.Write(Slot(context), party, index, message.Data ?? []))
        {
            case LinkWrite.Stored:
                context.Response.StatusCode = 204;
                return;
            case LinkWrite.NotFound:
                await NoSuchLink(context);
                return;
            case LinkWrite.AlreadyWritten:
                await WriteProblem(context, 409, ProblemTypes.InvalidRequest, "Already written", "Each link message is written once.");
                return;
            default:
                await WriteProblem(context, 413, ProblemTypes.TooLarge, "Message too large", $"A link message holds at most link.maxMessageBytes ({settings.Link.MaxMessageBytes}) bytes.");
                return;
        }
    }

    private async Task ReadLinkMessage(HttpContext context)
    {
        if (!TryLinkPosition(context, out var party, out int index))
        {
            await BadLinkPosition(context);
            return;
        }

        int wait = 0;
        if (context.Request.Query.TryGetValue("wait", out var waitText)
            && (!int.TryParse(waitText, NumberStyles.None, CultureInfo.InvariantCulture, out wait) || wait > settings.Api.LongPollMaxSeconds))
        {
            await WriteProblem(context, 400, ProblemTypes.InvalidRequest, "Invalid wait", $"wait is 0..{settings.Api.LongPollMaxSeconds} seconds (api.longPollMaxSeconds).");
            return;
        }

        var (found, data) = await Links.ReadAsync(Slot(context), party, index, TimeSpan.FromSeconds(wait), context.RequestAborted);
        if (!found)
        {
            await NoSuchLink(context);
            return;
        }

        if (data is null)
        {
            context.Response.StatusCode = 204;
            return;
        }

        await WriteJson(context, 200, new LinkMessage(data), AccountsJsonContext.Default.LinkMessage);
    }

    private static string Slot(HttpContext context) => (string?)context.Request.RouteValues["slot"] ?? "";

    private static bool TryLinkPosition(HttpContext context, out LinkParty party, out int index)
    {
        party = LinkParty.NewDevice;
        index = -1;
        switch ((string?)context.Request.RouteValues["party"])
        {
            case "new":
                party = LinkParty.NewDevice;
                break;
            case "approver":
                party = LinkParty.Approver;
                break;
            default:
                return false;
        }

        return int.TryParse((string?)context.Request.RouteValues["index"], NumberStyles.None, CultureInfo.InvariantCulture, out index)
            && index < LinkRelay.MessagesPerParty;
    }

    private static Task BadLinkPosition(HttpContext context) =>
        WriteProblem(context, 400, ProblemTypes.InvalidRequest, "Invalid link message", $"The party is \"new\" or \"approver\" and the index 0..{LinkRelay.MessagesPerParty - 1}.");

    private static Task NoSuchLink(HttpContext context) =>
        WriteProblem(context, 404, ProblemTypes.NotFound, "No such link", "No open link has this code: it was never started, it expired, or it ended.");
}
