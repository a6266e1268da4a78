using Letterlock.Client.Store;
using Letterlock.Web.Security;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Letterlock.Web.Api;

/// <summary>The account: its address, key and QR code, its encryption policy, and what a mail app needs to use the bridge.</summary>
internal sealed class AccountEndpoints(WebContext web)
{
    public void Map(IEndpointRouteBuilder app)
    {
        app.MapGet("/api/accounts/{account}/info", InfoAsync);
        app.MapPost("/api/accounts/{account}/policy", PolicyAsync);
        app.MapPost("/api/accounts/{account}/bridge-password", BridgePasswordAsync);
    }

    private async Task InfoAsync(HttpContext context)
    {
        if (await HttpJson.AccountAsync(context, web.Store) is not { } account)
        {
            return;
        }

        var fingerprint = await web.Views.OwnFingerprintAsync(account.Id, context.RequestAborted);
        var bridge = (await web.Bridge.GetSettingsAsync(context.RequestAborted)).First(s => s.Address == account.Address);
        await HttpJson.WriteAsync(context, new AccountInfoDto(HttpJson.Id(account.Id.Value), account.Address, account.DisplayName, account.Policy.ToString(),
            account.CreatedAt, account.ProviderUrl?.ToString(), account.DeviceId?.ToString("N"), fingerprint.ToDisplayString(),
            Qr.For(QrPayload.For(fingerprint, account.Address)),
            new BridgeSettingsDto(bridge.ImapHost, bridge.ImapPort, bridge.SmtpHost, bridge.SmtpPort, bridge.ImapSecurity, bridge.UserName, bridge.CertificateSha256),
            []), WebJson.Default.AccountInfoDto);
    }

    private async Task PolicyAsync(HttpContext context)
    {
        if (await HttpJson.AccountAsync(context, web.Store) is not { } account
            || await HttpJson.ReadAsync(context, WebJson.Default.PolicyRequest, web.Options) is not { } request)
        {
            return;
        }

        if (!Enum.TryParse<EncryptionPolicy>(request.Policy, ignoreCase: false, out var policy) || !Enum.IsDefined(policy))
        {
            await WebGuard.Problem(context, 400, "Unknown policy", "The policy is Opportunistic or EncryptedOnly.");
            return;
        }

        await web.Store.Accounts.UpdateAsync(account with { Policy = policy }, context.RequestAborted);
        await HttpJson.Ok(context);
    }

    /// <summary>The generated password a mail app signs in to the bridge with; asked for by a click, never part of another answer.</summary>
    private async Task BridgePasswordAsync(HttpContext context)
    {
        if (await HttpJson.AccountAsync(context, web.Store) is not { } account)
        {
            return;
        }

        var bridge = (await web.Bridge.GetSettingsAsync(context.RequestAborted)).First(s => s.Address == account.Address);
        await HttpJson.WriteAsync(context, new BridgePasswordDto(bridge.Password), WebJson.Default.BridgePasswordDto);
    }
}
