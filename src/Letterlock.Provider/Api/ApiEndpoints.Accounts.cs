using System.Globalization;
using Letterlock.Api;
using Letterlock.Provider.Accounts;
using Letterlock.Provider.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Letterlock.Provider.Api;

/// <summary>Account access beyond one device (docs/API.md, "Accounts that outlive a device").</summary>
internal sealed partial class ApiEndpoints
{
    private void MapAccountAccess(IEndpointRouteBuilder app)
    {
        app.MapPut("/v1/account/recovery", Authenticated(SetRecovery));
        app.MapGet("/v1/account/devices", Authenticated(ListDevices));
        app.MapDelete("/v1/account", Authenticated(DeleteAccount));
        app.MapPost("/v1/recovery/start", StartRecovery);
        app.MapPost("/v1/recovery/finish", FinishRecovery);
        app.MapPost("/v1/account/password/start", Authenticated(StartPassword));
        app.MapPut("/v1/account/password", Authenticated(SetPassword));
        app.MapDelete("/v1/account/password", Authenticated(RemovePassword));
        app.MapPost("/v1/login/start", StartLogin);
        app.MapPost("/v1/login/finish", FinishLogin);
    }

    private async Task StartPassword(HttpContext context, Principal who)
    {
        var request = await ReadJson(context, AccountsJsonContext.Default.PasswordStartRequest);
        if (request is null)
        {
            return;
        }

        var (error, response) = accounts.StartPassword(who.Account, request);
        if (error != AccountError.None)
        {
            await WriteProblem(context, 400, ProblemTypes.InvalidRequest, "Invalid request", "registrationRequest must be an OPAQUE RegistrationRequest (ristretto255-SHA512).");
            return;
        }

        await WriteJson(context, 200, response!, AccountsJsonContext.Default.PasswordStartResponse);
    }

    private async Task SetPassword(HttpContext context, Principal who)
    {
        var request = await ReadJson(context, AccountsJsonContext.Default.SetPasswordRequest);
        if (request is null)
        {
            return;
        }

        if (await accounts.SetPasswordAsync(who.Account, request, context.RequestAborted) != AccountError.None)
        {
            await WriteProblem(context, 400, ProblemTypes.InvalidRequest, "Invalid request",
                "record must be an OPAQUE RegistrationRecord, ksfParameters Argon2id parameters within the accepted limits, wrappedAmk 1.." + AccountService.MaxWrappedAmkLength + " bytes.");
            return;
        }

        context.Response.StatusCode = 204;
    }

    private async Task RemovePassword(HttpContext context, Principal who)
    {
        await accounts.RemovePasswordAsync(who.Account.Id, context.RequestAborted);
        context.Response.StatusCode = 204;
    }

    private async Task StartLogin(HttpContext context)
    {
        if (!await WithinLimitAsync(context, ClientRateLimits.Kind.Challenge, "login attempts"))
        {
            return;
        }

        var request = await ReadJson(context, AccountsJsonContext.Default.LoginStartRequest);
        if (request is null)
        {
            return;
        }

        var (outcome, start, retryAfter) = await accounts.StartLoginAsync(request, context.RequestAborted);
        switch (outcome)
        {
            case AccessOutcome.Blocked:
                await WriteBlocked(context, retryAfter);
                return;
            case AccessOutcome.Joined:
                await WriteJson(context, 200, start!, AccountsJsonContext.Default.LoginStartResponse);
                return;
            default:
                await WriteProblem(context, 400, ProblemTypes.InvalidRequest, "Invalid request", "The address must be of this provider and ke1 an OPAQUE KE1 (ristretto255-SHA512).");
                return;
        }
    }

    private async Task FinishLogin(HttpContext context)
    {
        var request = await ReadJson(context, AccountsJsonContext.Default.LoginFinishRequest);
        if (request is null)
        {
            return;
        }

        await WriteAccess(context, await accounts.FinishLoginAsync(request, context.RequestAborted));
    }

    private async Task SetRecovery(HttpContext context, Principal who)
    {
        var request = await ReadJson(context, AccountsJsonContext.Default.SetRecoveryRequest);
        if (request is null)
        {
            return;
        }

        var error = await accounts.SetRecoveryAsync(who.Account.Id, request, context.RequestAborted);
        if (error != AccountError.None)
        {
            await WriteProblem(context, 400, ProblemTypes.InvalidRequest, "Invalid request",
                $"The verifier is a raw 32-byte Ed25519 public key; the wrapped key is 1..{AccountService.MaxWrappedAmkLength} bytes.");
            return;
        }

        context.Response.StatusCode = 204;
    }

