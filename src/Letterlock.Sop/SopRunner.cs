using System.Globalization;
using System.Text;
using Letterlock.OpenPgp;

namespace Letterlock.Sop;

/// <summary>
/// The SOP subcommands on top of <see cref="OpenPgpEngine"/>, shared by the small `letterlock-sop`
/// executable and `letterlock sop`. Exit codes are the draft's (section "Failure Modes"); messages go
/// to <paramref name="stderr"/>, prefixed with <paramref name="name"/>, and never contain key material or data.
/// </summary>
/// <param name="stdin">The data input (SOP reads data from stdin).</param>
/// <param name="stdout">The data output.</param>
/// <param name="stderr">Where error messages go.</param>
/// <param name="name">The command as the user typed it, for error messages ("letterlock-sop", "letterlock sop").</param>
public sealed class SopRunner(Stream stdin, Stream stdout, TextWriter stderr, string name)
{
    // Exit codes of draft-dkg-openpgp-stateless-cli, "Failure Modes".
    internal const int NoSignature = 3;
    internal const int UnsupportedAsymmetricAlgo = 13;
    internal const int CertCannotEncrypt = 17;
    internal const int MissingArg = 19;
    internal const int IncompleteVerification = 23;
    internal const int CannotDecrypt = 29;
    internal const int PasswordNotHumanReadable = 31;
    internal const int UnsupportedOption = 37;
    internal const int BadData = 41;
    internal const int ExpectedText = 53;
    internal const int OutputExists = 59;
    internal const int MissingInput = 61;
    internal const int KeyIsProtected = 67;
    internal const int UnsupportedSubcommand = 69;
    internal const int UnsupportedSpecialPrefix = 71;
    internal const int AmbiguousInput = 73;
    internal const int KeyCannotSign = 79;
    internal const int IncompatibleOptions = 83;
    internal const int UnsupportedProfile = 89;

    private static readonly string[] Subcommands =
        ["version", "list-profiles", "generate-key", "extract-cert", "sign", "verify", "encrypt", "decrypt",
         "inline-sign", "inline-verify", "inline-detach", "armor", "dearmor"];

    // One process per operation: OpenSSL's loading would cost more than the managed SHA and AES of a small message.
    private readonly OpenPgpEngine _engine = new(new OpenPgpOptions { ManagedCryptoThreshold = SmallDataThreshold });

    /// <summary>The data size up to which SOP operations avoid OpenSSL (<see cref="OpenPgpOptions.ManagedCryptoThreshold"/>).</summary>
    public const int SmallDataThreshold = 64 * 1024;

    /// <summary>The subcommands, in the order `--help` lists them.</summary>
    public static IReadOnlyList<string> SubcommandNames => Subcommands;

    /// <summary>The product version without the source revision suffix ("0.1.0"), fixed at build time.</summary>
    public static string ProductVersion => BuildInfo.Version;

    /// <summary>Runs one SOP subcommand line (<c>["encrypt", "--sign-with=k", "c"]</c>) and returns its exit code.</summary>
    /// <param name="args">The subcommand and its options and arguments, in the user's order.</param>
    public int Run(string[] args)
    {
        try
        {
            if (args.Length == 0)
            {
                throw new SopException(MissingArg, "missing subcommand; one of: " + string.Join(", ", Subcommands));
            }

            var line = SopLine.Parse(args.Skip(1));
            return args[0] switch
            {
                "version" => Version(line),
                "list-profiles" => ListProfiles(line),
                "generate-key" => GenerateKey(line),
                "extract-cert" => ExtractCert(line),
                "sign" => Sign(line),
                "verify" => Verify(line),
                "encrypt" => Encrypt(line),
                "decrypt" => Decrypt(line),
                "inline-sign" => InlineSign(line),
                "inline-verify" => InlineVerify(line),
                "inline-detach" => InlineDetach(line),
                "armor" => ArmorData(line),
                "dearmor" => Dearmor(line),
                _ => throw new SopException(UnsupportedSubcommand, $"unsupported subcommand '{args[0]}'"),
            };
        }
        catch (SopException e)
        {
            stderr.WriteLine($"{name}: {e.Message}");
            return e.ExitCode;
        }
        catch (OpenPgpException e)
        {
            stderr.WriteLine($"{name}: {e.Message}");
            return e switch
            {
                IntegrityException or NoDecryptionKeyException => CannotDecrypt,
                BadPassphraseException => KeyIsProtected,
                UnsupportedException => UnsupportedAsymmetricAlgo,
                _ => BadData,
            };
        }
    }

