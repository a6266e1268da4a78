using System.Globalization;
using System.Text;
using Letterlock.OpenPgp;
using Letterlock.Provider.Accounts;
using Letterlock.Provider.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Letterlock.Provider.Api;

/// <summary>
/// HKP (draft-gallagher-openpgp-hkp) for this provider's own users, read-only: <c>GET /pks/lookup?op=get|index</c>
/// with the search an address of this domain. The keys served are the account's current certificate and the
/// certificates it revoked (<c>letterlock account revoke-key</c>), so keyservers' clients learn of both.
/// </summary>
internal sealed partial class ApiEndpoints
{
    /// <summary>The document in which an account publishes the OpenPGP certificates it revoked (public data, read by WKD and HKP).</summary>
    public const string RevokedCertificatesDocument = "openpgp-revoked";

    private void MapHkp(IEndpointRouteBuilder app) => app.MapGet("/pks/lookup", HkpLookup);

    private async Task HkpLookup(HttpContext context)
    {
        context.Response.Headers.AccessControlAllowOrigin = "*";
        string op = context.Request.Query["op"].ToString();
        string search = context.Request.Query["search"].ToString().Trim();
        if (op is not ("get" or "index" or "vindex"))
        {
            await HkpText(context, 501, "Only op=get, op=index and op=vindex are served.\n");
            return;
        }

        if (search.StartsWith('<') && search.EndsWith('>'))
        {
            search = search[1..^1];
        }

        if (search.StartsWith("0x", StringComparison.OrdinalIgnoreCase))
        {
            await HkpText(context, 501, "Search by address (user@" + settings.Domain + "); key IDs and fingerprints are not indexed here.\n");
            return;
        }

        if (!AccountService.TryParseAddress(search, out string localPart, out string domain) || !string.Equals(domain, settings.Domain, StringComparison.OrdinalIgnoreCase))
        {
            await HkpText(context, 404, "No keys found.\n");
            return;
        }

        var account = await store.FindAccountAsync(localPart, context.RequestAborted);
        if (account is null || account.Status != AccountStatus.Active)
        {
            await HkpText(context, 404, "No keys found.\n");
            return;
        }

        string address = $"{account.LocalPart}@{settings.Domain}";
        var certificates = new List<Certificate> { Certificate.Parse(account.OpenPgpCertificate) };
        certificates.AddRange(await RevokedCertificatesAsync(account.Id, address, context.RequestAborted));
        if (op == "get")
        {
            context.Response.StatusCode = 200;
            context.Response.ContentType = "application/pgp-keys";
            byte[] binary = [.. certificates.SelectMany(c => c.Export(armored: false))];
            await context.Response.Body.WriteAsync(Armor.Encode(binary), context.RequestAborted);
            return;
        }

        // Machine-readable index (draft section 5.2), whatever "options" asks for.
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"info:1:{certificates.Count}\n");
        var now = time.GetUtcNow();
        foreach (var certificate in certificates)
        {
            string flags = (certificate.IsRevoked ? "r" : "") + (certificate.ExpirationTime <= now ? "e" : "");
            text.Append(CultureInfo.InvariantCulture,
                $"pub:{certificate.Fingerprint.Hex.ToUpperInvariant()}:{certificate.Primary.Algorithm}::{certificate.Primary.CreationTime.ToUnixTimeSeconds()}:{certificate.ExpirationTime?.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture)}:{flags}\n");
            foreach (var userId in certificate.UserIds)
            {
                text.Append(CultureInfo.InvariantCulture, $"uid:{Uri.EscapeDataString(userId)}:::{flags}\n");
            }
        }

        await HkpText(context, 200, text.ToString());
    }

    /// <summary>
    /// The revoked certificates the account published (document <see cref="RevokedCertificatesDocument"/>): each must be
    /// revoked and name the address; anything else in the document is not served.
    /// </summary>
    private async Task<IReadOnlyList<Certificate>> RevokedCertificatesAsync(Guid accountId, string address, CancellationToken ct)
    {
        var document = await store.GetDocumentAsync(accountId, RevokedCertificatesDocument, ct);
        if (document is null || document.Info.Deleted || document.Content is null || document.Info.Size > AccountService.MaxCertificateLength * 16L)
        {
            return [];
        }

        byte[] bytes;
        if (document.Content.Inline is { } inline)
        {
            bytes = inline;
        }
        else
        {
            await using var blob = await blobs.OpenReadAsync(document.Content.BlobHash!, ct);
            using var copy = new MemoryStream();
            await blob.CopyToAsync(copy, ct);
            bytes = copy.ToArray();
        }

        try
        {
            return [.. Certificate.ParseAll(bytes).Where(c => c.IsRevoked && c.HasAddress(address))];
        }
        catch (OpenPgpException)
        {
            return [];
        }
    }

    private static async Task HkpText(HttpContext context, int status, string text)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "text/plain; charset=utf-8";
        await context.Response.WriteAsync(text, context.RequestAborted);
    }
}
