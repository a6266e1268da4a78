using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Letterlock.Client;
using Letterlock.Client.Store;
using Letterlock.Web.Security;
using Microsoft.AspNetCore.Http;

namespace Letterlock.Web.Api;

/// <summary>Reading and writing JSON at the edge, with the limits and the problem answers every route shares.</summary>
internal static class HttpJson
{
    /// <summary>
    /// The request body as <typeparamref name="T"/>, or null after answering the problem: not JSON (415, which also means a
    /// cross-origin form can never reach a route), larger than <see cref="WebOptions.MaxJsonBytes"/> (413), malformed (400).
    /// </summary>
    public static async Task<T?> ReadAsync<T>(HttpContext context, JsonTypeInfo<T> type, WebOptions options)
        where T : class
    {
        var request = context.Request;
        if (request.ContentType is not { } contentType || !contentType.StartsWith("application/json", StringComparison.OrdinalIgnoreCase))
        {
            await WebGuard.Problem(context, 415, "JSON expected", "Send application/json.");
            return null;
        }

        if (request.ContentLength > options.MaxJsonBytes)
        {
            await TooLarge(context, options);
            return null;
        }

        using var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        int read;
        while ((read = await request.Body.ReadAsync(chunk, context.RequestAborted)) > 0)
        {
            if (buffer.Length + read > options.MaxJsonBytes)
            {
                await TooLarge(context, options);
                return null;
            }

            await buffer.WriteAsync(chunk.AsMemory(0, read), context.RequestAborted);
        }

        try
        {
            if (JsonSerializer.Deserialize(buffer.GetBuffer().AsSpan(0, (int)buffer.Length), type) is { } value)
            {
                return value;
            }
        }
        catch (JsonException)
        {
        }

        await WebGuard.Problem(context, 400, "Malformed request", "The JSON does not have the expected form.");
        return null;
    }

    private static Task TooLarge(HttpContext context, WebOptions options) =>
        WebGuard.Problem(context, 413, "Request too large", $"A request may carry at most {options.MaxJsonBytes} bytes of JSON (MaxJsonBytes).");

    public static Task WriteAsync<T>(HttpContext context, T value, JsonTypeInfo<T> type, int status = 200)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json; charset=utf-8";
        return JsonSerializer.SerializeAsync(context.Response.Body, value, type, context.RequestAborted);
    }

    public static Task Ok(HttpContext context) => WriteAsync(context, new OkDto(true), WebJson.Default.OkDto);

    /// <summary>A route value that must be a 32-hex-digit id.</summary>
    public static bool TryId(HttpContext context, string name, out Guid id)
    {
        id = default;
        return context.Request.RouteValues[name] is string value && value.Length == 32 && Guid.TryParseExact(value, "N", out id);
    }

    /// <summary>The account a route names, or null after answering 404.</summary>
    public static async Task<AccountRecord?> AccountAsync(HttpContext context, LocalStore store)
    {
        if (TryId(context, "account", out var id) && await store.Accounts.GetAsync(new AccountId(id), context.RequestAborted) is { } account)
        {
            return account;
        }

        await WebGuard.Problem(context, 404, "No such account", "This client holds no such account.");
        return null;
    }

    public static string Id(Guid id) => id.ToString("N");
}
