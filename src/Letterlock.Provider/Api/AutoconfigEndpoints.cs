using System.Xml;
using Letterlock.Provider.Configuration;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Letterlock.Provider.Api;

/// <summary>
/// Mail autoconfiguration in Mozilla's format (the "clientConfig" v1.1 that Thunderbird, K-9/Thunderbird for Android
/// and Evolution read): <c>/.well-known/autoconfig/mail/config-v1.1.xml</c> on the domain, and
/// <c>/mail/config-v1.1.xml</c> for the <c>autoconfig.DOMAIN</c> host form. A Letterlock account is read through the
/// local bridge on the person's own device, so the servers are 127.0.0.1 on the bridge's default ports with STARTTLS
/// and the address as user name: the wizard needs only the address and the bridge password.
/// </summary>
internal static class AutoconfigEndpoints
{
    /// <summary>The bridge's default IMAP port (Letterlock.Bridge's <c>BridgePorts.DefaultImap</c>).</summary>
    public const int BridgeImapPort = 1143;

    /// <summary>The bridge's default SMTP submission port (Letterlock.Bridge's <c>BridgePorts.DefaultSmtp</c>).</summary>
    public const int BridgeSmtpPort = 1025;

    public static void Map(IEndpointRouteBuilder app, ProviderSettings settings)
    {
        var body = Document(settings.Domain);
        RequestDelegate serve = async context =>
        {
            context.Response.StatusCode = 200;
            context.Response.ContentType = "application/xml; charset=utf-8";
            context.Response.Headers.CacheControl = "public, max-age=3600";
            await context.Response.Body.WriteAsync(body, context.RequestAborted);
        };
        app.MapGet("/.well-known/autoconfig/mail/config-v1.1.xml", serve);
        app.MapGet("/mail/config-v1.1.xml", serve);
    }

    /// <summary>The document for <paramref name="domain"/> (UTF-8). The address in the query is not needed and never read.</summary>
    public static byte[] Document(string domain)
    {
        using var buffer = new MemoryStream();
        using (var xml = XmlWriter.Create(buffer, new XmlWriterSettings { Indent = true, Encoding = new System.Text.UTF8Encoding(false), Async = false }))
        {
            xml.WriteStartDocument();
            xml.WriteStartElement("clientConfig");
            xml.WriteAttributeString("version", "1.1");
            xml.WriteStartElement("emailProvider");
            xml.WriteAttributeString("id", domain);
            xml.WriteElementString("domain", domain);
            xml.WriteElementString("displayName", $"Letterlock ({domain}) through the bridge on this computer");
            xml.WriteElementString("displayShortName", "Letterlock");
            Server(xml, "incomingServer", "imap", BridgeImapPort);
            Server(xml, "outgoingServer", "smtp", BridgeSmtpPort);
            xml.WriteStartElement("documentation");
            xml.WriteAttributeString("url", $"https://{domain}/");
            xml.WriteStartElement("descr");
            xml.WriteAttributeString("lang", "en");
            xml.WriteString("Run `letterlock bridge` on this computer; the password is the bridge password it prints (letterlock bridge settings).");
            xml.WriteEndElement();
            xml.WriteEndElement();
            xml.WriteEndElement();
            xml.WriteEndElement();
        }

        return buffer.ToArray();
    }

    private static void Server(XmlWriter xml, string element, string type, int port)
    {
        xml.WriteStartElement(element);
        xml.WriteAttributeString("type", type);
        xml.WriteElementString("hostname", "127.0.0.1");
        xml.WriteElementString("port", port.ToString(System.Globalization.CultureInfo.InvariantCulture));
        xml.WriteElementString("socketType", "STARTTLS");
        xml.WriteElementString("authentication", "password-cleartext");
        xml.WriteElementString("username", "%EMAILADDRESS%");
        xml.WriteEndElement();
    }
}
