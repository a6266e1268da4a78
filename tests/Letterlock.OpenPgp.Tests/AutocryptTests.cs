using Letterlock.OpenPgp.Autocrypt;

namespace Letterlock.OpenPgp.Tests;

public sealed class AutocryptTests
{
    // The example header of the Autocrypt Level 1 specification (example-simple-autocrypt.eml),
    // Alice's Ed25519/Cv25519 key created 2019-01-22 with two years' validity.
    internal const string SpecExample =
        "addr=alice@autocrypt.example; prefer-encrypt=mutual; keydata=\n" +
        " mDMEXEcE6RYJKwYBBAHaRw8BAQdArjWwk3FAqyiFbFBKT4TzXcVBqPTB3gmzlC/Ub7O1u120F2F\n" +
        " saWNlQGF1dG9jcnlwdC5leGFtcGxliJYEExYIAD4WIQTrhbtfozp14V6UTmPyMVUMT0fjjgUCXE\n" +
        " cE6QIbAwUJA8JnAAULCQgHAgYVCgkICwIEFgIDAQIeAQIXgAAKCRDyMVUMT0fjjkqLAP9frlijw\n" +
        " BJvA+HFnqCZcYIVxlyXzS5Gi5gMTpp37K73jgD/VbKYhkwk9iu689OYH4K7q7LbmdeaJ+RX88Y/\n" +
        " ad9hZwy4OARcRwTpEgorBgEEAZdVAQUBAQdAQv8GIa2rSTzgqbXCpDDYMiKRVitCsy203x3sE9+\n" +
        " eviIDAQgHiHgEGBYIACAWIQTrhbtfozp14V6UTmPyMVUMT0fjjgUCXEcE6QIbDAAKCRDyMVUMT0\n" +
        " fjjlnQAQDFHUs6TIcxrNTtEZFjUFm1M0PJ1Dng/cDW4xN80fsn0QEA22Kr7VkCjeAEC08VSTeV+\n" +
        " QFsmz55/lntWkwYWhmvOgE=";

    private static readonly DateTimeOffset SpecTime = new(2019, 2, 1, 0, 0, 0, TimeSpan.Zero);

    [Fact]
    public void Spec_example_header_parses()
    {
        var status = AutocryptHeader.TryParse(SpecExample.Replace("\n", "", StringComparison.Ordinal), "alice@autocrypt.example", out var header, now: SpecTime);
        Assert.Equal(AutocryptHeaderStatus.Valid, status);
        Assert.Equal("alice@autocrypt.example", header!.Address);
        Assert.Equal(PreferEncrypt.Mutual, header.PreferEncrypt);
        Assert.Equal("EB85BB5FA33A75E15E944E63F231550C4F47E38E", header.Certificate.Fingerprint.Hex);
        Assert.NotNull(header.Certificate.SelectEncryptionKey(SpecTime));
        // The example key expired in 2021: today it cannot be used.
        Assert.Equal(AutocryptHeaderStatus.BadKeyData, AutocryptHeader.TryParse(SpecExample, "alice@autocrypt.example", out _));
    }

    [Theory]
    [InlineData("bob@autocrypt.example", AutocryptHeaderStatus.AddressMismatch)]
    [InlineData("ALICE@autocrypt.example", AutocryptHeaderStatus.Valid)]
    public void Addr_must_match_from(string from, AutocryptHeaderStatus expected) =>
        Assert.Equal(expected, AutocryptHeader.TryParse(SpecExample, from, out _, now: SpecTime));

    [Fact]
    public void Unknown_critical_attribute_invalidates_and_underscore_attribute_is_ignored()
    {
        Assert.Equal(AutocryptHeaderStatus.UnknownCriticalAttribute, AutocryptHeader.TryParse(SpecExample + "; color=blue", "alice@autocrypt.example", out _, now: SpecTime));
        Assert.Equal(AutocryptHeaderStatus.Valid, AutocryptHeader.TryParse("_color=blue; " + SpecExample, "alice@autocrypt.example", out _, now: SpecTime));
        Assert.Equal(AutocryptHeaderStatus.MissingAttribute, AutocryptHeader.TryParse("addr=alice@autocrypt.example", "alice@autocrypt.example", out _));
        Assert.Equal(AutocryptHeaderStatus.BadKeyData, AutocryptHeader.TryParse("addr=a@b.c; keydata=AAo=", "a@b.c", out _));
        Assert.Equal(AutocryptHeaderStatus.BadKeyData, AutocryptHeader.TryParse("addr=a@b.c; keydata=!!!", "a@b.c", out _));
    }

    [Fact]
    public void Header_size_cap_edge()
    {
        var header = AutocryptHeader.Create("bob@example.net", TestKeys.Bob.Certificate, PreferEncrypt.Mutual).ToHeaderValue();
        Assert.Equal(AutocryptHeaderStatus.Valid, AutocryptHeader.TryParse(header, "bob@example.net", out _, new OpenPgpOptions { MaxAutocryptHeaderSize = header.Length }));
        Assert.Equal(AutocryptHeaderStatus.TooLarge, AutocryptHeader.TryParse(header, "bob@example.net", out _, new OpenPgpOptions { MaxAutocryptHeaderSize = header.Length - 1 }));
        Assert.True(OpenPgpOptions.Default.MaxAutocryptHeaderSize == 10 * 1024);
    }