    private int Version(SopLine line)
    {
        line.Allow("backend", "extended", "sop-spec");
        line.NoPositionals();
        var version = ProductVersion;
        if (line.Has("sop-spec"))
        {
            Write("~draft-dkg-openpgp-stateless-cli-11\nPartial: no session keys, no change-key-password/revoke-key, no signing-only keys.\n");
        }
        else if (line.Has("backend"))
        {
            Write($"BouncyCastle {typeof(Org.BouncyCastle.Bcpg.OpenPgp.PgpPublicKey).Assembly.GetName().Version}\n");
        }
        else if (line.Has("extended"))
        {
            Write($"letterlock {version}\nBouncyCastle {typeof(Org.BouncyCastle.Bcpg.OpenPgp.PgpPublicKey).Assembly.GetName().Version}\nMimeKit {typeof(MimeKit.MimeMessage).Assembly.GetName().Version}\n");
        }
        else
        {
            Write($"letterlock {version}\n");
        }

        return 0;
    }

    private int ListProfiles(SopLine line)
    {
        line.Allow();
        var subcommand = line.Positionals.Count == 1 ? line.Positionals[0] : throw new SopException(MissingArg, "list-profiles needs one subcommand name");
        return subcommand switch
        {
            "generate-key" => WriteAndReturn("default: Ed25519 primary, Cv25519 encryption subkey, v4, SHA-512 (RFC 4880 compatible)\n"),
            "encrypt" => WriteAndReturn("default: SEIPDv1 (MDC) with AES-256 (RFC 4880 compatible)\n"),
            _ when Subcommands.Contains(subcommand) => throw new SopException(UnsupportedProfile, $"'{subcommand}' has no profiles"),
            _ => throw new SopException(UnsupportedSubcommand, $"unsupported subcommand '{subcommand}'"),
        };
    }

    private int GenerateKey(SopLine line)
    {
        line.Allow("no-armor", "with-key-password", "profile", "signing-only");
        Profile(line);
        if (line.Has("signing-only"))
        {
            throw new SopException(UnsupportedOption, "--signing-only is not supported");
        }

        if (line.Positionals.Count != 1)
        {
            throw new SopException(line.Positionals.Count == 0 ? MissingArg : UnsupportedOption, "generate-key takes exactly one user ID");
        }

        var password = line.Values("with-key-password").Select(ReadPassword).FirstOrDefault() ?? "";
        var key = KeyGenerator.Generate(line.Positionals[0], password);
        Write(key.SecretKey.Export(!line.Has("no-armor")));
        return 0;
    }

    private int ExtractCert(SopLine line)
    {
        line.Allow("no-armor");
        line.NoPositionals();
        var keys = SecretKey.ParseAll(ReadStdin());
        using var output = new MemoryStream();
        foreach (var key in keys)
        {
            output.Write(key.Certificate.Export(armored: false));
        }

        Write(line.Has("no-armor") ? output.ToArray() : Armor.Encode(output.ToArray()));
        return 0;
    }

    private int Sign(SopLine line)
    {
        line.Allow("no-armor", "as", "micalg-out", "with-key-password");
        var mode = line.Value("as") switch
        {
            null or "binary" => SignatureMode.Binary,
            "text" => SignatureMode.Text,
            var other => throw new SopException(UnsupportedOption, $"--as={other} is not supported by sign"),
        };
        var signers = UnlockKeys(line, line.Positionals);
        if (signers.Count == 0)
        {
            throw new SopException(MissingArg, "sign needs at least one KEYS file");
        }

        var data = ReadStdin();
        if (mode == SignatureMode.Text)
        {
            RequireText(data);
        }

        var signature = Signing(() => _engine.SignDetached(data, signers, mode, !line.Has("no-armor")));
        if (line.Value("micalg-out") is { } micalg)
        {
            WriteNewFile(micalg, "pgp-sha512"u8.ToArray());
        }

        Write(signature);
        return 0;
    }

