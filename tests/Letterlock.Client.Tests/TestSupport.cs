using Letterlock.Client.Store;

// The tests run on Linux (CI and the sandbox); Unix file modes are part of what they check.
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]

namespace Letterlock.Client.Tests;

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
