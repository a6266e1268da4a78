using System.Diagnostics;
using System.Text;
using CsCheck;
using Letterlock.OpenPgp.Mime;
using MimeKit;

namespace Letterlock.OpenPgp.Tests;

/// <summary>
/// Hostile and messy input: the spamassassin corpus and random mutations of OpenPGP and MIME.
/// Only typed <see cref="OpenPgpException"/>s may escape; nothing hangs.
/// </summary>
public sealed class RobustnessTests
{
    private static readonly OpenPgpEngine Engine = new();
    private static readonly PgpMimeReader Reader = new();

    internal static string SpamAssassinDirectory()
    {
        var env = Environment.GetEnvironmentVariable("LETTERLOCK_TESTDATA");
        var candidates = new List<string>();
        if (env is not null)
        {
            candidates.Add(Path.Combine(env, "spamassassin"));
        }

        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Letterlock.slnx")))
            {
                candidates.Add(Path.Combine(dir.FullName, "..", "shared", "testdata", "spamassassin"));
                break;
            }
        }

        candidates.Add("/work/shared/testdata/spamassassin");
        return candidates.FirstOrDefault(Directory.Exists)
            ?? throw new DirectoryNotFoundException("the spamassassin corpus (../shared/testdata/spamassassin) is missing; set LETTERLOCK_TESTDATA");
    }

    [Fact]
    public void Every_spamassassin_message_reads_without_exception()
    {
        var files = Directory.GetFiles(SpamAssassinDirectory(), "*.eml", SearchOption.AllDirectories);
        Assert.True(files.Length >= 3000, $"only {files.Length} messages found");
        var context = new ReadContext { Keys = [TestKeys.BobUnlocked], Certificates = [TestKeys.Alice.Certificate] };
        var typed = 0;
        foreach (var file in files)
        {
            using var stream = File.OpenRead(file);
            try
            {
                var read = Reader.Read(stream, context);
                // nothing in the corpus was encrypted to Bob: nothing may read as decrypted or authenticated
                Assert.NotEqual(EncryptionStatus.Encrypted, read.Security.Encryption);
                Assert.False(read.Security.IsAuthenticated);
            }
            catch (OpenPgpException)
            {
                typed++; // e.g. an inline PGP block in spam that is not ours: typed, never a crash
            }
        }

        Assert.True(typed < files.Length / 10, $"{typed} messages failed with typed errors");
    }

    private static readonly Lazy<byte[][]> Seeds = new(() =>
    [
        Engine.Encrypt(Encoding.UTF8.GetBytes(new string('x', 300)), [TestKeys.Bob.Certificate], new EncryptOptions { Signers = [TestKeys.AliceUnlocked], Armor = false }),
        Engine.Encrypt("armored"u8, [TestKeys.Bob.Certificate], new EncryptOptions { Signers = [TestKeys.AliceUnlocked] }),
        Engine.SignInline("inline"u8, [TestKeys.AliceUnlocked], InlineSignStyle.Binary, armor: false),
        Engine.SignInline("clear\n"u8, [TestKeys.AliceUnlocked], InlineSignStyle.Cleartext),
        StrictnessTests.Craft(StrictnessTests.Compressed(StrictnessTests.Literal(new byte[2000])), withMdc: true),
        TestKeys.Alice.Certificate.Export(false),
        TestKeys.Alice.Certificate.Export(true),
        TestKeys.Bob.SecretKey.Export(false),
    ]);

    private static Gen<byte[]> Mutated(Gen<byte[]> seeds) =>
        Gen.Select(seeds, Gen.Int[0, 3], Gen.Int[0, int.MaxValue], Gen.Byte).Select(t =>
        {
            var (seed, kind, position, value) = t;
            var data = (byte[])seed.Clone();
            var at = position % Math.Max(1, data.Length);
            return kind switch
            {
                0 => Flip(data, at, value),
                1 => data[..at],
                2 => [.. data[..at], value, .. data[at..]],
                _ => [.. data[..at], .. data[Math.Min(data.Length, at + 1 + value % 16)..]],
            };
        });

    private static byte[] Flip(byte[] data, int at, byte value)
    {
        if (data.Length > 0)
        {
            data[at] ^= (byte)(value == 0 ? 1 : value);
        }

        return data;
    }

    [Fact]
    public void Mutated_openpgp_only_raises_typed_errors()
    {
        var seeds = Gen.Int[0, Seeds.Value.Length - 1].Select(i => Seeds.Value[i]);
        Mutated(seeds).Sample(input =>
        {
            var watch = Stopwatch.StartNew();
            Typed(() => Engine.Decrypt(input, new DecryptOptions { Keys = [TestKeys.BobUnlocked], Verifiers = [TestKeys.Alice.Certificate] }));
            Typed(() => Engine.VerifyInline(input, [TestKeys.Alice.Certificate]));
            Typed(() => Engine.VerifyDetached("x"u8, input, [TestKeys.Alice.Certificate]));
            Typed(() => Certificate.ParseAll(input));
            Typed(() => SecretKey.ParseAll(input));
            Typed(() => Engine.InlineDetach(input));
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(5), "one input took too long");
        }, iter: 400, threads: 1);
    }

    [Fact]
    public void Mutated_mime_only_raises_typed_errors()
    {
        var composer = new PgpMimeComposer();
        var encrypted = PgpMimeTests.MimeIoCanonical(composer.Encrypt(PgpMimeTests.Draft(), TestKeys.AliceUnlocked, PgpMimeTests.Certs)[0].Message);
        var signed = PgpMimeTests.MimeIoCanonical(composer.Sign(PgpMimeTests.Draft(), TestKeys.AliceUnlocked));
        var seeds = Gen.Int[0, 1].Select(i => i == 0 ? encrypted : signed);
        var context = new ReadContext { Keys = [TestKeys.BobUnlocked], Certificates = [TestKeys.Alice.Certificate] };
        Mutated(seeds).Sample(input =>
        {
            Typed(() => Reader.Read(new MemoryStream(input), context));
        }, iter: 300, threads: 1);
    }

    private static void Typed(Action action)
    {
        try
        {
            action();
        }
        catch (OpenPgpException)
        {
        }
    }

    private static void Typed<T>(Func<T> func) => Typed(() => { _ = func(); });
}