    private int Verify(SopLine line)
    {
        line.Allow("not-before", "not-after");
        if (line.Positionals.Count < 2)
        {
            throw new SopException(MissingArg, "verify needs SIGNATURES and at least one CERTS");
        }

        var signatures = ReadInput(line.Positionals[0]);
        var certs = ReadCerts(line.Positionals.Skip(1));
        var data = ReadStdin();
        var results = Filter(_engine.VerifyDetached(data, signatures, certs), line.Value("not-before"), line.Value("not-after"));
        if (results.Count == 0)
        {
            throw new SopException(NoSignature, "no valid signature");
        }

        Write(Encoding.UTF8.GetBytes(VerificationLines(results)));
        return 0;
    }

    private int Encrypt(SopLine line)
    {
        line.Allow("as", "no-armor", "with-password", "sign-with", "with-key-password", "profile", "session-key-out");
        Profile(line);
        if (line.Has("session-key-out"))
        {
            throw new SopException(UnsupportedOption, "--session-key-out is not supported");
        }

        var format = line.Value("as") switch
        {
            null or "binary" => LiteralFormat.Binary,
            "text" => LiteralFormat.Utf8,
            var other => throw new SopException(UnsupportedOption, $"--as={other} is not supported by encrypt"),
        };
        var certs = ReadCerts(line.Positionals);
        var passwords = line.Values("with-password").Select(ReadPassword).ToList();
        if (certs.Count == 0 && passwords.Count == 0)
        {
            throw new SopException(MissingArg, "encrypt needs CERTS or --with-password");
        }

        var signers = UnlockKeys(line, line.Values("sign-with"));
        var data = ReadStdin();
        if (format == LiteralFormat.Utf8)
        {
            RequireText(data);
        }

        byte[] ciphertext;
        try
        {
            ciphertext = _engine.Encrypt(data, certs, new EncryptOptions
            {
                Signers = signers,
                Passwords = passwords,
                Armor = !line.Has("no-armor"),
                Format = format,
            });
        }
        catch (KeyNotUsableException e)
        {
            throw new SopException(e.Message.Contains("signing", StringComparison.Ordinal) ? KeyCannotSign : CertCannotEncrypt, e.Message);
        }

        Write(ciphertext);
        return 0;
    }

    private int Decrypt(SopLine line)
    {
        line.Allow("session-key-out", "with-session-key", "with-password", "with-key-password", "verifications-out", "verify-out",
            "verify-with", "verify-not-before", "verify-not-after");
        if (line.Has("session-key-out") || line.Has("with-session-key"))
        {
            throw new SopException(UnsupportedOption, "session key options are not supported");
        }

        var verificationsOut = line.Value("verifications-out") ?? line.Value("verify-out");
        var verifiers = ReadCerts(line.Values("verify-with"));
        if (verifiers.Count > 0 && verificationsOut is null)
        {
            throw new SopException(IncompatibleOptions, "--verify-with needs --verifications-out");
        }

        if (verificationsOut is not null && File.Exists(verificationsOut))
        {
            throw new SopException(OutputExists, "the --verifications-out file already exists");
        }

        var keys = UnlockKeys(line, line.Positionals);
        var passwords = line.Values("with-password").Select(ReadPassword).ToList();
        if (keys.Count == 0 && passwords.Count == 0)
        {
            throw new SopException(MissingArg, "decrypt needs KEYS or --with-password");
        }

        var result = _engine.Decrypt(ReadStdin(), new DecryptOptions { Keys = keys, Passwords = passwords, Verifiers = verifiers });
        if (verificationsOut is not null)
        {
            var valid = Filter(result.Signatures, line.Value("verify-not-before"), line.Value("verify-not-after"));
            WriteNewFile(verificationsOut, Encoding.UTF8.GetBytes(VerificationLines(valid)));
        }

        Write(result.Plaintext);
        return 0;
    }

