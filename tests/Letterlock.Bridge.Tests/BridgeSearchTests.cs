using Letterlock.Client.Mail;
using Letterlock.Client.Search;
using Letterlock.Client.Store;
using Letterlock.Imap.Backend;
using Letterlock.Imap.Protocol;
using MailKit;
using MailKit.Net.Imap;
using MailKit.Search;
using MailKit.Security;
using MimeKit;

namespace Letterlock.Bridge.Tests;

/// <summary>
/// IMAP SEARCH through the bridge answered from the trigram index: the same UIDs as a scan that parses every
/// message and evaluates the key with the IMAP engine's evaluator, on real messages of the shared corpus.
/// </summary>
public sealed class BridgeSearchTests(BridgeSearchTests.Mailbox box) : IClassFixture<BridgeSearchTests.Mailbox>
{
    private readonly Dictionary<uint, byte[]> _bodies = box.Bodies;
    private readonly LocalStore _store = box.Store;
    private readonly BridgeAccountSettings _settings = box.Settings;
    private readonly AccountRecord _alice = box.Alice;
    private readonly FolderRecord _inbox = box.Inbox;

    private async Task<ImapClient> Connect()
    {
        var client = new ImapClient
        {
            ServerCertificateValidationCallback = (_, certificate, _, _) =>
                certificate is not null && string.Equals(
                    Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(certificate.GetRawCertData())),
                    _settings.CertificateSha256.Replace(":", "", StringComparison.Ordinal), StringComparison.Ordinal),
        };
        await client.ConnectAsync(_settings.ImapHost, _settings.ImapPort, SecureSocketOptions.StartTls);
        await client.AuthenticateAsync(_settings.UserName, _settings.Password);
        return client;
    }

    /// <summary>Each query as MailKit sends it and as the IMAP engine parses it, for the scan.</summary>
    public static TheoryData<string> Queries() =>
    [
        "TEXT the", "TEXT spamassassin", "BODY assassin", "TEXT ASSASSIN", "BODY ing", "BODY click here", "TEXT http://",
        "TEXT razor-users", "BODY zzzzqqqq", "BODY a", "SUBJECT re:", "SUBJECT [SAdev]", "FROM @", "FROM example.com", "FROM fork",
        "TO fork@", "CC spamassassin-talk", "BCC x", "HEADER Message-Id example", "HEADER X-Mailer outlook", "HEADER Received localhost",
        "OR BODY linux SUBJECT money", "NOT BODY the", "BODY linux BODY kernel", "OR BODY a BODY linux", "SUBJECT free BODY remove",
        "TEXT 2002",
    ];

    [Theory]
    [MemberData(nameof(Queries))]
    public async Task Search_through_the_bridge_answers_exactly_what_a_full_scan_answers(string criteria)
    {
        var key = ParseKey(criteria);
        var expected = _bodies.Where(b => SearchEvaluator.Matches(key, new Scanned(b.Key, b.Value), uint.MaxValue))
            .Select(b => b.Key).Order().ToList();

        using var client = await Connect();
        var inbox = client.Inbox;
        await inbox.OpenAsync(FolderAccess.ReadOnly);
        var actual = (await inbox.SearchAsync(ToMailKit(key))).Select(u => u.Id).Order().ToList();
        Assert.Equal(expected, actual);
        await client.DisconnectAsync(true);
    }

    [Fact]
    public async Task A_word_narrows_the_candidates_and_a_short_needle_does_not()
    {
        var mail = _store.Mail(_alice.Id);
        var rare = await mail.SearchCandidatesAsync(_inbox.Id, new TextContains("kernel"));
        Assert.NotNull(rare);
        Assert.InRange(rare!.Count, 1, _bodies.Count / 2);
        Assert.Empty((await mail.SearchCandidatesAsync(_inbox.Id, new TextContains("zzzzqqqq")))!);
        Assert.Null(await mail.SearchCandidatesAsync(_inbox.Id, new TextContains("ab")));
        Assert.Null(await mail.SearchCandidatesAsync(_inbox.Id, new AnyOf([new TextContains("linux"), new TextContains("a")])));
    }

    private static SearchKey ParseKey(string criteria)
    {
        var parsed = ImapCommandParser.Parse(new System.Buffers.ReadOnlySequence<byte>(System.Text.Encoding.UTF8.GetBytes($"a SEARCH {Quote(criteria)}\r\n")),
            new Letterlock.Imap.ImapServerOptions());
        return Assert.IsType<SearchCommand>(parsed.Command, exactMatch: true).Key;
    }

    /// <summary>Quotes the value operands so the engine's parser and MailKit see the same strings.</summary>
    private static string Quote(string criteria)
    {
        var words = criteria.Split(' ');
        var result = new List<string>();
        for (int i = 0; i < words.Length; i++)
        {
            var word = words[i];
            result.Add(word);
            if (word is "TEXT" or "BODY" or "SUBJECT" or "FROM" or "TO" or "CC" or "BCC")
            {
                // The rest up to the next key word is one value (the list above keeps values free of key words).
                int end = i + 1;
                while (end + 1 < words.Length && !IsKeyWord(words[end + 1]))
                {
                    end++;
                }

                result[^1] = word + " \"" + string.Join(' ', words[(i + 1)..(end + 1)]) + "\"";
                i = end;
            }
            else if (word == "HEADER")
            {
                result[^1] = $"HEADER {words[i + 1]} \"{words[i + 2]}\"";
                i += 2;
            }
        }

        return string.Join(' ', result);
    }

    private static bool IsKeyWord(string word) => word is "TEXT" or "BODY" or "SUBJECT" or "FROM" or "TO" or "CC" or "BCC" or "HEADER" or "OR" or "NOT";

    private static SearchQuery ToMailKit(SearchKey key) => key switch
    {
        AndKey and => and.Keys.Select(ToMailKit).Aggregate(SearchQuery.And),
        OrKey or => SearchQuery.Or(ToMailKit(or.Left), ToMailKit(or.Right)),
        NotKey not => SearchQuery.Not(ToMailKit(not.Key)),
        TextKey text => SearchQuery.MessageContains(text.Value),
        BodyKey body => SearchQuery.BodyContains(body.Value),
        HeaderKey { Field: "SUBJECT" } h => SearchQuery.SubjectContains(h.Value),
        HeaderKey { Field: "FROM" } h => SearchQuery.FromContains(h.Value),
        HeaderKey { Field: "TO" } h => SearchQuery.ToContains(h.Value),
        HeaderKey { Field: "CC" } h => SearchQuery.CcContains(h.Value),
        HeaderKey { Field: "BCC" } h => SearchQuery.BccContains(h.Value),
        HeaderKey h => SearchQuery.HeaderContains(h.Field, h.Value),
        _ => throw new ArgumentException("not in this test", nameof(key)),
    };

    /// <summary>A message as the bridge's scan saw it before the index: parsed from its bytes, nothing cached elsewhere.</summary>
    private sealed class Scanned(uint uid, byte[] body) : SearchableMessage
    {
        private MimeMessage? _parsed;

        public override Letterlock.Imap.Backend.Uid Uid => new(uid);
        public override Letterlock.Imap.Backend.MessageFlags Flags => Letterlock.Imap.Backend.MessageFlags.Empty;
        public override ModSeq ModSeq => new(1);
        public override DateTimeOffset InternalDate => DateTimeOffset.UtcNow;
        public override long Size => body.Length;
        public override DateTimeOffset? SentDate => null;
        public override HeaderList GetHeaders() => Parsed().Headers;
        public override string GetBodyText() => ExtractBodyText(Parsed());

        private MimeMessage Parsed()
        {
            using var stream = new MemoryStream(body, writable: false);
            return _parsed ??= MimeMessage.Load(new ParserOptions { MaxMimeDepth = 64 }, stream);
        }
    }

    /// <summary>One store and bridge with 400 corpus messages, shared by the tests of the class (read-only).</summary>
    public sealed class Mailbox : IAsyncLifetime
    {
        private const string Corpus = "/work/shared/testdata/spamassassin";
        private readonly string _dir = Path.Combine(Path.GetTempPath(), "letterlock-bridge-search-" + Guid.NewGuid().ToString("N"));
        private BridgeHost _bridge = null!;

        public Dictionary<uint, byte[]> Bodies { get; } = [];

        public LocalStore Store { get; private set; } = null!;

        public BridgeAccountSettings Settings { get; private set; } = null!;

        public AccountRecord Alice { get; private set; } = null!;

        public FolderRecord Inbox { get; private set; } = null!;

        public async Task InitializeAsync()
        {
            Directory.CreateDirectory(_dir);
            Store = await LocalStore.CreateAsync(Path.Combine(_dir, "client.db"), StoreUnlock.WithPassphrase("bridge search test"),
                new LocalStoreOptions { Argon2MemoryKiB = 8 * 1024, Argon2Passes = 1 });
            Alice = await Store.Accounts.CreateAsync("alice@alpha.test", "Alice", new Uri("https://alpha.test/"));
            var mail = Store.Mail(Alice.Id);
            Inbox = (await mail.FindFolderAsync("INBOX"))!;
            var files = Directory.GetFiles(Path.Combine(Corpus, "easy-ham-1")).Order(StringComparer.Ordinal).Take(250)
                .Concat(Directory.GetFiles(Path.Combine(Corpus, "spam-1")).Order(StringComparer.Ordinal).Take(150)).ToList();
            int i = 0;
            foreach (var file in files)
            {
                var raw = await File.ReadAllBytesAsync(file);
                // Half as sync and the bridge's APPEND store them (search text supplied), half parsed by the store itself.
                var (summary, text, searchText) = MessageSummaryBuilder.BuildForIndex(raw, DateTimeOffset.UtcNow, MessageSecurity.Plain);
                var stored = (await mail.AppendAsync(Inbox.Id, new NewMessage(summary, raw, [], text, i++ % 2 == 0 ? searchText : null))).Done;
                Bodies[stored.Uid.Value] = raw;
            }

            _bridge = await BridgeHost.StartAsync(Store, new BridgeOptions { ImapPort = 0, SmtpPort = 0 });
            Settings = Assert.Single(await _bridge.GetSettingsAsync());
        }

        public async Task DisposeAsync()
        {
            await _bridge.DisposeAsync();
            Store.Dispose();
            Directory.Delete(_dir, recursive: true);
        }
    }
}
