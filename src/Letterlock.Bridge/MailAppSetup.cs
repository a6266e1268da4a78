using System.Globalization;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Xml;

namespace Letterlock.Bridge;

/// <summary>
/// One-step mail app setup from the bridge's settings: an Apple configuration profile (Apple Mail on macOS and iOS)
/// that adds every account and trusts the bridge's certificate, and the one command per app that trusts the
/// certificate where an app keeps its own store (Thunderbird's NSS database, the macOS keychain).
/// </summary>
public static class MailAppSetup
{
    /// <summary>
    /// An Apple configuration profile (XML property list, <c>.mobileconfig</c>): one <c>com.apple.mail.managed</c>
    /// payload per account (IMAP and SMTP on 127.0.0.1 with TLS, user name = address) and one
    /// <c>com.apple.security.root</c> payload with the bridge's self-signed certificate (DER), trusted on install. The bridge password is left out unless
    /// <paramref name="includePassword"/>: Mail asks for it once.
    /// </summary>
    public static byte[] AppleProfile(IReadOnlyList<BridgeAccountSettings> accounts, X509Certificate2 certificate, bool includePassword)
    {
        ArgumentNullException.ThrowIfNull(accounts);
        ArgumentNullException.ThrowIfNull(certificate);

        // Stable identifiers: installing a newer profile replaces the older one instead of adding a second copy.
        var profileId = StableUuid("profile:" + string.Join(",", accounts.Select(a => a.Address)));
        using var buffer = new MemoryStream();
        using (var xml = XmlWriter.Create(buffer, new XmlWriterSettings { Indent = true, Encoding = new UTF8Encoding(false) }))
        {
            xml.WriteStartDocument();
            xml.WriteDocType("plist", "-//Apple//DTD PLIST 1.0//EN", "http://www.apple.com/DTDs/PropertyList-1.0.dtd", null);
            xml.WriteStartElement("plist");
            xml.WriteAttributeString("version", "1.0");
            xml.WriteStartElement("dict");
            Key(xml, "PayloadContent");
            xml.WriteStartElement("array");
            var certificateId = StableUuid("certificate:" + certificate.Thumbprint);
            xml.WriteStartElement("dict");
            String(xml, "PayloadType", "com.apple.security.root");
            Integer(xml, "PayloadVersion", 1);
            String(xml, "PayloadIdentifier", "org.letterlock.bridge.certificate." + certificateId);
            String(xml, "PayloadUUID", certificateId);
            String(xml, "PayloadDisplayName", "Letterlock bridge certificate");
            String(xml, "PayloadCertificateFileName", "letterlock-bridge.cer");
            Key(xml, "PayloadContent");
            xml.WriteStartElement("data");
            xml.WriteString(Convert.ToBase64String(certificate.RawData));
            xml.WriteEndElement();
            xml.WriteEndElement();
            foreach (var account in accounts)
            {
                var id = StableUuid("account:" + account.Address);
                xml.WriteStartElement("dict");
                String(xml, "PayloadType", "com.apple.mail.managed");
                Integer(xml, "PayloadVersion", 1);
                String(xml, "PayloadIdentifier", "org.letterlock.bridge.account." + id);
                String(xml, "PayloadUUID", id);
                String(xml, "PayloadDisplayName", account.Address);
                String(xml, "EmailAccountDescription", "Letterlock " + account.Address);
                String(xml, "EmailAccountType", "EmailTypeIMAP");
                String(xml, "EmailAddress", account.Address);
                String(xml, "IncomingMailServerHostName", account.ImapHost);
                Integer(xml, "IncomingMailServerPortNumber", account.ImapPort);
                Boolean(xml, "IncomingMailServerUseSSL", true);
                String(xml, "IncomingMailServerAuthentication", "EmailAuthPassword");
                String(xml, "IncomingMailServerUsername", account.UserName);
                String(xml, "OutgoingMailServerHostName", account.SmtpHost);
                Integer(xml, "OutgoingMailServerPortNumber", account.SmtpPort);
                Boolean(xml, "OutgoingMailServerUseSSL", true);
                String(xml, "OutgoingMailServerAuthentication", "EmailAuthPassword");
                String(xml, "OutgoingMailServerUsername", account.UserName);
                Boolean(xml, "OutgoingPasswordSameAsIncomingPassword", true);
                if (includePassword)
                {
                    String(xml, "IncomingPassword", account.Password);
                    String(xml, "OutgoingPassword", account.Password);
                }

                xml.WriteEndElement();
            }

            xml.WriteEndElement();
            String(xml, "PayloadType", "Configuration");
            Integer(xml, "PayloadVersion", 1);
            String(xml, "PayloadIdentifier", "org.letterlock.bridge." + profileId);
            String(xml, "PayloadUUID", profileId);
            String(xml, "PayloadDisplayName", "Letterlock mail");
            String(xml, "PayloadDescription", "Reads and sends Letterlock mail through the bridge on this computer (127.0.0.1).");
            String(xml, "PayloadOrganization", "Letterlock");
            xml.WriteEndElement();
            xml.WriteEndElement();
        }

        return buffer.ToArray();
    }

    /// <summary>The one command per app that trusts the bridge's certificate saved at <paramref name="certificatePath"/>.</summary>
    public static IReadOnlyList<(string App, string Command)> TrustCommands(string certificatePath) =>
    [
        ("Thunderbird (close it first; PROFILE is its profile folder, see Help > Troubleshooting Information)",
            $"certutil -A -d sql:PROFILE -n \"Letterlock bridge\" -t \"C,,\" -i {Quote(certificatePath)}"),
        ("Apple Mail on macOS", $"security add-trusted-cert -r trustAsRoot -p ssl -k ~/Library/Keychains/login.keychain-db {Quote(certificatePath)}"),
        ("Evolution, GNOME and other NSS apps", $"certutil -A -d sql:$HOME/.pki/nssdb -n \"Letterlock bridge\" -t \"C,,\" -i {Quote(certificatePath)}"),
    ];

    private static string Quote(string path) => path.Contains(' ', StringComparison.Ordinal) || path.Contains('\'', StringComparison.Ordinal)
        ? "'" + path.Replace("'", "'\\''", StringComparison.Ordinal) + "'"
        : path;

    private static string StableUuid(string name)
    {
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes("letterlock-bridge:" + name));
        hash[6] = (byte)((hash[6] & 0x0F) | 0x50);
        hash[8] = (byte)((hash[8] & 0x3F) | 0x80);
        return new Guid(hash.AsSpan(0, 16), bigEndian: true).ToString("D").ToUpperInvariant();
    }

    private static void Key(XmlWriter xml, string key) => xml.WriteElementString("key", key);

    private static void String(XmlWriter xml, string key, string value)
    {
        Key(xml, key);
        xml.WriteElementString("string", value);
    }

    private static void Integer(XmlWriter xml, string key, int value)
    {
        Key(xml, key);
        xml.WriteElementString("integer", value.ToString(CultureInfo.InvariantCulture));
    }

    private static void Boolean(XmlWriter xml, string key, bool value)
    {
        Key(xml, key);
        xml.WriteStartElement(value ? "true" : "false");
        xml.WriteEndElement();
    }
}
