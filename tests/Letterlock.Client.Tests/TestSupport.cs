using Letterlock.Client.Store;

// The tests run on Linux (CI and the sandbox); Unix file modes are part of what they check.
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]

namespace Letterlock.Client.Tests;

/// <summary>A fresh temporary folder, deleted afterwards.</summary>
internal sealed class TempDir : IDisposable
{
    public TempDir()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "letterlock-client-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>A clock the test moves by hand.</summary>
internal sealed class ManualTime(DateTimeOffset start) : TimeProvider
{
    private DateTimeOffset _now = start;

    public ManualTime() : this(new DateTimeOffset(2025, 1, 2, 3, 4, 5, TimeSpan.Zero)) { }

    public override DateTimeOffset GetUtcNow() => _now;

    public void Advance(TimeSpan by) => _now += by;
}

internal static class TestStores
{
    public const string Passphrase = "correct horse battery staple";

    /// <summary>The cheapest Argon2id the store allows, so tests stay fast; the defaults are tested once.</summary>
    public static LocalStoreOptions FastOptions() => new() { Argon2MemoryKiB = 8 * 1024, Argon2Passes = 1 };

    public static Task<LocalStore> Create(TempDir dir, TimeProvider? time = null, LocalStoreOptions? options = null) =>
        LocalStore.CreateAsync(dir.File("client.db"), StoreUnlock.WithPassphrase(Passphrase), options ?? FastOptions(), time);

    public static Task<LocalStore> Open(TempDir dir, TimeProvider? time = null, LocalStoreOptions? options = null) =>
        LocalStore.OpenAsync(dir.File("client.db"), StoreUnlock.WithPassphrase(Passphrase), options ?? FastOptions(), time);

    public static MessageSummary Summary(string subject, string from = "alice@alpha.test", string to = "bob@beta.test",
        string? fromName = null) =>
        new(new DateTimeOffset(2025, 1, 2, 3, 4, 5, TimeSpan.Zero), 1234, new DateTimeOffset(2025, 1, 2, 3, 0, 0, TimeSpan.Zero),
            subject, [new EnvelopeAddress(fromName, from)], [], [], [new EnvelopeAddress(null, to)], [], [], null,
            "<" + Guid.NewGuid().ToString("N") + "@alpha.test>", MessageSecurity.Plain);

    public static NewMessage Message(string subject, string body, params string[] flags) =>
        new(Summary(subject), System.Text.Encoding.UTF8.GetBytes("Subject: " + subject + "\r\n\r\n" + body), flags, body);
}
