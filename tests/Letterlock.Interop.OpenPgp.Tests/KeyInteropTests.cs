using Letterlock.OpenPgp;

namespace Letterlock.Interop.OpenPgp.Tests;

/// <summary>Secret keys made by Letterlock (generated, protected, rotated, re-protected) work in sqop and gpg.</summary>
[Trait(TestCategory.Name, TestCategory.Peer)]
public sealed class KeyInteropTests(InteropFixture f) : IClassFixture<InteropFixture>
{
    public static TheoryData<string> Variants() => ["unprotected", "protected", "rotated", "repassphrased"];

    private (byte[] Key, string Password) Make(string variant)
    {
        var start = DateTimeOffset.UtcNow.AddHours(-2);
        var key = KeyGenerator.Generate("Var <var@example.org>", variant == "unprotected" ? "" : "pw1",
            new KeyGenerationOptions { CreationTime = start }).SecretKey;
        return variant switch
        {
            "rotated" => (key.AddEncryptionSubkey("pw1", now: start.AddHours(1)).Export(), "pw1"),
            "repassphrased" => (key.ChangePassphrase("pw1", "").ChangePassphrase("", "pw2").Export(), "pw2"),
            "protected" => (key.Export(), "pw1"),
            _ => (key.Export(), ""),
        };
    }

    [Theory]
    [MemberData(nameof(Variants))]
    public void Sqop_decrypts_and_signs_with_a_letterlock_secret_key(string variant)
    {
        var (key, password) = Make(variant);
        var keyFile = f.Save(Guid.NewGuid().ToString("N") + ".key", key);
        var pwFile = f.Save(Guid.NewGuid().ToString("N") + ".pw", System.Text.Encoding.UTF8.GetBytes(password));
        var cert = f.Save(Guid.NewGuid().ToString("N") + ".cert", SecretKey.Parse(key).Certificate.Export());

        var ciphertext = Tools.Sop("to the newest subkey"u8.ToArray(), f.Dir, "encrypt", cert);
        Assert.Equal(0, ciphertext.ExitCode);
        string[] unlock = password.Length > 0 ? [$"--with-key-password={pwFile}"] : [];
        var decrypted = Tools.Run("sqop", ["decrypt", .. unlock, keyFile], ciphertext.Stdout, f.Dir);
        Assert.True(decrypted.ExitCode == 0, decrypted.Stderr);
        Assert.Equal("to the newest subkey"u8.ToArray(), decrypted.Stdout);

        var signature = Tools.Run("sqop", ["sign", .. unlock, keyFile], "data"u8.ToArray(), f.Dir);
        Assert.True(signature.ExitCode == 0, signature.Stderr);
        var sigFile = f.Save(Guid.NewGuid().ToString("N") + ".sig", signature.Stdout);
        Assert.Equal(0, Tools.Sop("data"u8.ToArray(), f.Dir, "verify", sigFile, cert).ExitCode);
    }

    [Theory]
    [MemberData(nameof(Variants))]
    public void Gpg_imports_a_letterlock_secret_key_and_decrypts(string variant)
    {
        var (key, password) = Make(variant);
        using var gpg = new GnuPg();
        var imported = Tools.Run("gpg", ["--batch", "--pinentry-mode", "loopback", "--passphrase", password, "--import"], key, gpg.Home,
            new Dictionary<string, string> { ["GNUPGHOME"] = gpg.Home });
        Assert.True(imported.ExitCode == 0, imported.Stderr);
        var cert = SecretKey.Parse(key).Certificate;
        var ciphertext = new OpenPgpEngine().Encrypt("for gpg"u8, [cert]);
        var decrypted = Tools.Run("gpg", ["--batch", "--pinentry-mode", "loopback", "--passphrase", password, "--decrypt"], ciphertext, gpg.Home,
            new Dictionary<string, string> { ["GNUPGHOME"] = gpg.Home });
        Assert.True(decrypted.ExitCode == 0, decrypted.Stderr);
        Assert.Equal("for gpg"u8.ToArray(), decrypted.Stdout);
    }
}
