using System.Security.Cryptography;
using Letterlock.Client.Accounts;

namespace Letterlock.Client.Tests.Accounts;

/// <summary>The recovery code, the AMK wraps and the key bundle, with every lie a provider could tell about them.</summary>
public sealed class AccountSecretsTests
{
    private static readonly Guid Account = Guid.Parse("3f2c0a9e-5b1d-4a7e-9f00-0123456789ab");
    private static readonly Guid OtherAccount = Guid.Parse("11111111-2222-4333-8444-555555555555");

    [Fact]
    public void A_recovery_code_is_eight_groups_of_four_and_reads_back_as_typed()
    {
        var code = RecoveryCode.Generate();
        string text = code.ToString();
        Assert.Matches("^([0-9A-HJKMNP-TV-Z]{4}-){7}[0-9A-HJKMNP-TV-Z]{4}$", text);
        Assert.NotEqual(text, RecoveryCode.Generate().ToString());

        Assert.Equal(RecoveryCodeStatus.Valid, RecoveryCode.TryParse(text, out var parsed));
        Assert.Equal(text, parsed!.ToString());
        Assert.Equal(code.DeriveKey("x"), parsed.DeriveKey("x"));

        // lower case, spaces instead of dashes, O for 0 and I/L for 1 are what people type
        string sloppy = text.ToLowerInvariant().Replace('-', ' ').Replace('0', 'o').Replace('1', 'l');
        Assert.Equal(RecoveryCodeStatus.Valid, RecoveryCode.TryParse(sloppy, out var again));
        Assert.Equal(text, again!.ToString());
    }

    [Fact]
    public void Typos_lengths_and_foreign_characters_are_told_apart()
    {
        string text = RecoveryCode.Generate().ToString();
        char first = text[0];
        string typo = (first == 'A' ? 'B' : 'A') + text[1..];
        Assert.Equal(RecoveryCodeStatus.ChecksumMismatch, RecoveryCode.TryParse(typo, out var none));
        Assert.Null(none);

        // neighbours swapped (when they differ)
        int i = Enumerable.Range(0, 30).First(k => text[k] != '-' && text[k + 1] != '-' && text[k] != text[k + 1]);
        string swapped = text[..i] + text[i + 1] + text[i] + text[(i + 2)..];
        Assert.Equal(RecoveryCodeStatus.ChecksumMismatch, RecoveryCode.TryParse(swapped, out _));

        Assert.Equal(RecoveryCodeStatus.WrongLength, RecoveryCode.TryParse(text[..^1], out _));
        Assert.Equal(RecoveryCodeStatus.WrongLength, RecoveryCode.TryParse(text + "A", out _));
        Assert.Equal(RecoveryCodeStatus.WrongLength, RecoveryCode.TryParse("", out _));
        Assert.Equal(RecoveryCodeStatus.WrongLength, RecoveryCode.TryParse(null, out _));
        Assert.Equal(RecoveryCodeStatus.InvalidCharacter, RecoveryCode.TryParse("U" + text[1..], out _));
        Assert.Equal(RecoveryCodeStatus.InvalidCharacter, RecoveryCode.TryParse(text.Replace('-', '_'), out _));
    }

    [Fact]
    public void A_wrapped_amk_opens_only_for_its_slot_account_and_address()
    {
        byte[] amk = RandomNumberGenerator.GetBytes(32);
        var code = RecoveryCode.Generate();
        using var keys = AccountKeyWrap.RecoveryKeyPair(code);
        byte[] wrapped = AccountKeyWrap.Seal(amk, keys.PublicKey.Span, AmkSlotKind.Recovery, Account, "alice@alpha.test");
        Assert.Equal(AccountKeyWrap.WrappedLength, wrapped.Length);
        Assert.Equal(amk, AccountKeyWrap.Open(wrapped, keys.PrivateKey.Span, AmkSlotKind.Recovery, Account, "Alice@Alpha.test"));

        Assert.Null(AccountKeyWrap.Open(wrapped, keys.PrivateKey.Span, AmkSlotKind.Password, Account, "alice@alpha.test"));
        Assert.Null(AccountKeyWrap.Open(wrapped, keys.PrivateKey.Span, AmkSlotKind.Recovery, OtherAccount, "alice@alpha.test"));
        Assert.Null(AccountKeyWrap.Open(wrapped, keys.PrivateKey.Span, AmkSlotKind.Recovery, Account, "bob@alpha.test"));
        using (var otherCode = AccountKeyWrap.RecoveryKeyPair(RecoveryCode.Generate()))
        {
            Assert.Null(AccountKeyWrap.Open(wrapped, otherCode.PrivateKey.Span, AmkSlotKind.Recovery, Account, "alice@alpha.test"));
        }

        for (int i = 0; i < wrapped.Length; i++)
        {
            byte[] flipped = (byte[])wrapped.Clone();
            flipped[i] ^= 0x01;
            Assert.Null(AccountKeyWrap.Open(flipped, keys.PrivateKey.Span, AmkSlotKind.Recovery, Account, "alice@alpha.test"));
        }

        Assert.Null(AccountKeyWrap.Open(wrapped[..^1], keys.PrivateKey.Span, AmkSlotKind.Recovery, Account, "alice@alpha.test"));

        // the password slot's key pair comes from the export key, deterministically
        byte[] export = RandomNumberGenerator.GetBytes(64);
        using var password = AccountKeyWrap.PasswordKeyPair(export);
        using var again = AccountKeyWrap.PasswordKeyPair(export);
        Assert.Equal(password.PublicKey.ToArray(), again.PublicKey.ToArray());
        byte[] passwordWrap = AccountKeyWrap.Seal(amk, password.PublicKey.Span, AmkSlotKind.Password, Account, "alice@alpha.test");
        Assert.Equal(amk, AccountKeyWrap.Open(passwordWrap, again.PrivateKey.Span, AmkSlotKind.Password, Account, "alice@alpha.test"));
    }

