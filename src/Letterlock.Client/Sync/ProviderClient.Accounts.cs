using System.Net.Http.Json;
using Letterlock.Api;

namespace Letterlock.Client.Sync;

/// <summary>The account-access calls (docs/API.md, "Accounts that outlive a device").</summary>
public sealed partial class ProviderClient
{
    /// <summary><c>PUT /v1/account/recovery</c>: store the recovery slot.</summary>
    public async Task SetRecoveryAsync(SetRecoveryRequest request, CancellationToken ct = default)
    {
        using var response = await SendAsync(() => new HttpRequestMessage(HttpMethod.Put, Url("v1/account/recovery"))
        {
            Content = JsonContent.Create(request, AccountsJsonContext.Default.SetRecoveryRequest),
        }, true, ct).ConfigureAwait(false);
        await EnsureSuccessAsync(response, ct).ConfigureAwait(false);
    }

    /// <summary><c>GET /v1/account/devices</c>.</summary>
    public Task<DeviceListResponse> ListDevicesAsync(CancellationToken ct = default) =>
        SendJsonAsync(() => new HttpRequestMessage(HttpMethod.Get, Url("v1/account/devices")), AccountsJsonContext.Default.DeviceListResponse, true, ct);

    /// <summary><c>DELETE /v1/devices/{id}</c>: revoke a device of the account.</summary>
    public async Task RevokeDeviceAsync(Guid deviceId, CancellationToken ct = default)
    {
        using var response = await SendAsync(() => new HttpRequestMessage(HttpMethod.Delete, Url("v1/devices/" + deviceId.ToString("D"))), true, ct).ConfigureAwait(false);
        await EnsureSuccessAsync(response, ct).ConfigureAwait(false);
    }

    /// <summary><c>DELETE /v1/account</c>: delete the account at the provider.</summary>
    public async Task DeleteAccountAsync(string confirmAddress, CancellationToken ct = default)
    {
        using var response = await SendAsync(() => new HttpRequestMessage(HttpMethod.Delete, Url("v1/account"))
        {
            Content = JsonContent.Create(new DeleteAccountRequest(confirmAddress), AccountsJsonContext.Default.DeleteAccountRequest),
        }, true, ct).ConfigureAwait(false);
        await EnsureSuccessAsync(response, ct).ConfigureAwait(false);
    }

    /// <summary><c>POST /v1/recovery/start</c> (no device credentials needed).</summary>
    public Task<RecoveryStartResponse> StartRecoveryAsync(string address, CancellationToken ct = default) =>
        SendJsonAsync(() => new HttpRequestMessage(HttpMethod.Post, Url("v1/recovery/start"))
        {
            Content = JsonContent.Create(new RecoveryStartRequest(address), AccountsJsonContext.Default.RecoveryStartRequest),
        }, AccountsJsonContext.Default.RecoveryStartResponse, false, ct);

    /// <summary><c>POST /v1/recovery/finish</c>: 401 for a wrong code (or unknown address), 429 when blocked.</summary>
    public Task<AccountAccessResponse> FinishRecoveryAsync(RecoveryFinishRequest request, CancellationToken ct = default) =>
        SendJsonAsync(() => new HttpRequestMessage(HttpMethod.Post, Url("v1/recovery/finish"))
        {
            Content = JsonContent.Create(request, AccountsJsonContext.Default.RecoveryFinishRequest),
        }, AccountsJsonContext.Default.AccountAccessResponse, false, ct);
}

/// <summary>Password registration and login (OPAQUE).</summary>
public sealed partial class ProviderClient
{
    /// <summary><c>POST /v1/account/password/start</c>.</summary>
    public Task<PasswordStartResponse> StartPasswordAsync(byte[] registrationRequest, CancellationToken ct = default) =>
        SendJsonAsync(() => new HttpRequestMessage(HttpMethod.Post, Url("v1/account/password/start"))
        {
            Content = JsonContent.Create(new PasswordStartRequest(registrationRequest), AccountsJsonContext.Default.PasswordStartRequest),
        }, AccountsJsonContext.Default.PasswordStartResponse, true, ct);

    /// <summary><c>PUT /v1/account/password</c>.</summary>
    public async Task SetPasswordAsync(SetPasswordRequest request, CancellationToken ct = default)
    {
        using var response = await SendAsync(() => new HttpRequestMessage(HttpMethod.Put, Url("v1/account/password"))
        {
            Content = JsonContent.Create(request, AccountsJsonContext.Default.SetPasswordRequest),
        }, true, ct).ConfigureAwait(false);
        await EnsureSuccessAsync(response, ct).ConfigureAwait(false);
    }

    /// <summary><c>POST /v1/login/start</c> (no device credentials needed).</summary>
    public Task<LoginStartResponse> StartLoginAsync(string address, byte[] ke1, CancellationToken ct = default) =>
        SendJsonAsync(() => new HttpRequestMessage(HttpMethod.Post, Url("v1/login/start"))
        {
            Content = JsonContent.Create(new LoginStartRequest(address, ke1), AccountsJsonContext.Default.LoginStartRequest),
        }, AccountsJsonContext.Default.LoginStartResponse, false, ct);

    /// <summary><c>POST /v1/login/finish</c>: 401 for a wrong password (or unknown address).</summary>
    public Task<AccountAccessResponse> FinishLoginAsync(LoginFinishRequest request, CancellationToken ct = default) =>
        SendJsonAsync(() => new HttpRequestMessage(HttpMethod.Post, Url("v1/login/finish"))
        {
            Content = JsonContent.Create(request, AccountsJsonContext.Default.LoginFinishRequest),
        }, AccountsJsonContext.Default.AccountAccessResponse, false, ct);
}
