using Letterlock.Client;
using Letterlock.Client.Validation;
using QRCoder;

namespace Letterlock.Web.Api;

/// <summary>A QR code as rows of modules ('1' dark), drawn by the page itself (no image, nothing inline).</summary>
internal static class Qr
{
    public static QrDto For(string payload)
    {
        using var generator = new QRCodeGenerator();
        using var data = generator.CreateQrCode(payload, QRCodeGenerator.ECCLevel.M);
        var rows = data.ModuleMatrix.Select(row => new string(Enumerable.Range(0, row.Length).Select(i => row[i] ? '1' : '0').ToArray())).ToList();
        return new QrDto(payload, rows);
    }
}

/// <summary>
/// The text of a key's QR code: <c>OPENPGP4FPR:FINGERPRINT#a=ADDRESS</c>, the form OpenPGP apps (OpenKeychain, Delta Chat)
/// scan; the address part is optional.
/// </summary>
internal static class QrPayload
{
    private const string Scheme = "OPENPGP4FPR:";

    public static string For(KeyFingerprint fingerprint, string address) => Scheme + fingerprint.Hex + "#a=" + Uri.EscapeDataString(address);

    public static bool TryParse(string? payload, out KeyFingerprint fingerprint, out string? address)
    {
        fingerprint = default;
        address = null;
        if (payload is null || payload.Length > 1024 || !payload.Trim().StartsWith(Scheme, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        var rest = payload.Trim()[Scheme.Length..];
        int hash = rest.IndexOf('#', StringComparison.Ordinal);
        if (!KeyFingerprint.TryParse(hash < 0 ? rest : rest[..hash], out fingerprint))
        {
            return false;
        }

        if (hash >= 0)
        {
            foreach (var part in rest[(hash + 1)..].Split('&'))
            {
                if (part.StartsWith("a=", StringComparison.Ordinal))
                {
                    address = MailAddress.TryNormalize(Uri.UnescapeDataString(part[2..]));
                    if (address is null)
                    {
                        return false;
                    }
                }
            }
        }

        return true;
    }
}
