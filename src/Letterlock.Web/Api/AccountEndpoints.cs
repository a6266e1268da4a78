using Letterlock.Api;
using Letterlock.Client.Accounts;
using Letterlock.Client.Store;
using Letterlock.Client.Sync;
using Letterlock.Web.Security;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Letterlock.Web.Api;

/// <summary>
/// The account: its address, key and QR code, its encryption policy, what a mail app needs to use the bridge, and the
/// account's access at its provider (devices with revoke, the password, the recovery kit) through the client library.
/// </summary>
internal sealed class AccountEndpoints(WebContext web)
{
    public void Map(IEndpointRouteBuilder app)
    {
        app.MapGet("/api/accounts/{account}/info", InfoAsync);
        app.MapPost("/api/accounts/{account}/policy", PolicyAsync);
        app.MapPost("/api/accounts/{account}/bridge-password", BridgePasswordAsync);
        app.MapGet("/api/accounts/{account}/devices", DevicesAsync);
        app.MapPost("/api/accounts/{account}/devices/{device}/revoke", RevokeAsync);
        app.MapPost("/api/accounts/{account}/devices/approve", ApproveAsync);
        app.MapPost("/api/accounts/{account}/devices/approve/{approval}", AnswerAsync);
        app.MapPost("/api/accounts/{account}/password", PasswordAsync);
        app.MapPost("/api/accounts/{account}/recovery-kit", RecoveryKitAsync);
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

    private async Task DevicesAsync(HttpContext context)
    {
        if (await HttpJson.AccountAsync(context, web.Store) is not { } account || !await RegisteredAsync(context, account))
        {
            return;
        }

        await AtProviderAsync(context, account, async provider =>
        {
            var list = await provider.ListDevicesAsync(context.RequestAborted);
            var devices = list.Devices.OrderBy(d => d.RevokedAt is not null).ThenBy(d => d.CreatedAt)
                .Select(d => new DeviceDto(HttpJson.Id(d.DeviceId), d.Name, d.CreatedAt, d.LastSeenAt, d.RevokedAt, d.DeviceId == account.DeviceId)).ToList();
            await HttpJson.WriteAsync(context, new DevicesDto(devices, list.HasPassword, list.HasRecovery), WebJson.Default.DevicesDto);
        });
    }

    /// <summary>Revokes another device of the account; the client then rotates the keys later mail is sealed to.</summary>
    private async Task RevokeAsync(HttpContext context)
    {
        if (await HttpJson.AccountAsync(context, web.Store) is not { } account)
        {
            return;
        }

        if (!HttpJson.TryId(context, "device", out var device))
        {
            await WebGuard.Problem(context, 404, "No such device", "A device is named by its 32-hex-digit id.");
            return;
        }

        if (device == account.DeviceId)
        {
            await WebGuard.Problem(context, 409, "This device", "A device cannot revoke itself: revoke it from another device of the account.");
            return;
        }

        if (!await RegisteredAsync(context, account))
        {
            return;
        }

        await AtProviderAsync(context, account, async provider =>
        {
            ulong version = await DeviceRevocation.RevokeAsync(web.Store, account, provider, device, web.Time, context.RequestAborted);
            web.Log?.Invoke($"web: revoked a device of {account.Address}");
            await HttpJson.WriteAsync(context, new RevokedDto(version), WebJson.Default.RevokedDto);
        });
    }

    /// <summary>
    /// Starts approving a new device by the code it shows (<c>letterlock devices link</c>; the text of its QR code is
    /// taken too): runs CPace with it through the provider and answers the six digits to compare, with a handle for
    /// the answer. Nothing is sent to the new device before the person answers that both screens show the same.
    /// </summary>
    private async Task ApproveAsync(HttpContext context)
    {
        if (await HttpJson.AccountAsync(context, web.Store) is not { } account
            || await HttpJson.ReadAsync(context, WebJson.Default.ApproveRequest, web.Options) is not { } request)
        {
            return;
        }

        string code = LinkCode(request.Code);
        if (!DeviceLink.TryParseCode(code, out _, out _))
        {
            await WebGuard.Problem(context, 400, "Not a link code",
                $"A link code has {DeviceLink.SlotLength + DeviceLink.SecretLength} letters and digits, like 7KQ2M-X4D9TP: the new device shows it after 'letterlock devices link'.");
            return;
        }

        if (!await RegisteredAsync(context, account))
        {
            return;
        }

        await AtProviderAsync(context, account, async provider =>
        {
            var pending = web.Approvals.Start(account.Id, (confirm, ct) => DeviceLink.ApproveAsync(web.Store, account, provider, code, confirm, ct));
            if (pending is null)
            {
                await WebGuard.Problem(context, 409, "Approval in progress", "Another new device is being approved for this account: answer or wait for that one first.");
                return;
            }

            // The digits come once CPace has run; a wrong code, an expired link or an unreachable provider ends the run instead.
            await Task.WhenAny(pending.Sas.Task, pending.Run).WaitAsync(context.RequestAborted);
            if (pending.Sas.Task.IsCompletedSuccessfully)
            {
                await HttpJson.WriteAsync(context, new ApprovalDto(pending.Id, await pending.Sas.Task), WebJson.Default.ApprovalDto);
                return;
            }

            await EndedAsync(context, pending.Run);
        });
    }

    /// <summary>The person's answer on the six digits: same, and the new device is registered and receives the account's keys; not the same, and the link ends with nothing sent.</summary>
    private async Task AnswerAsync(HttpContext context)
    {
        if (await HttpJson.AccountAsync(context, web.Store) is not { } account
            || await HttpJson.ReadAsync(context, WebJson.Default.ApprovalAnswerRequest, web.Options) is not { } request)
        {
            return;
        }

        if (web.Approvals.Find(account.Id, (string)context.Request.RouteValues["approval"]!) is not { } pending)
        {
            await WebGuard.Problem(context, 404, "No such approval", "No approval of a new device is in progress here: it was answered, ended or timed out.");
            return;
        }

        pending.Answer.TrySetResult(request.Same);
        await AtProviderAsync(context, account, async _ =>
        {
            await pending.Run.ContinueWith(static _ => { }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default)
                .WaitAsync(context.RequestAborted);
            if (pending.Run.IsCompletedSuccessfully)
            {
                var device = await pending.Run;
                web.Log?.Invoke($"web: approved a new device of {account.Address}");
                await HttpJson.WriteAsync(context, new ApprovedDto(HttpJson.Id(device.DeviceId), device.Name), WebJson.Default.ApprovedDto);
                return;
            }

            await EndedAsync(context, pending.Run);
        });
    }

    /// <summary>An approval that ended without a new device: the reason as a problem (provider failures are rethrown for <see cref="AtProviderAsync"/>).</summary>
    private static async Task EndedAsync(HttpContext context, Task<DeviceInfo> run)
    {
        try
        {
            await run;
        }
        catch (LinkFailedException e)
        {
            await WebGuard.Problem(context, 409, "Not approved", char.ToUpperInvariant(e.Message[0]) + e.Message[1..] + ".");
        }
        catch (OperationCanceledException)
        {
            await WebGuard.Problem(context, 408, "Not approved", "The approval was not answered in time (or the web app stopped): nothing was sent to the new device.");
        }
    }

    /// <summary>The code as typed, or taken from the text of the new device's QR code (<see cref="DeviceLink.QrText"/>).</summary>
    private static string LinkCode(string? text)
    {
        text = text?.Trim() ?? "";
        const string marker = "code=";
        return text.StartsWith("letterlock:link?", StringComparison.Ordinal) && text.LastIndexOf(marker, StringComparison.Ordinal) is int at and >= 0
            ? text[(at + marker.Length)..]
            : text;
    }

    /// <summary>Sets or changes the account password (OPAQUE: the password never leaves this device).</summary>
    private async Task PasswordAsync(HttpContext context)
    {
        if (await HttpJson.AccountAsync(context, web.Store) is not { } account
            || await HttpJson.ReadAsync(context, WebJson.Default.PasswordRequest, web.Options) is not { } request)
        {
            return;
        }

        int bytes = request.Password is null ? 0 : System.Text.Encoding.UTF8.GetByteCount(request.Password.Normalize(System.Text.NormalizationForm.FormC));
        if (bytes is 0 or > AccountPassword.MaxPasswordBytes)
        {
            await WebGuard.Problem(context, 400, "Password length", $"A password is 1 to {AccountPassword.MaxPasswordBytes} bytes (UTF-8).");
            return;
        }

        if (!await RegisteredAsync(context, account))
        {
            return;
        }

        await AtProviderAsync(context, account, async provider =>
        {
            await AccountPassword.SetAsync(web.Store, account, provider, request.Password!, ct: context.RequestAborted);
            await HttpJson.Ok(context);
        });
    }

    /// <summary>Makes a new recovery code (the previous one stops working) and answers it once; it is never stored here.</summary>
    private async Task RecoveryKitAsync(HttpContext context)
    {
        if (await HttpJson.AccountAsync(context, web.Store) is not { } account || !await RegisteredAsync(context, account))
        {
            return;
        }

        await AtProviderAsync(context, account, async provider =>
        {
            var code = await AccountRecovery.CreateCodeAsync(web.Store, account, provider, context.RequestAborted);
            await HttpJson.WriteAsync(context, new RecoveryKitDto(code.ToString()), WebJson.Default.RecoveryKitDto);
        });
    }

    private static async Task<bool> RegisteredAsync(HttpContext context, AccountRecord account)
    {
        if (account.DeviceId is null || account.ProviderUrl is null || account.ProviderDomain is null)
        {
            await WebGuard.Problem(context, 409, "No provider", "This account is not registered with a provider: it has no devices, password or recovery kit.");
            return false;
        }

        return true;
    }

    /// <summary>Runs a call to the account's provider; its refusal or absence is a 502 problem that says which.</summary>
    private async Task AtProviderAsync(HttpContext context, AccountRecord account, Func<ProviderClient, Task> call)
    {
        try
        {
            await call(await web.Bridge.ProviderAsync(account, context.RequestAborted));
        }
        catch (ProviderProblemException e)
        {
            await WebGuard.Problem(context, 502, "The provider refused", $"The provider answered HTTP {e.Status}" + (e.Problem?.Title is { } title ? $": {title}." : "."));
        }
        catch (HttpRequestException)
        {
            await WebGuard.Problem(context, 502, "The provider is unreachable", "The provider could not be reached; nothing was changed.");
        }
    }
}