    [Fact]
    public void Created_header_round_trips_with_a_minimal_key()
    {
        var rotated = TestKeys.Bob.SecretKey.AddEncryptionSubkey("", now: DateTimeOffset.UtcNow.AddMinutes(-1));
        var header = AutocryptHeader.Create("bob@example.net", rotated.Certificate, PreferEncrypt.Mutual);
        Assert.Single(header.Certificate.Subkeys); // only the newest encryption subkey travels
        Assert.Equal(AutocryptHeaderStatus.Valid, AutocryptHeader.TryParse(header.ToHeaderValue(), "bob@example.net", out var parsed));
        Assert.Equal(rotated.Certificate.SelectEncryptionKey(DateTimeOffset.UtcNow)!.Fingerprint, parsed!.Certificate.Subkeys[0].Fingerprint);
        Assert.Equal(PreferEncrypt.Mutual, parsed.PreferEncrypt);
    }

    [Fact]
    public void Peer_state_follows_the_update_algorithm()
    {
        var now = DateTimeOffset.UtcNow;
        AutocryptHeader.TryParse(AutocryptHeader.Create("bob@example.net", TestKeys.Bob.Certificate, PreferEncrypt.Mutual).ToHeaderValue(), "bob@example.net", out var header);
        var state = AutocryptPeerState.Update(null, "bob@example.net", now.AddDays(-50), header);
        Assert.Equal(now.AddDays(-50), state.AutocryptTimestamp);
        Assert.Equal(AutocryptRecommendation.Encrypt, AutocryptPeerState.Recommend(state, PreferEncrypt.Mutual, false, now));
        Assert.Equal(AutocryptRecommendation.Available, AutocryptPeerState.Recommend(state, PreferEncrypt.NoPreference, false, now));
        Assert.Equal(AutocryptRecommendation.Encrypt, AutocryptPeerState.Recommend(state, PreferEncrypt.NoPreference, true, now));

        // An older message changes nothing.
        var older = AutocryptPeerState.Update(state, "bob@example.net", now.AddDays(-60), null);
        Assert.Same(state, older);

        // A newer message without a header: last_seen moves, the key stays; 35+ days later it is stale.
        var later = AutocryptPeerState.Update(state, "bob@example.net", now.AddDays(-10), null);
        Assert.Equal(now.AddDays(-10), later.LastSeen);
        Assert.Equal(state.PublicKey, later.PublicKey);
        Assert.Equal(AutocryptRecommendation.Discourage, AutocryptPeerState.Recommend(later, PreferEncrypt.Mutual, false, now));
        Assert.Equal(AutocryptRecommendation.Encrypt, AutocryptPeerState.Recommend(later, PreferEncrypt.Mutual, true, now));

        // No key at all: disable; gossip only: discourage.
        Assert.Equal(AutocryptRecommendation.Disable, AutocryptPeerState.Recommend(null, PreferEncrypt.Mutual, false, now));
        var gossiped = AutocryptPeerState.UpdateFromGossip(null, "carol@example.com", now, AutocryptHeader.Create("carol@example.com", TestKeys.Carol.Certificate, PreferEncrypt.NoPreference));
        Assert.Equal(AutocryptRecommendation.Discourage, AutocryptPeerState.Recommend(gossiped, PreferEncrypt.Mutual, false, now));
        Assert.Equal(TestKeys.Carol.Certificate.Fingerprint, gossiped.EncryptionKey(now)!.Fingerprint);

        // A future Date header cannot pin state: the effective date is capped at now.
        Assert.Equal(now, AutocryptPeerState.EffectiveDate(now.AddYears(5), now));
    }

    [Fact]
    public void Setup_message_round_trips_with_the_setup_code()
    {
        var (message, code) = AutocryptSetupMessage.Create(TestKeys.Alice.SecretKey, TestKeys.Passphrase, "alice@example.org", PreferEncrypt.Mutual);
        Assert.Matches(@"^\d{4}(-\d{4}){8}$", code);
        Assert.Equal("v1", message.Headers[AutocryptSetupMessage.HeaderName]);
        var raw = new MemoryStream();
        message.WriteTo(raw);
        raw.Position = 0;
        var reloaded = MimeKit.MimeMessage.Load(raw);
        var text = System.Text.Encoding.ASCII.GetString(raw.ToArray());
        Assert.Contains("Passphrase-Format: numeric9x4", text, StringComparison.Ordinal);
        Assert.Contains("Passphrase-Begin: " + code[..2], text, StringComparison.Ordinal);

        var (key, prefer) = AutocryptSetupMessage.Import(reloaded, code);
        Assert.Equal(TestKeys.Alice.SecretKey.Fingerprint, key.Fingerprint);
        Assert.Equal(PreferEncrypt.Mutual, prefer);
        Assert.False(key.IsProtected); // the setup code protected it in transit
        Assert.True(key.ChangePassphrase("", "new").IsProtected);

        Assert.Throws<NoDecryptionKeyException>(() => AutocryptSetupMessage.Import(reloaded, "1111-1111-1111-1111-1111-1111-1111-1111-1111"));
        Assert.Throws<MalformedInputException>(() => AutocryptSetupMessage.Import(new MimeKit.MimeMessage(), code));
    }
}