    private int InlineSign(SopLine line)
    {
        line.Allow("no-armor", "with-key-password", "as");
        var style = line.Value("as") switch
        {
            null or "binary" => InlineSignStyle.Binary,
            "text" => InlineSignStyle.Text,
            "clearsigned" => InlineSignStyle.Cleartext,
            var other => throw new SopException(UnsupportedOption, $"--as={other} is not supported by inline-sign"),
        };
        if (style == InlineSignStyle.Cleartext && line.Has("no-armor"))
        {
            throw new SopException(IncompatibleOptions, "--as=clearsigned cannot be combined with --no-armor");
        }

        var signers = UnlockKeys(line, line.Positionals);
        if (signers.Count == 0)
        {
            throw new SopException(MissingArg, "inline-sign needs at least one KEYS file");
        }

        var data = ReadStdin();
        if (style != InlineSignStyle.Binary)
        {
            RequireText(data);
        }

        Write(Signing(() => _engine.SignInline(data, signers, style, !line.Has("no-armor"))));
        return 0;
    }

    private int InlineVerify(SopLine line)
    {
        line.Allow("not-before", "not-after", "verifications-out");
        var certs = ReadCerts(line.Positionals);
        if (certs.Count == 0)
        {
            throw new SopException(MissingArg, "inline-verify needs at least one CERTS");
        }

        var output = line.Value("verifications-out");
        if (output is not null && File.Exists(output))
        {
            throw new SopException(OutputExists, "the --verifications-out file already exists");
        }

        var result = _engine.VerifyInline(ReadStdin(), certs);
        var valid = Filter(result.Signatures, line.Value("not-before"), line.Value("not-after"));
        if (valid.Count == 0)
        {
            throw new SopException(NoSignature, "no valid signature");
        }

        if (output is not null)
        {
            WriteNewFile(output, Encoding.UTF8.GetBytes(VerificationLines(valid)));
        }

        Write(result.Content);
        return 0;
    }

    private int InlineDetach(SopLine line)
    {
        line.Allow("no-armor", "signatures-out");
        line.NoPositionals();
        var output = line.Value("signatures-out") ?? throw new SopException(MissingArg, "inline-detach needs --signatures-out");
        if (File.Exists(output))
        {
            throw new SopException(OutputExists, "the --signatures-out file already exists");
        }

        var (content, signatures) = _engine.InlineDetach(ReadStdin(), !line.Has("no-armor"));
        WriteNewFile(output, signatures);
        Write(content);
        return 0;
    }

    private int ArmorData(SopLine line)
    {
        line.Allow("label");
        line.NoPositionals();
        var data = ReadStdin();
        if (Armor.IsArmored(data))
        {
            Write(data); // already armored: armor is idempotent
            return 0;
        }

        if (!Armor.LooksLikeOpenPgp(data))
        {
            throw new SopException(BadData, "input is not OpenPGP data");
        }

        Write(Armor.Encode(data));
        return 0;
    }

    private int Dearmor(SopLine line)
    {
        line.Allow();
        line.NoPositionals();
        Write(Armor.Decode(ReadStdin()));
        return 0;
    }

    private static void Profile(SopLine line)
    {
        if (line.Value("profile") is { } profile && profile != "default")
        {
            throw new SopException(UnsupportedProfile, $"unsupported profile '{profile}'");
        }
    }

    private static byte[] Signing(Func<byte[]> sign)
    {
        try
        {
            return sign();
        }
        catch (KeyNotUsableException e)
        {
            throw new SopException(KeyCannotSign, e.Message);
        }
    }

    private static void RequireText(byte[] data)
    {
        try
        {
            _ = new UTF8Encoding(false, true).GetString(data);
        }
        catch (DecoderFallbackException)
        {
            throw new SopException(ExpectedText, "--as=text needs UTF-8 input");
        }
    }