    [Fact]
    public void A_key_bundle_detects_an_old_version_another_accounts_bundle_and_any_change()
    {
        byte[] amk = RandomNumberGenerator.GetBytes(32);
        var now = new DateTimeOffset(2025, 1, 2, 3, 4, 5, TimeSpan.Zero);
        var v1 = new KeyBundleContent([new BundledKey("openpgp-secret", [1, 2, 3], now), new BundledKey("inbox-secret", [4, 5, 6], now)]);
        var v2 = new KeyBundleContent([.. v1.Keys, new BundledKey("inbox-secret", [7, 8, 9], now.AddDays(1))]);
        byte[] first = KeyBundle.Seal(amk, Account, "alice@alpha.test", 1, v1);
        byte[] second = KeyBundle.Seal(amk, Account, "alice@alpha.test", 2, v2);

        Assert.Equal(KeyBundleStatus.Ok, KeyBundle.Open(amk, Account, "alice@alpha.test", second, 1, out var content, out ulong version));
        Assert.Equal(2UL, version);
        Assert.Equal(3, content!.Keys.Count);
        Assert.Equal(new byte[] { 7, 8, 9 }, content.Keys[2].Material);
        Assert.Equal(KeyBundleStatus.Ok, KeyBundle.Open(amk, Account, "alice@alpha.test", second, 2, out _, out _)); // the same version again is fine

        // an old bundle after a newer one was seen: a rollback
        Assert.Equal(KeyBundleStatus.Stale, KeyBundle.Open(amk, Account, "alice@alpha.test", first, 2, out content, out version));
        Assert.Null(content);
        Assert.Equal(1UL, version);

        // the version in the header is authenticated: relabelling the old bundle as version 3 breaks it
        byte[] relabelled = (byte[])first.Clone();
        relabelled[8] = 3;
        Assert.Equal(3UL, KeyBundle.PeekVersion(relabelled));
        Assert.Equal(KeyBundleStatus.NotAuthentic, KeyBundle.Open(amk, Account, "alice@alpha.test", relabelled, 2, out _, out _));

        // another account's bundle, even under the same AMK, and one for another address
        byte[] others = KeyBundle.Seal(amk, OtherAccount, "alice@alpha.test", 5, v2);
        Assert.Equal(KeyBundleStatus.NotAuthentic, KeyBundle.Open(amk, Account, "alice@alpha.test", others, 2, out _, out _));
        byte[] otherAddress = KeyBundle.Seal(amk, Account, "mallory@alpha.test", 5, v2);
        Assert.Equal(KeyBundleStatus.NotAuthentic, KeyBundle.Open(amk, Account, "alice@alpha.test", otherAddress, 2, out _, out _));
        Assert.Equal(KeyBundleStatus.NotAuthentic, KeyBundle.Open(RandomNumberGenerator.GetBytes(32), Account, "alice@alpha.test", second, 0, out _, out _));

        // every modified byte after the format byte
        for (int i = 1; i < second.Length; i++)
        {
            byte[] modified = (byte[])second.Clone();
            modified[i] ^= 0x80;
            Assert.Equal(KeyBundleStatus.NotAuthentic, KeyBundle.Open(amk, Account, "alice@alpha.test", modified, 0, out _, out _));
        }

        byte[] wrongFormat = (byte[])second.Clone();
        wrongFormat[0] = 2;
        Assert.Equal(KeyBundleStatus.Malformed, KeyBundle.Open(amk, Account, "alice@alpha.test", wrongFormat, 0, out _, out _));
        Assert.Equal(KeyBundleStatus.Malformed, KeyBundle.Open(amk, Account, "alice@alpha.test", second.AsSpan(0, 20), 0, out _, out _));
    }

    [Fact]
    public void A_bundle_never_carries_device_keys_or_the_amk()
    {
        byte[] amk = RandomNumberGenerator.GetBytes(32);
        var now = DateTimeOffset.UnixEpoch;
        foreach (string purpose in new[] { "device-secret", "account-master-key", "device-prekey" })
        {
            byte[] bundle = KeyBundle.Seal(amk, Account, "alice@alpha.test", 1, new KeyBundleContent([new BundledKey(purpose, [1], now)]));
            Assert.Equal(KeyBundleStatus.Malformed, KeyBundle.Open(amk, Account, "alice@alpha.test", bundle, 0, out _, out _));
            Assert.True(KeyBundleContent.IsDeviceOnly(purpose));
        }

        Assert.False(KeyBundleContent.IsDeviceOnly("openpgp-secret"));
        Assert.False(KeyBundleContent.IsDeviceOnly("amk-slot-recovery"));
    }
}
