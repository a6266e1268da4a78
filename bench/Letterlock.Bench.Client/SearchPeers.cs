using System.Diagnostics;
using System.Globalization;
using Letterlock.Client.Search;
using Letterlock.Client.Store;

/// <summary>
/// The search rows of the bridge benchmark: <c>letterlock search</c> on the client store against notmuch and mu
/// indexing and searching the same messages (the private Dovecot's Maildir), in the same run.
/// </summary>
/// <remarks>
/// The peers are Debian's notmuch (Xapian) and maildir-utils (mu, Xapian). Their index is built from the Maildir
/// here; Letterlock's is built while the store is filled (parse, summary, keyed tokens and trigrams, three seals per
/// message), so the fill time is an upper bound on the index's share of it. Each query is timed three times warm
/// and the median kept; the peers run as processes (as a user runs them), so their start-up is part of their time,
/// and <c>letterlock search</c> is timed in-process (the query on an open store) and as the CLI would answer it.
/// </remarks>
static class SearchPeers
{
    /// <summary>One query in the syntax of each tool: the same words IMAP SEARCH is asked in the bridge rows.</summary>
    public static readonly (string Letterlock, string Notmuch, string Mu)[] Queries =
    [
        ("guaranteed", "guaranteed", "guaranteed"),
        ("zzyzx", "zzyzx", "zzyzx"),
        ("linux", "linux", "linux"),
        ("subject:money", "subject:money", "subject:money"),
        ("from:fork", "from:fork", "from:fork"),
        ("the", "the", "the"),
    ];

    public static async Task<Dictionary<string, (double Letterlock, double Notmuch, double Mu, string Counts)>> MeasureAsync(
        string work, string maildir, string storeFile, string passphrase)
    {
        Console.WriteLine($"- search peers on the Maildir {maildir}: notmuch {Version("notmuch", "--version")}, mu {Version("mu", "--version")}");
        var rows = new Dictionary<string, (double, double, double, string)>();

        // notmuch keeps its database apart from the mail (database.path), so the Maildir stays as Dovecot has it.
        string notmuchConfig = Path.Combine(work, "notmuch-config");
        string notmuchDb = Path.Combine(work, "notmuch-db");
        Directory.CreateDirectory(notmuchDb);
        await File.WriteAllTextAsync(notmuchConfig,
            $"[database]\npath={notmuchDb}\nmail_root={Path.GetDirectoryName(maildir)}\n[new]\ntags=\nignore=\n[search]\nexclude_tags=\n[maildir]\nsynchronize_flags=false\n");
        var notmuchEnv = new Dictionary<string, string> { ["NOTMUCH_CONFIG"] = notmuchConfig };
        string muHome = Path.Combine(work, "mu-home");
        Run("mu", ["init", "--muhome=" + muHome, "--maildir=" + maildir, "--quiet"], null);

        double notmuchIndex = Timed(() => Run("notmuch", ["new", "--quiet"], notmuchEnv));
        double muIndex = Timed(() => Run("mu", ["index", "--muhome=" + muHome, "--quiet"], null));
        Console.WriteLine($"  index built: notmuch new {notmuchIndex / 1000:F1} s, mu index {muIndex / 1000:F1} s");
        rows["build the index from nothing (Letterlock: the store fill above, which also parses, seals and summarises)"] =
            (double.NaN, notmuchIndex, muIndex, "");

        using var store = await LocalStore.OpenAsync(storeFile, StoreUnlock.WithPassphrase(passphrase));
        var account = (await store.Accounts.ListAsync()).Single();
        var mail = store.Mail(account.Id);
        foreach (var (ours, notmuch, mu) in Queries)
        {
            if (!MailQuery.TryParse(ours, out var query, out var problem))
            {
                throw new InvalidOperationException($"letterlock search {ours}: {problem}");
            }

            int found = 0;
            double letterlock = Median3(() =>
            {
                var result = mail.QueryAsync(query!).GetAwaiter().GetResult();
                found = result.IsOk ? result.Done.Count : throw new InvalidOperationException(result.Detail);
            });
            string notmuchOut = "";
            double notmuchTime = Median3(() => notmuchOut = Run("notmuch", ["search", "--output=messages", notmuch], notmuchEnv));
            string muOut = "";
            double muTime = Median3(() => muOut = Run("mu", ["find", "--muhome=" + muHome, "--fields=i", "--skip-dups", mu], null, allowNoMatch: true));
            string counts = $"{found} / {Lines(notmuchOut)} / {Lines(muOut)}";
            Console.WriteLine($"  {ours}: letterlock {letterlock:F1} ms, notmuch {notmuchTime:F1} ms, mu {muTime:F1} ms; messages found {counts}");
            rows[$"search `{ours}` (median of 3)"] = (letterlock, notmuchTime, muTime, counts);
        }

        return rows;
    }

    private static int Lines(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length;

    private static double Timed(Action action)
    {
        var sw = Stopwatch.StartNew();
        action();
        return sw.Elapsed.TotalMilliseconds;
    }

    private static double Median3(Action action)
    {
        action(); // warm: the page cache and each tool's own caches
        var times = new[] { Timed(action), Timed(action), Timed(action) };
        Array.Sort(times);
        return times[1];
    }

    private static string Version(string tool, string flag)
    {
        try
        {
            return Run(tool, [flag], null).Split('\n')[0].Trim();
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception)
        {
            throw new InvalidOperationException($"{tool} is not installed (bench/client.sh installs notmuch and maildir-utils)", e);
        }
    }

    private static string Run(string file, string[] arguments, Dictionary<string, string>? environment, bool allowNoMatch = false)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var (name, value) in environment ?? [])
        {
            start.Environment[name] = value;
        }

        using var process = Process.Start(start)!;
        var error = process.StandardError.ReadToEndAsync();
        string output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        // mu find exits 4 when nothing matches ("no matches"), which is an answer, not a failure.
        if (process.ExitCode != 0 && !(allowNoMatch && process.ExitCode == 4))
        {
            throw new InvalidOperationException($"{file} {string.Join(' ', arguments)} exited {process.ExitCode}: {error.Result.Trim()}");
        }

        return output;
    }

    public static string Format(double value) =>
        double.IsNaN(value) ? "-" : value.ToString(value < 100 ? "F1" : "F0", CultureInfo.InvariantCulture) + " ms";
}
