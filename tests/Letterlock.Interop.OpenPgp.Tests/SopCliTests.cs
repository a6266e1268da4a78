using System.Text;
using Letterlock.OpenPgp;

namespace Letterlock.Interop.OpenPgp.Tests;

/// <summary>
/// `letterlock-sop` (and `letterlock sop`, the same code) options and exit codes (draft-dkg-openpgp-stateless-cli),
/// with sqop as the reference.
/// </summary>
[Trait(TestCategory.Name, TestCategory.Peer)]
public sealed class SopCliTests(InteropFixture f) : IClassFixture<InteropFixture>
{
    private ToolResult Sop(byte[]? stdin, params string[] args) => Tools.Sop(stdin, f.Dir, args);

    private ToolResult LetterlockSop(byte[]? stdin, params string[] args) => Tools.Letterlock(stdin, f.Dir, ["sop", .. args]);

    [Fact]
    public void Letterlock_sop_is_the_same_tool_as_the_small_executable()
    {
        Assert.Equal(InteropFixture.Text(Sop(null, "version").Stdout), InteropFixture.Text(LetterlockSop(null, "version").Stdout));
        Assert.Equal(InteropFixture.Text(Tools.Letterlock(null, f.Dir, "--version").Stdout), InteropFixture.Text(Sop(null, "--version").Stdout));
        Assert.Equal(Sop(null, "list-profiles", "encrypt").Stdout, LetterlockSop(null, "list-profiles", "encrypt").Stdout);

        // the same exit codes; each names itself as the user typed it
        var small = Sop(null, "frobnicate");
        var full = LetterlockSop(null, "frobnicate");
        Assert.Equal((69, 69), (small.ExitCode, full.ExitCode));
        Assert.StartsWith("letterlock-sop: unsupported subcommand", small.Stderr, StringComparison.Ordinal);
        Assert.StartsWith("letterlock sop: unsupported subcommand", full.Stderr, StringComparison.Ordinal);

        // each decrypts and verifies what the other encrypted and signed
        var plaintext = InteropFixture.Payload(10_240);
        foreach (var (encrypt, decrypt) in new (Func<byte[]?, string[], ToolResult>, Func<byte[]?, string[], ToolResult>)[]
                 { (LetterlockSop, Sop), (Sop, LetterlockSop) })
        {
            var encrypted = encrypt(plaintext, ["encrypt", $"--sign-with={f.OurKey}", f.OurCert]);
            Assert.True(encrypted.ExitCode == 0, encrypted.Stderr);
            var verifications = f.NewPath("ver.txt");
            var decrypted = decrypt(encrypted.Stdout, ["decrypt", $"--verify-with={f.OurCert}", $"--verifications-out={verifications}", f.OurKey]);
            Assert.True(decrypted.ExitCode == 0, decrypted.Stderr);
            Assert.Equal(plaintext, decrypted.Stdout);
            Assert.Contains(f.OurFingerprint, File.ReadAllText(verifications), StringComparison.Ordinal);
        }
    }

    /// <summary>
    /// OpenSSL's loading and initialisation cost a SOP process more CPU than the operation on a small message
    /// (docs/PERFORMANCE.md, "Start-up"): signing, encrypting, decrypting and verifying 10 KiB must not load it.
    /// The dynamic loader names every library it opens when LD_DEBUG=files is set.
    /// </summary>
    [Fact]
    public void Operations_on_a_small_message_do_not_load_openssl()
    {
        var data = InteropFixture.Payload(10_240);
        var sigFile = f.NewPath("small.sig");
        var encrypted = f.NewPath("small.asc");
        var loader = new Dictionary<string, string> { ["LD_DEBUG"] = "files" };
        (string Name, Func<byte[]> Input, string[] Args, Action<ToolResult> Keep)[] steps =
        [
            ("sign", () => data, ["sign", f.OurKey], r => File.WriteAllBytes(sigFile, r.Stdout)),
            ("verify", () => data, ["verify", sigFile, f.OurCert], _ => { }),
            ("encrypt", () => data, ["encrypt", $"--sign-with={f.OurKey}", f.OurCert], r => File.WriteAllBytes(encrypted, r.Stdout)),
            ("decrypt", () => File.ReadAllBytes(encrypted), ["decrypt", $"--verify-with={f.OurCert}", $"--verifications-out={f.NewPath("v")}", f.OurKey], _ => { }),
        ];
        foreach (var (name, input, args, keep) in steps)
        {
            var result = Tools.SopWithEnvironment(input(), f.Dir, loader, args);
            Assert.True(result.ExitCode == 0, $"{name}: exit {result.ExitCode}");
            var loaded = result.Stderr.Split('\n').Where(l => l.Contains("file=", StringComparison.Ordinal)
                && (l.Contains("libcrypto.so", StringComparison.Ordinal) || l.Contains("libssl.so", StringComparison.Ordinal))).ToList();
            Assert.True(loaded.Count == 0, $"{name} loaded OpenSSL:\n{string.Join("\n", loaded.Take(3))}");
            keep(result);
        }
    }