    private async Task ListDevices(HttpContext context, Principal who)
    {
        var devices = await store.ListDevicesAsync(who.Account.Id, context.RequestAborted);
        bool recovery = await store.GetSlotAsync(who.Account.Id, SlotKinds.Recovery, context.RequestAborted) is not null;
        var list = devices.OrderBy(d => d.Revoked).ThenBy(d => d.CreatedAt)
            .Select(d => new DeviceStatus(d.Id, d.Name, d.PublicKey, d.CreatedAt, d.LastSeenAt, d.Revoked ? d.RevokedAt ?? d.CreatedAt : null))
            .ToList();
        await WriteJson(context, 200, new DeviceListResponse(list, who.Account.OpaqueRegistration is not null, recovery), AccountsJsonContext.Default.DeviceListResponse);
    }

    private async Task DeleteAccount(HttpContext context, Principal who)
    {
        var request = await ReadJson(context, AccountsJsonContext.Default.DeleteAccountRequest);
        if (request is null)
        {
            return;
        }

        string address = $"{who.Account.LocalPart}@{settings.Domain}";
        if (!string.Equals(request.ConfirmAddress?.Trim(), address, StringComparison.OrdinalIgnoreCase))
        {
            await WriteProblem(context, 400, ProblemTypes.InvalidRequest, "Confirmation required", "confirmAddress must be the account's address.");
            return;
        }

        if (!await accounts.DeleteAccountAsync(who.Account.Id, context.RequestAborted))
        {
            await WriteProblem(context, 404, ProblemTypes.NotFound, "No such account", null);
            return;
        }

        context.Response.StatusCode = 204;
    }

    private async Task StartRecovery(HttpContext context)
    {
        if (!await WithinLimitAsync(context, ClientRateLimits.Kind.Challenge, "login attempts"))
        {
            return;
        }

        var request = await ReadJson(context, AccountsJsonContext.Default.RecoveryStartRequest);
        if (request is null)
        {
            return;
        }

        var (outcome, start, retryAfter) = await accounts.StartRecoveryAsync(request, context.RequestAborted);
        switch (outcome)
        {
            case AccessOutcome.Blocked:
                await WriteBlocked(context, retryAfter);
                return;
            case AccessOutcome.Failed:
                await WriteProblem(context, 400, ProblemTypes.InvalidRequest, "Invalid address", "The address is malformed or not of this provider.");
                return;
            default:
                await WriteJson(context, 200, start!, AccountsJsonContext.Default.RecoveryStartResponse);
                return;
        }
    }

    private async Task FinishRecovery(HttpContext context)
    {
        var request = await ReadJson(context, AccountsJsonContext.Default.RecoveryFinishRequest);
        if (request is null)
        {
            return;
        }

        await WriteAccess(context, await accounts.FinishRecoveryAsync(request, context.RequestAborted));
    }

    private async Task WriteAccess(HttpContext context, AccessResult result)
    {
        switch (result.Outcome)
        {
            case AccessOutcome.Joined:
                await WriteJson(context, 201, result.Access!, AccountsJsonContext.Default.AccountAccessResponse);
                return;
            case AccessOutcome.Blocked:
                await WriteBlocked(context, result.RetryAfter);
                return;
            case AccessOutcome.InvalidDevice:
                await WriteProblem(context, 400, ProblemTypes.InvalidRequest, "Invalid device", "The device key must be a raw 32-byte Ed25519 key and the name 1-100 printable characters.");
                return;
            default:
                // One answer for a wrong secret, an unknown address and an unknown or expired login.
                await WriteProblem(context, 401, ProblemTypes.Unauthorized, "Login failed", "The address, the secret or the login is not valid; start again.");
                return;
        }
    }

    private static async Task WriteBlocked(HttpContext context, TimeSpan retryAfter)
    {
        int seconds = Math.Max(1, (int)Math.Ceiling(retryAfter.TotalSeconds));
        context.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
        await WriteProblem(context, 429, ProblemTypes.RateLimited, "Too many failed logins", $"Too many failed logins for this address; try again in {seconds} s.");
    }
}
