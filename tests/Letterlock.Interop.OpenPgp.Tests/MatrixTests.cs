using Letterlock.OpenPgp;

namespace Letterlock.Interop.OpenPgp.Tests;

/// <summary>
/// The interop matrix of issue 2, section 6: letterlock against gpg and sqop, both directions,
/// encrypt+sign / decrypt+verify and detached sign / verify, at 10 KiB and 1 MiB.
/// </summary>
[Trait(TestCategory.Name, TestCategory.Peer)]
public sealed class MatrixTests(InteropFixture f) : IClassFixture<InteropFixture>
{
    public static TheoryData<string, int> Cases()
    {
        var data = new TheoryData<string, int>();
        foreach (var peer in new[] { "gpg", "sqop" })
        {
            foreach (var size in new[] { 10 * 1024, 1024 * 1024 })
            {
                data.Add(peer, size);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Letterlock_encrypts_and_signs_peer_decrypts_and_verifies(string peer, int size)
    {
        var plaintext = InteropFixture.Payload(size);
        var peerCert = peer == "gpg" ? f.GpgCert : f.SqCert;
        var encrypted = Tools.Sop(plaintext, f.Dir, "encrypt", $"--sign-with={f.OurKey}", peerCert);
        Assert.True(encrypted.ExitCode == 0, encrypted.Stderr);

        if (peer == "sqop")
        {
            var verifications = f.NewPath("ver.txt");
            var decrypted = Tools.Run("sqop", ["decrypt", $"--verify-with={f.OurCert}", $"--verifications-out={verifications}", f.SqKey], encrypted.Stdout, f.Dir);
            Assert.True(decrypted.ExitCode == 0, decrypted.Stderr);
            Assert.Equal(plaintext, decrypted.Stdout);
            Assert.Contains(f.OurFingerprint, File.ReadAllText(verifications), StringComparison.Ordinal);
        }
        else
        {
            var decrypted = f.Gpg.Run(encrypted.Stdout, "--status-fd", "2", "--decrypt");
            Assert.True(decrypted.ExitCode == 0, decrypted.Stderr);
            Assert.Equal(plaintext, decrypted.Stdout);
            Assert.Contains("[GNUPG:] DECRYPTION_OKAY", decrypted.Stderr, StringComparison.Ordinal);
            Assert.Contains("[GNUPG:] GOODSIG", decrypted.Stderr, StringComparison.Ordinal);
            Assert.Contains($"VALIDSIG {f.OurFingerprint}", decrypted.Stderr, StringComparison.Ordinal);
            Assert.Contains("DECRYPTION_INFO 2 9", decrypted.Stderr, StringComparison.Ordinal); // MDC, AES-256
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Peer_encrypts_and_signs_letterlock_decrypts_and_verifies(string peer, int size)
    {
        var plaintext = InteropFixture.Payload(size);
        var encrypted = peer == "sqop"
            ? Tools.Run("sqop", ["encrypt", $"--sign-with={f.SqKey}", f.OurCert], plaintext, f.Dir)
            : f.Gpg.Run(plaintext, "--armor", "--encrypt", "--sign", "-r", f.OurFingerprint, "-u", f.GpgFingerprint);
        Assert.True(encrypted.ExitCode == 0, encrypted.Stderr);

        var verifications = f.NewPath("ver.txt");
        var decrypted = Tools.Sop(encrypted.Stdout, f.Dir, "decrypt",
            $"--verify-with={(peer == "sqop" ? f.SqCert : f.GpgCert)}", $"--verifications-out={verifications}", f.OurKey);
        Assert.True(decrypted.ExitCode == 0, decrypted.Stderr);
        Assert.Equal(plaintext, decrypted.Stdout);
        var line = File.ReadAllText(verifications);
        Assert.Contains(peer == "sqop" ? Certificate.Parse(File.ReadAllBytes(f.SqCert)).Fingerprint.Hex : f.GpgFingerprint, line, StringComparison.Ordinal);
        Assert.Contains("mode:binary", line, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Letterlock_signs_detached_peer_verifies(string peer, int size)
    {
        var data = InteropFixture.Payload(size);
        var signature = Tools.Sop(data, f.Dir, "sign", f.OurKey);
        Assert.True(signature.ExitCode == 0, signature.Stderr);
        var sigFile = f.Save(Guid.NewGuid().ToString("N") + ".sig", signature.Stdout);
        if (peer == "sqop")
        {
            var verified = Tools.Run("sqop", ["verify", sigFile, f.OurCert], data, f.Dir);
            Assert.True(verified.ExitCode == 0, verified.Stderr);
            Assert.Contains(f.OurFingerprint, InteropFixture.Text(verified.Stdout), StringComparison.Ordinal);

            // And a tampered copy fails with NO_SIGNATURE (3).
            data[0] ^= 1;
            Assert.Equal(3, Tools.Run("sqop", ["verify", sigFile, f.OurCert], data, f.Dir).ExitCode);
        }
        else
        {
            var dataFile = f.Save(Guid.NewGuid().ToString("N") + ".dat", data);
            var verified = f.Gpg.Run(null, "--status-fd", "2", "--verify", sigFile, dataFile);
            Assert.True(verified.ExitCode == 0, verified.Stderr);
            Assert.Contains($"VALIDSIG {f.OurFingerprint}", verified.Stderr, StringComparison.Ordinal);
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Peer_signs_detached_letterlock_verifies(string peer, int size)
    {
        var data = InteropFixture.Payload(size);
        var signature = peer == "sqop"
            ? Tools.Run("sqop", ["sign", f.SqKey], data, f.Dir)
            : f.Gpg.Run(data, "--armor", "--detach-sign", "-u", f.GpgFingerprint);
        Assert.True(signature.ExitCode == 0, signature.Stderr);
        var sigFile = f.Save(Guid.NewGuid().ToString("N") + ".sig", signature.Stdout);
        var cert = peer == "sqop" ? f.SqCert : f.GpgCert;
        var verified = Tools.Sop(data, f.Dir, "verify", sigFile, cert);
        Assert.True(verified.ExitCode == 0, verified.Stderr);
        Assert.Contains(Certificate.Parse(File.ReadAllBytes(cert)).Fingerprint.Hex, InteropFixture.Text(verified.Stdout), StringComparison.Ordinal);

        data[^1] ^= 1;
        Assert.Equal(3, Tools.Sop(data, f.Dir, "verify", sigFile, cert).ExitCode);
    }
}