    [Fact]
    public void The_small_executable_has_help_with_examples()
    {
        var help = Sop(null, "--help");
        Assert.Equal(0, help.ExitCode);
        var text = InteropFixture.Text(help.Stdout);
        Assert.Contains("Examples:", text, StringComparison.Ordinal);
        Assert.Contains("letterlock-sop encrypt --sign-with=", text, StringComparison.Ordinal);
        Assert.Contains("inline-detach", text, StringComparison.Ordinal);
        Assert.Contains("letterlock-sop", InteropFixture.Text(LetterlockSop(null, "--help").Stdout), StringComparison.Ordinal);
    }

    [Fact]
    public void Version_and_profiles()
    {
        Assert.StartsWith("letterlock ", InteropFixture.Text(Sop(null, "version").Stdout), StringComparison.Ordinal);
        Assert.Contains("BouncyCastle", InteropFixture.Text(Sop(null, "version", "--backend").Stdout), StringComparison.Ordinal);
        Assert.StartsWith("default:", InteropFixture.Text(Sop(null, "list-profiles", "generate-key").Stdout), StringComparison.Ordinal);
        Assert.Equal(89, Sop(null, "list-profiles", "armor").ExitCode);
        Assert.Equal(89, Sop(null, "generate-key", "--profile=rfc9580", "X <x@example.org>").ExitCode);
    }

    [Fact]
    public void Unsupported_subcommand_and_option_and_missing_argument()
    {
        Assert.Equal(69, Sop(null, "frobnicate").ExitCode);
        Assert.Equal(37, Sop(null, "sign", "--frobnicate", f.OurKey).ExitCode);
        Assert.Equal(19, Sop("x"u8.ToArray(), "sign").ExitCode);
        Assert.Equal(61, Sop("x"u8.ToArray(), "sign", Path.Combine(f.Dir, "no-such.key")).ExitCode);
        Assert.Equal(37, Sop("x"u8.ToArray(), "encrypt", "--session-key-out=sk", f.OurCert).ExitCode);
    }

    [Fact]
    public void Generated_key_is_accepted_by_gpg_as_encryption_capable_with_sha512_bindings()
    {
        using var gpg = new GnuPg();
        gpg.Import(File.ReadAllBytes(f.OurCert));
        var listing = InteropFixture.Text(gpg.Run(null, "--with-colons", "--list-keys", f.OurFingerprint).Stdout);
        Assert.Contains(":22:", listing.Split('\n').First(l => l.StartsWith("pub", StringComparison.Ordinal)), StringComparison.Ordinal); // EdDSA
        var sub = listing.Split('\n').First(l => l.StartsWith("sub", StringComparison.Ordinal)).Split(':');
        Assert.Equal("18", sub[3]); // ECDH
        Assert.Equal("e", sub[11]);
        Assert.Equal("cv25519", sub[16]);
        var packets = InteropFixture.Text(gpg.Run(File.ReadAllBytes(f.OurCert), "--list-packets").Stdout);
        Assert.Contains("digest algo 10", packets, StringComparison.Ordinal); // SHA-512 signatures
        Assert.DoesNotContain("digest algo 2,", packets, StringComparison.Ordinal); // no SHA-1
        Assert.Contains("pref-sym-algos: 9", packets, StringComparison.Ordinal); // AES-256 first
    }

