namespace Letterlock.OpenPgp.Tests;

/// <summary>Keys generated once per test run (generation is cheap, but S2K unlock is not free).</summary>
internal static class TestKeys
{
    public const string Passphrase = "correct horse battery staple";

    private static readonly Lazy<GeneratedKey> AliceLazy = new(() => KeyGenerator.Generate("Alice <alice@example.org>", Passphrase));
    private static readonly Lazy<GeneratedKey> BobLazy = new(() => KeyGenerator.Generate("Bob <bob@example.net>", ""));
    private static readonly Lazy<GeneratedKey> CarolLazy = new(() => KeyGenerator.Generate("Carol <carol@example.com>", ""));

    public static GeneratedKey Alice => AliceLazy.Value;
    public static GeneratedKey Bob => BobLazy.Value;
    public static GeneratedKey Carol => CarolLazy.Value;

    public static UnlockedKey AliceUnlocked { get; } = Alice.SecretKey.Unlock(Passphrase);
    public static UnlockedKey BobUnlocked { get; } = Bob.SecretKey.Unlock();
    public static UnlockedKey CarolUnlocked { get; } = Carol.SecretKey.Unlock();
}
