using System.Text;
using Letterlock.OpenPgp;

namespace Letterlock.Interop.OpenPgp.Tests;

/// <summary>Keys for letterlock, sqop and gpg, made once per test run in a temporary folder.</summary>
public sealed class InteropFixture : IDisposable
{
    public InteropFixture()
    {
        Dir = Directory.CreateTempSubdirectory("llinterop").FullName;
        Gpg = new GnuPg();

        var generated = Tools.Sop(null, Dir, "generate-key", "Letterlock <ll@example.org>");
        Assert.True(generated.ExitCode == 0, generated.Stderr);
        OurKey = Save("ll.key", generated.Stdout);
        OurCert = Save("ll.cert", Tools.Sop(generated.Stdout, Dir, "extract-cert").Stdout);

        var sqKey = Tools.Run("sqop", ["generate-key", "Sequoia <sq@example.net>"], null, Dir);
        Assert.True(sqKey.ExitCode == 0, sqKey.Stderr);
        SqKey = Save("sq.key", sqKey.Stdout);
        SqCert = Save("sq.cert", Tools.Run("sqop", ["extract-cert"], sqKey.Stdout, Dir).Stdout);

        var made = Gpg.Run(null, "--quick-gen-key", "GnuPG <gpg@example.com>", "future-default", "default", "never");
        Assert.True(made.ExitCode == 0, made.Stderr);
        GpgCert = Save("gpg.cert", Gpg.Run(null, "--export", "gpg@example.com").Stdout);
        GpgKey = Save("gpg.key", Gpg.Run(null, "--export-secret-keys", "gpg@example.com").Stdout);
        GpgFingerprint = Certificate.Parse(File.ReadAllBytes(GpgCert)).Fingerprint.Hex;
        Gpg.Import(File.ReadAllBytes(OurCert));
        OurFingerprint = Certificate.Parse(File.ReadAllBytes(OurCert)).Fingerprint.Hex;
    }

    public string Dir { get; }
    public GnuPg Gpg { get; }
    public string OurKey { get; }
    public string OurCert { get; }
    public string OurFingerprint { get; }
    public string SqKey { get; }
    public string SqCert { get; }
    public string GpgKey { get; }
    public string GpgCert { get; }
    public string GpgFingerprint { get; }

    public string Save(string name, byte[] data)
    {
        var path = Path.Combine(Dir, name);
        File.WriteAllBytes(path, data);
        return path;
    }

    public string NewPath(string name) => Path.Combine(Dir, Guid.NewGuid().ToString("N") + "-" + name);

    public static byte[] Payload(int size)
    {
        var data = new byte[size];
        new Random(size).NextBytes(data);
        return data;
    }

    public static string Text(byte[] data) => Encoding.UTF8.GetString(data);

    public void Dispose()
    {
        Gpg.Dispose();
        Directory.Delete(Dir, recursive: true);
    }
}
