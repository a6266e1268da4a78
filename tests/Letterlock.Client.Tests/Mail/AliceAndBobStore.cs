using Letterlock.Client.Mail;
using Letterlock.Client.Store;
using Letterlock.OpenPgp;

namespace Letterlock.Client.Tests.Mail;

/// <summary>A store holding alice's account with her keys, and bob's OpenPGP key made outside it: what mail tests send between.</summary>
public abstract class AliceAndBobStore : IAsyncLifetime
{
    private readonly TempDir _dir = new();

    /// <summary>The store.</summary>
    protected LocalStore Store { get; private set; } = null!;

    /// <summary>alice@alpha.test, with her keys.</summary>
    protected AccountRecord Alice { get; private set; } = null!;

    /// <summary>Alice's OpenPGP key, unlocked.</summary>
    protected UnlockedKey AliceKey { get; private set; } = null!;

    /// <summary>bob@beta.test's OpenPGP key (he has no account here).</summary>
    protected GeneratedKey Bob { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Store = await TestStores.Create(_dir);
        Alice = await Store.Accounts.CreateAsync("alice@alpha.test", "Alice", null);
        await AccountKeys.GenerateAsync(Store, Alice);
        AliceKey = await AccountKeys.LoadOpenPgpAsync(Store, Alice.Id);
        Bob = KeyGenerator.Generate("Bob <bob@beta.test>", ReadOnlySpan<char>.Empty);
    }

    public Task DisposeAsync()
    {
        Store.Dispose();
        _dir.Dispose();
        return Task.CompletedTask;
    }
}
