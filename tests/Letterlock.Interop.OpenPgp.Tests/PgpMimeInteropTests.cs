using System.Text;
using Letterlock.OpenPgp;
using Letterlock.OpenPgp.Mime;
using MimeKit;

namespace Letterlock.Interop.OpenPgp.Tests;

/// <summary>PGP/MIME built by Letterlock and read by gpg from the raw message, and the reverse.</summary>
[Trait(TestCategory.Name, TestCategory.Peer)]
public sealed class PgpMimeInteropTests(InteropFixture f) : IClassFixture<InteropFixture>
{
    private UnlockedKey Ours => SecretKey.Parse(File.ReadAllBytes(f.OurKey)).Unlock();
    private Certificate GpgCert => Certificate.Parse(File.ReadAllBytes(f.GpgCert));

    private MimeMessage Draft(string from, string to)
    {
        var message = new MimeMessage();
        message.From.Add(MailboxAddress.Parse(from));
        message.To.Add(MailboxAddress.Parse(to));
        message.Subject = "Interop subject";
        message.Body = new Multipart("mixed")
        {
            new TextPart("plain") { Text = "Body text for gpg.\n" },
            new MimePart("application", "octet-stream") { Content = new MimeContent(new MemoryStream(InteropFixture.Payload(4096))), FileName = "blob.bin" },
        };
        return message;
    }

    private static byte[] Raw(MimeMessage message)
    {
        var output = new MemoryStream();
        message.WriteTo(output);
        return output.ToArray();
    }

    [Fact]
    public void Gpg_decrypts_and_verifies_letterlock_pgp_mime_from_the_raw_message()
    {
        var certs = new Dictionary<string, Certificate> { ["gpg@example.com"] = GpgCert };
        var outgoing = new PgpMimeComposer().Encrypt(Draft("ll@example.org", "gpg@example.com"), Ours, certs).Single();
        var raw = Raw(outgoing.Message);
        Assert.DoesNotContain("Interop subject", Encoding.UTF8.GetString(raw), StringComparison.Ordinal);

        var file = f.Save(Guid.NewGuid().ToString("N") + ".eml", raw);
        var result = f.Gpg.Run(null, "--status-fd", "2", "--decrypt", file);
        Assert.True(result.ExitCode == 0, result.Stderr);
        Assert.Contains($"VALIDSIG {f.OurFingerprint}", result.Stderr, StringComparison.Ordinal);
        Assert.Contains("DECRYPTION_OKAY", result.Stderr, StringComparison.Ordinal);
        var inner = Encoding.UTF8.GetString(result.Stdout);
        Assert.Contains("Subject: Interop subject", inner, StringComparison.Ordinal);
        Assert.Contains("hp=cipher", inner.Replace("\"", "", StringComparison.Ordinal), StringComparison.Ordinal);
        Assert.Contains("Body text for gpg.", inner, StringComparison.Ordinal);
    }