    [Fact]
    public void Password_protected_keys_need_the_password()
    {
        var passwordFile = f.Save(Guid.NewGuid().ToString("N") + ".pw", "s3cret pass\n"u8.ToArray());
        var key = Sop(null, "generate-key", $"--with-key-password={passwordFile}", "Prot <prot@example.org>");
        Assert.Equal(0, key.ExitCode);
        var keyFile = f.Save(Guid.NewGuid().ToString("N") + ".key", key.Stdout);
        Assert.Contains("iter+salt S2K, algo: 9, SHA1 protection, hash: 8", InteropFixture.Text(Tools.Run("gpg", ["--list-packets"], key.Stdout, f.Dir).Stdout), StringComparison.Ordinal); // iterated+salted, AES-256
        Assert.Equal(67, Sop("data"u8.ToArray(), "sign", keyFile).ExitCode);
        Assert.Equal(0, Sop("data"u8.ToArray(), "sign", $"--with-key-password={passwordFile}", keyFile).ExitCode);
        // sqop unlocks it with the same password: our S2K and AES-256 protection are standard.
        Assert.Equal(0, Tools.Run("sqop", ["sign", $"--with-key-password={passwordFile}", keyFile], "data"u8.ToArray(), f.Dir).ExitCode);
        Environment.SetEnvironmentVariable("LL_TEST_PW", "s3cret pass");
        Assert.Equal(0, Sop("data"u8.ToArray(), "sign", "--with-key-password=@ENV:LL_TEST_PW", keyFile).ExitCode);
    }

    [Fact]
    public void Options_take_their_value_after_an_equals_sign_or_as_the_next_argument()
    {
        // "--sign-with KEY CERT" as sqop accepts it: the key signs, the certificate is the recipient
        var encrypted = Sop("spaced\n"u8.ToArray(), "encrypt", "--sign-with", f.OurKey, f.SqCert);
        Assert.Equal(0, encrypted.ExitCode);
        var verifications = Path.Combine(f.Dir, Guid.NewGuid().ToString("N") + ".ver");
        var decrypted = Tools.Run("sqop", ["decrypt", "--verifications-out", verifications, "--verify-with", f.OurCert, f.SqKey], encrypted.Stdout, f.Dir);
        Assert.Equal(0, decrypted.ExitCode);
        Assert.Equal("spaced\n", InteropFixture.Text(decrypted.Stdout));
        Assert.Contains(f.OurFingerprint, File.ReadAllText(verifications), StringComparison.OrdinalIgnoreCase);

        var verifiedBack = Sop(Tools.Run("sqop", ["encrypt", "--sign-with", f.SqKey, f.OurCert], "back\n"u8.ToArray(), f.Dir).Stdout,
            "decrypt", "--verify-with", f.SqCert, "--verifications-out", verifications + ".back", f.OurKey);
        Assert.Equal(0, verifiedBack.ExitCode);
        Assert.Equal("back\n", InteropFixture.Text(verifiedBack.Stdout));
        Assert.NotEmpty(File.ReadAllText(verifications + ".back"));

        // a value option at the end of the line has nothing to take: missing argument, nothing written
        var missing = Sop("x"u8.ToArray(), "encrypt", f.SqCert, "--sign-with");
        Assert.Equal(19, missing.ExitCode);
        Assert.Empty(missing.Stdout);
    }

    [Fact]
    public void Decrypt_failures_and_output_exists()
    {
        var ciphertext = Tools.Run("sqop", ["encrypt", f.SqCert], "for sq only"u8.ToArray(), f.Dir).Stdout;
        Assert.Equal(29, Sop(ciphertext, "decrypt", f.OurKey).ExitCode);
        Assert.Equal(41, Sop("not openpgp"u8.ToArray(), "decrypt", f.OurKey).ExitCode);

        var mine = Tools.Run("sqop", ["encrypt", f.OurCert], "hello"u8.ToArray(), f.Dir).Stdout;
        var existing = f.Save(Guid.NewGuid().ToString("N") + ".ver", []);
        Assert.Equal(59, Sop(mine, "decrypt", $"--verifications-out={existing}", f.OurKey).ExitCode);

        // A truncated ciphertext yields no plaintext at all.
        var binary = Tools.Run("sqop", ["encrypt", "--no-armor", f.OurCert], new byte[50_000], f.Dir).Stdout;
        var truncated = Sop(binary[..^40], "decrypt", f.OurKey);
        Assert.NotEqual(0, truncated.ExitCode);
        Assert.Empty(truncated.Stdout);
    }

