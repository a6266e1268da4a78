using Letterlock.OpenPgp;

namespace Letterlock.Client.Tests.Discovery;

/// <summary>Certificates made once per test run by the OpenPGP core.</summary>
internal static class TestKeys
{
    private static readonly Lazy<Certificate> LazyBob = new(() => KeyGenerator.Generate("Bob <bob@beta.test>", "").Certificate);
    private static readonly Lazy<Certificate> LazyBob2 = new(() => KeyGenerator.Generate("Bob <bob@beta.test>", "").Certificate);
    private static readonly Lazy<Certificate> LazyCarol = new(() => KeyGenerator.Generate("Carol <carol@beta.test>", "").Certificate);
    private static readonly Lazy<Certificate> LazyExpiredBob = new(() => KeyGenerator.Generate("Bob <bob@beta.test>", "",
        new KeyGenerationOptions { CreationTime = DateTimeOffset.UtcNow.AddDays(-10), PrimaryValidity = TimeSpan.FromDays(1) }).Certificate);

    public static Certificate Bob => LazyBob.Value;

    public static Certificate Bob2 => LazyBob2.Value;

    public static Certificate Carol => LazyCarol.Value;

    public static Certificate ExpiredBob => LazyExpiredBob.Value;
}