    private static List<UnlockedKey> UnlockKeys(SopLine line, IEnumerable<string> sources)
    {
        var passwords = line.Values("with-key-password").Select(ReadPassword).ToList();
        var result = new List<UnlockedKey>();
        foreach (var source in sources)
        {
            foreach (var key in SecretKey.ParseAll(ReadInput(source)))
            {
                result.Add(Unlock(key, passwords));
            }
        }

        return result;
    }

    private static UnlockedKey Unlock(SecretKey key, List<string> passwords)
    {
        if (!key.IsProtected)
        {
            return key.Unlock();
        }

        foreach (var password in passwords)
        {
            // The draft asks to try the password as given and with trailing whitespace removed.
            foreach (var candidate in new[] { password, password.TrimEnd() }.Distinct())
            {
                try
                {
                    return key.Unlock(candidate);
                }
                catch (BadPassphraseException)
                {
                }
            }
        }

        throw new SopException(KeyIsProtected, "a key is password-protected and no --with-key-password unlocks it");
    }

    private static List<Certificate> ReadCerts(IEnumerable<string> sources)
    {
        var result = new List<Certificate>();
        foreach (var source in sources)
        {
            var data = ReadInput(source);
            if (Armor.Label(data).Contains("PRIVATE", StringComparison.Ordinal))
            {
                throw new SopException(BadData, "a CERTS argument holds a secret key");
            }

            result.AddRange(Certificate.ParseAll(data));
        }

        return result;
    }

    private static string ReadPassword(string source)
    {
        var bytes = ReadInput(source);
        try
        {
            return new UTF8Encoding(false, true).GetString(bytes).TrimEnd();
        }
        catch (DecoderFallbackException)
        {
            throw new SopException(PasswordNotHumanReadable, "a password is not UTF-8");
        }
    }

    /// <summary>Reads a file argument, or the draft's special designators @ENV:NAME and @FD:N.</summary>
    private static byte[] ReadInput(string source)
    {
        if (source.StartsWith("@ENV:", StringComparison.Ordinal))
        {
            var value = Environment.GetEnvironmentVariable(source[5..])
                ?? throw new SopException(MissingInput, $"environment variable {source[5..]} is not set");
            return Encoding.UTF8.GetBytes(value);
        }

        if (source.StartsWith("@FD:", StringComparison.Ordinal))
        {
            var path = $"/dev/fd/{source[4..]}";
            return File.Exists(path) ? File.ReadAllBytes(path) : throw new SopException(MissingInput, $"file descriptor {source[4..]} is not open");
        }

        if (source.StartsWith('@'))
        {
            throw new SopException(UnsupportedSpecialPrefix, $"unsupported special designator in '{source}'");
        }

        try
        {
            return File.ReadAllBytes(source);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new SopException(MissingInput, $"cannot read '{source}'");
        }
    }

    private byte[] ReadStdin()
    {
        using var buffer = new MemoryStream();
        stdin.CopyTo(buffer);
        return buffer.ToArray();
    }

    private void Write(byte[] data)
    {
        stdout.Write(data);
        stdout.Flush();
    }

    private void Write(string text) => Write(Encoding.UTF8.GetBytes(text));

    private int WriteAndReturn(string text)
    {
        Write(text);
        return 0;
    }

