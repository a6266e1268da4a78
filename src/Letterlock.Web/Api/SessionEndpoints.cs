using Letterlock.Web.Security;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Letterlock.Web.Api;

/// <summary>Signing in with a login link, and out.</summary>
internal sealed class SessionEndpoints(WebContext web)
{
    public void Map(IEndpointRouteBuilder app)
    {
        app.MapGet("/api/ping", context => HttpJson.WriteAsync(context, new PingDto("letterlock-web"), WebJson.Default.PingDto));
        app.MapPost("/api/session", SignInAsync);
        app.MapGet("/api/session", context => HttpJson.Ok(context));
        app.MapDelete("/api/session", SignOutAsync);
    }

    /// <summary>Exchanges the login link's one-time token for the session cookie (HttpOnly, SameSite=Strict) and the CSRF token.</summary>
    private async Task SignInAsync(HttpContext context)
    {
        var request = await HttpJson.ReadAsync(context, WebJson.Default.SessionRequest, web.Options);
        if (request is null)
        {
            return;
        }

        if (await web.Sessions.RedeemAsync(request.Token, context.RequestAborted) is not { } signedIn)
        {
            await WebGuard.Problem(context, 401, "Login link not valid", "The link was used already, has expired, or was never issued: run `letterlock web` for a new one.");
            return;
        }

        context.Response.Headers.Append("Set-Cookie", $"{web.Guard.CookieName}={signedIn.Cookie}; Path=/; HttpOnly; SameSite=Strict");
        await HttpJson.WriteAsync(context, new SessionDto(signedIn.Session.Csrf), WebJson.Default.SessionDto);
    }

    private Task SignOutAsync(HttpContext context)
    {
        web.Sessions.End(WebContext.Session(context));
        context.Response.Headers.Append("Set-Cookie", $"{web.Guard.CookieName}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
        return HttpJson.Ok(context);
    }
}