    [Fact]
    public void Encrypt_to_a_certificate_that_cannot_encrypt_fails_with_17()
    {
        var expired = KeyGenerator.Generate("Exp <exp@example.org>", "", new KeyGenerationOptions
        {
            CreationTime = DateTimeOffset.UtcNow.AddDays(-10),
            PrimaryValidity = TimeSpan.FromDays(1),
        });
        var cert = f.Save(Guid.NewGuid().ToString("N") + ".cert", expired.Certificate.Export());
        Assert.Equal(17, Sop("x"u8.ToArray(), "encrypt", cert).ExitCode);
    }

    [Fact]
    public void Armor_and_dearmor_round_trip()
    {
        var binary = Sop(File.ReadAllBytes(f.OurCert), "dearmor");
        Assert.Equal(0, binary.ExitCode);
        Assert.False(Armor.IsArmored(binary.Stdout));
        var armored = Sop(binary.Stdout, "armor");
        Assert.Equal(0, armored.ExitCode);
        Assert.Contains("BEGIN PGP PUBLIC KEY BLOCK", InteropFixture.Text(armored.Stdout), StringComparison.Ordinal);
        Assert.Equal(binary.Stdout, Tools.Run("sqop", ["dearmor"], armored.Stdout, f.Dir).Stdout);
    }

    [Theory]
    [InlineData("binary")]
    [InlineData("text")]
    [InlineData("clearsigned")]
    public void Inline_sign_verify_detach_with_sqop_both_ways(string mode)
    {
        var data = Encoding.UTF8.GetBytes("Inline line one\nline two with trailing space \n");
        var ours = Sop(data, "inline-sign", $"--as={mode}", f.OurKey);
        Assert.True(ours.ExitCode == 0, ours.Stderr);
        var verified = Tools.Run("sqop", ["inline-verify", f.OurCert], ours.Stdout, f.Dir);
        Assert.True(verified.ExitCode == 0, verified.Stderr);
        if (mode != "clearsigned")
        {
            Assert.Equal(data, verified.Stdout);
        }

        var theirs = Tools.Run("sqop", ["inline-sign", $"--as={mode}", f.SqKey], data, f.Dir);
        Assert.Equal(0, theirs.ExitCode);
        var verifications = f.NewPath("ver.txt");
        var ourVerify = Sop(theirs.Stdout, "inline-verify", $"--verifications-out={verifications}", f.SqCert);
        Assert.True(ourVerify.ExitCode == 0, ourVerify.Stderr);
        Assert.Contains(Certificate.Parse(File.ReadAllBytes(f.SqCert)).Fingerprint.Hex, File.ReadAllText(verifications), StringComparison.Ordinal);
        Assert.Equal(3, Sop(theirs.Stdout, "inline-verify", f.OurCert).ExitCode);

        var sigs = f.NewPath("sigs.asc");
        var detached = Sop(theirs.Stdout, "inline-detach", $"--signatures-out={sigs}");
        Assert.True(detached.ExitCode == 0, detached.Stderr);
        var check = Tools.Run("sqop", ["verify", sigs, f.SqCert], detached.Stdout, f.Dir);
        Assert.True(check.ExitCode == 0, check.Stderr);
    }

    [Fact]
    public void Encrypt_as_text_with_password_interoperates()
    {
        var pw = f.Save(Guid.NewGuid().ToString("N") + ".pw", "hunter2"u8.ToArray());
        var ours = Sop("text body\n"u8.ToArray(), "encrypt", "--as=text", $"--with-password={pw}", $"--sign-with={f.OurKey}");
        Assert.True(ours.ExitCode == 0, ours.Stderr);
        var decrypted = Tools.Run("sqop", ["decrypt", $"--with-password={pw}"], ours.Stdout, f.Dir);
        Assert.True(decrypted.ExitCode == 0, decrypted.Stderr);
        Assert.Equal("text body\n"u8.ToArray(), decrypted.Stdout);

        var theirs = Tools.Run("sqop", ["encrypt", $"--with-password={pw}"], "from sqop"u8.ToArray(), f.Dir);
        var back = Sop(theirs.Stdout, "decrypt", $"--with-password={pw}");
        Assert.True(back.ExitCode == 0, back.Stderr);
        Assert.Equal("from sqop"u8.ToArray(), back.Stdout);
        Assert.Equal(53, Sop(new byte[] { 0xff, 0xfe, 0x00 }, "encrypt", "--as=text", f.OurCert).ExitCode);
    }
}