    private static void WriteNewFile(string path, byte[] data)
    {
        if (path.StartsWith("@FD:", StringComparison.Ordinal))
        {
            File.WriteAllBytes($"/dev/fd/{path[4..]}", data);
            return;
        }

        if (path.StartsWith('@'))
        {
            throw new SopException(UnsupportedSpecialPrefix, $"unsupported special designator in '{path}'");
        }

        try
        {
            using var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write);
            file.Write(data);
        }
        catch (IOException) when (File.Exists(path))
        {
            throw new SopException(OutputExists, $"'{path}' already exists");
        }
    }

    private static List<SignatureVerification> Filter(IEnumerable<SignatureVerification> results, string? notBefore, string? notAfter)
    {
        var from = ParseDate(notBefore, DateTimeOffset.MinValue);
        var until = ParseDate(notAfter, DateTimeOffset.UtcNow.AddMinutes(1));
        return results.Where(r => r.Status == SignatureStatus.Valid && r.CreationTime >= from && r.CreationTime <= until).ToList();
    }

    private static DateTimeOffset ParseDate(string? text, DateTimeOffset fallback)
    {
        if (text is null)
        {
            return fallback;
        }

        if (text == "-")
        {
            return fallback == DateTimeOffset.MinValue ? DateTimeOffset.MinValue : DateTimeOffset.MaxValue;
        }

        if (text == "now")
        {
            return DateTimeOffset.UtcNow;
        }

        return DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var date)
            ? date
            : throw new SopException(UnsupportedOption, $"cannot parse date '{text}'");
    }

    // VERIFICATIONS: "<ISO-8601 UTC> <signing key fingerprint> <primary key fingerprint> mode:<binary|text>"
    private static string VerificationLines(IEnumerable<SignatureVerification> results)
    {
        var output = new StringBuilder();
        foreach (var r in results)
        {
            output.Append(r.CreationTime.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture))
                .Append(' ').Append(r.SigningKey?.Hex)
                .Append(' ').Append(r.Certificate?.Hex)
                .Append(" mode:").Append(r.Mode == SignatureMode.Text ? "text" : "binary")
                .Append('\n');
        }

        return output.ToString();
    }
}

/// <summary>A SOP failure with the draft's exit code.</summary>
internal sealed class SopException(int exitCode, string message) : Exception(message)
{
    public int ExitCode { get; } = exitCode;
}

/// <summary>
/// One SOP subcommand line: options are <c>--name</c> or <c>--name=value</c> (repeatable),
/// everything else (and everything after <c>--</c>) is positional. An option that always takes a value
/// (<see cref="ValueOptions"/>) also takes it from the next argument, <c>--name value</c>, as sqop and gpg users type it.
/// </summary>
internal sealed class SopLine
{
    /// <summary>The options of the SOP draft whose argument is mandatory, so a following argument can only be theirs.</summary>
    internal static readonly HashSet<string> ValueOptions = new(StringComparer.Ordinal)
    {
        "as", "micalg-out", "not-after", "not-before", "profile", "sign-with", "signatures-out", "verifications-out",
        "verify-not-after", "verify-not-before", "verify-out", "verify-with", "with-key-password", "with-password",
        "session-key-out", "with-session-key",
    };

    private readonly List<(string Name, string? Value)> _options = [];

    public List<string> Positionals { get; } = [];

    public static SopLine Parse(IEnumerable<string> args)
    {
        var line = new SopLine();
        var rest = false;
        using var e = args.GetEnumerator();
        while (e.MoveNext())
        {
            string arg = e.Current;
            if (rest || !arg.StartsWith("--", StringComparison.Ordinal))
            {
                line.Positionals.Add(arg);
            }
            else if (arg == "--")
            {
                rest = true;
            }
            else
            {
                var eq = arg.IndexOf('=', StringComparison.Ordinal);
                if (eq >= 0)
                {
                    line._options.Add((arg[2..eq], arg[(eq + 1)..]));
                }
                else if (ValueOptions.Contains(arg[2..]))
                {
                    line._options.Add((arg[2..], e.MoveNext() ? e.Current : throw new SopException(SopRunner.MissingArg, $"{arg} needs a value")));
                }
                else
                {
                    line._options.Add((arg[2..], null));
                }
            }
        }

        return line;
    }

    public void Allow(params string[] names)
    {
        foreach (var (name, _) in _options)
        {
            if (!names.Contains(name))
            {
                throw new SopException(SopRunner.UnsupportedOption, $"unsupported option --{name}");
            }
        }
    }

    public void NoPositionals()
    {
        if (Positionals.Count > 0)
        {
            throw new SopException(SopRunner.UnsupportedOption, $"unexpected argument '{Positionals[0]}'");
        }
    }

    public bool Has(string name) => _options.Any(o => o.Name == name);

    public string? Value(string name) => _options.LastOrDefault(o => o.Name == name && o.Value is not null).Value;

    public IEnumerable<string> Values(string name) => _options.Where(o => o.Name == name && o.Value is not null).Select(o => o.Value!);
}