    [Fact]
    public void Gpg_verifies_letterlock_multipart_signed()
    {
        var signed = new PgpMimeComposer().Sign(Draft("ll@example.org", "gpg@example.com"), Ours);
        var raw = Encoding.ASCII.GetString(Raw(signed)).Replace("\r\n", "\n", StringComparison.Ordinal);
        var boundary = signed.Body!.ContentType.Boundary!;
        var first = raw.IndexOf("--" + boundary + "\n", StringComparison.Ordinal) + boundary.Length + 3;
        var second = raw.IndexOf("\n--" + boundary + "\n", first, StringComparison.Ordinal);
        var signedPart = raw[first..second].Replace("\n", "\r\n", StringComparison.Ordinal);
        var sigStart = raw.IndexOf("-----BEGIN PGP SIGNATURE-----", StringComparison.Ordinal);
        var sigEnd = raw.IndexOf("-----END PGP SIGNATURE-----", StringComparison.Ordinal) + 27;
        var dataFile = f.Save(Guid.NewGuid().ToString("N") + ".part", Encoding.ASCII.GetBytes(signedPart));
        var sigFile = f.Save(Guid.NewGuid().ToString("N") + ".asc", Encoding.ASCII.GetBytes(raw[sigStart..sigEnd] + "\n"));
        var result = f.Gpg.Run(null, "--status-fd", "2", "--verify", sigFile, dataFile);
        Assert.True(result.ExitCode == 0, result.Stderr);
        Assert.Contains($"VALIDSIG {f.OurFingerprint}", result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Letterlock_reads_pgp_mime_encrypted_and_signed_by_gpg()
    {
        // The inner entity as a mail client writes it, encrypted and signed by gpg, wrapped by hand (RFC 3156 section 4).
        var inner = "Content-Type: multipart/mixed; boundary=\"inner\"; hp=\"cipher\"\r\n" +
                    "From: GnuPG <gpg@example.com>\r\nTo: ll@example.org\r\nSubject: Secret from gpg\r\n" +
                    "HP-Outer: From: GnuPG <gpg@example.com>\r\nHP-Outer: To: ll@example.org\r\nHP-Outer: Subject: [...]\r\n\r\n" +
                    "--inner\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHello from gpg\r\n--inner--\r\n";
        var encrypted = f.Gpg.Run(Encoding.ASCII.GetBytes(inner), "--armor", "--encrypt", "--sign", "-r", f.OurFingerprint, "-u", f.GpgFingerprint);
        Assert.True(encrypted.ExitCode == 0, encrypted.Stderr);
        var raw = "From: GnuPG <gpg@example.com>\r\nTo: ll@example.org\r\nSubject: [...]\r\nMIME-Version: 1.0\r\n" +
                  "Content-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\"; boundary=\"outer\"\r\n\r\n" +
                  "--outer\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n\r\n" +
                  "--outer\r\nContent-Type: application/octet-stream; name=\"encrypted.asc\"\r\n\r\n" +
                  Encoding.ASCII.GetString(encrypted.Stdout).Replace("\n", "\r\n", StringComparison.Ordinal) + "\r\n--outer--\r\n";
        var read = new PgpMimeReader().Read(new MemoryStream(Encoding.ASCII.GetBytes(raw)), new ReadContext { Keys = [Ours], Certificates = [GpgCert] });
        Assert.Equal(EncryptionStatus.Encrypted, read.Security.Encryption);
        Assert.True(read.Security.IsAuthenticated, read.Security.ToString());
        Assert.Equal("Secret from gpg", read.Header("Subject"));
        Assert.Empty(read.HeaderMismatches);
        Assert.Contains("Hello from gpg", read.ToDisplayMessage().TextBody ?? "", StringComparison.Ordinal);
    }

    [Fact]
    public void Letterlock_reads_multipart_signed_by_gpg()
    {
        var part = "Content-Type: text/plain; charset=us-ascii\r\n\r\nSigned by gpg, line one.\r\nLine two.\r\n";
        var signature = f.Gpg.Run(Encoding.ASCII.GetBytes(part), "--armor", "--detach-sign", "-u", f.GpgFingerprint);
        Assert.True(signature.ExitCode == 0, signature.Stderr);
        var raw = "From: GnuPG <gpg@example.com>\r\nTo: ll@example.org\r\nSubject: signed\r\nMIME-Version: 1.0\r\n" +
                  "Content-Type: multipart/signed; micalg=pgp-sha512; protocol=\"application/pgp-signature\"; boundary=\"sig\"\r\n\r\n" +
                  "--sig\r\n" + part + "\r\n--sig\r\nContent-Type: application/pgp-signature\r\n\r\n" +
                  Encoding.ASCII.GetString(signature.Stdout).Replace("\n", "\r\n", StringComparison.Ordinal) + "\r\n--sig--\r\n";
        var read = new PgpMimeReader().Read(new MemoryStream(Encoding.ASCII.GetBytes(raw)), new ReadContext { Keys = [Ours], Certificates = [GpgCert] });
        Assert.Equal(MessageSignatureStatus.Valid, read.Security.Signature);
        Assert.True(read.Security.IsAuthenticated);

        var tampered = raw.Replace("line one", "line 0ne", StringComparison.Ordinal);
        Assert.Equal(MessageSignatureStatus.Invalid, new PgpMimeReader().Read(new MemoryStream(Encoding.ASCII.GetBytes(tampered)), new ReadContext { Certificates = [GpgCert] }).Security.Signature);
    }
}
