using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Letterlock.Client.Import;

namespace Letterlock.Client.Tests.Import;

/// <summary>One message the test put into a source: where it must arrive, with which flags and date.</summary>
internal sealed record Expected(string Folder, byte[] Bytes, IReadOnlyList<string> Flags, DateTimeOffset Date)
{
    /// <summary>The message as stored: CRLF line ends.</summary>
    public string Hash => Convert.ToHexString(SHA256.HashData(MailImporter.NormalizeLineEnds(Bytes)));
}

/// <summary>The shared spamassassin corpus written out as an mbox file or a Maildir tree, in a temp folder.</summary>
internal static class ImportCorpus
{
    public static string Directory()
    {
        for (string? dir = AppContext.BaseDirectory; dir is not null; dir = Path.GetDirectoryName(dir))
        {
            string candidate = Path.Combine(dir, "..", "shared", "testdata", "spamassassin");
            if (System.IO.Directory.Exists(candidate))
            {
                return Path.GetFullPath(candidate);
            }
        }

        return "/work/shared/testdata/spamassassin";
    }

    /// <summary>The first <paramref name="count"/> corpus messages (in a fixed order), LF line ends as on disk.</summary>
    public static List<byte[]> Messages(int count) =>
        System.IO.Directory.EnumerateFiles(Directory(), "*.eml", SearchOption.AllDirectories).Order(StringComparer.Ordinal).Take(count)
            .Select(f => File.ReadAllBytes(f).AsSpan().ToArray()).Select(b => b.Where((c, i) => !(c == '\r' && i + 1 < b.Length && b[i + 1] == '\n')).ToArray())
            .Select(b => b.Length > 0 && b[^1] == '\n' ? b : [.. b, (byte)'\n']).ToList();

    private static readonly string[][] FlagSets = [[], ["\\Seen"], ["\\Seen", "\\Answered"], ["\\Flagged"], ["\\Seen", "\\Deleted"], ["\\Draft"]];

    /// <summary>Writes the messages as one mboxrd file (into <paramref name="folder"/>), flags in Status/X-Status headers.</summary>
    public static List<Expected> WriteMbox(string path, IReadOnlyList<byte[]> messages, string folder = "INBOX")
    {
        var expected = new List<Expected>();
        using var file = File.Create(path);
        for (int i = 0; i < messages.Count; i++)
        {
            var date = new DateTimeOffset(2001, 1, 1, 0, 0, 0, TimeSpan.Zero).AddMinutes(i * 37).AddSeconds(i % 60);
            var flags = FlagSets[i % FlagSets.Length].ToList();
            var message = WithStatus(messages[i], flags);
            file.Write(Encoding.ASCII.GetBytes("From sender" + i + "@example.org " + date.ToString("ddd MMM d HH:mm:ss yyyy", CultureInfo.InvariantCulture).Replace(" 1 ", "  1 ") + "\n"));
            foreach (var line in Lines(message))
            {
                // mboxrd: every line matching ^>*From  gets one more '>'.
                int q = 0;
                while (q < line.Length && line[q] == '>')
                {
                    q++;
                }

                if (line.AsSpan(q).StartsWith("From "u8))
                {
                    file.WriteByte((byte)'>');
                }

                file.Write(line);
            }

            if (message.Length > 0 && message[^1] != '\n')
            {
                file.WriteByte((byte)'\n');
            }

            file.WriteByte((byte)'\n');
            expected.Add(new Expected(folder, message, flags, date));
        }

        return expected;
    }

    /// <summary>The message with Status/X-Status headers for its flags put first (as mutt does), or unchanged without flags.</summary>
    public static byte[] WithStatus(byte[] message, IReadOnlyList<string> flags)
    {
        string status = flags.Contains("\\Seen") ? "Status: RO\n" : "";
        string x = string.Concat(flags.Select(f => f switch { "\\Answered" => "A", "\\Flagged" => "F", "\\Deleted" => "D", "\\Draft" => "T", _ => "" }));
        var head = Encoding.ASCII.GetBytes(status + (x.Length > 0 ? "X-Status: " + x + "\n" : ""));
        return [.. head, .. message];
    }

    /// <summary>
    /// Writes the messages as a Maildir tree: the root (INBOX), a Maildir++ folder <c>.Lists.dev</c> (Lists/dev) and a
    /// nested folder <c>Archive/2019</c> (Dovecot's LAYOUT=fs); flags in the <c>:2,</c> suffix, every seventh in new/.
    /// </summary>
    /// <remarks>With <paramref name="onlyMaildirPlusPlus"/> the third folder is <c>.Archive.2019</c> (Dovecot's default layout reads only that).</remarks>
    public static List<Expected> WriteMaildir(string root, IReadOnlyList<byte[]> messages, bool onlyMaildirPlusPlus = false)
    {
        (string Folder, string Dir)[] folders = [("INBOX", root), ("Lists/dev", Path.Combine(root, ".Lists.dev")),
            ("Archive/2019", onlyMaildirPlusPlus ? Path.Combine(root, ".Archive.2019") : Path.Combine(root, "Archive", "2019"))];
        foreach (var (_, dir) in folders)
        {
            foreach (var sub in (string[])["cur", "new", "tmp"])
            {
                System.IO.Directory.CreateDirectory(Path.Combine(dir, sub));
            }
        }

        // A message still being delivered is never read.
        File.WriteAllText(Path.Combine(root, "tmp", "1.M1.host"), "Subject: half\n\nhalf");
        var expected = new List<Expected>();
        for (int i = 0; i < messages.Count; i++)
        {
            var (folder, dir) = folders[i % folders.Length];
            bool isNew = i % 7 == 0;
            var flags = isNew ? [] : FlagSets[i % FlagSets.Length];
            string letters = string.Concat(flags.Select(f => f switch
            {
                "\\Draft" => "D", "\\Flagged" => "F", "\\Answered" => "R", "\\Seen" => "S", "\\Deleted" => "T", _ => "",
            }).Order(StringComparer.Ordinal));
            string name = $"{1000000000 + i}.M{i}P1.host,S={messages[i].Length}" + (isNew ? "" : ":2," + letters);
            string path = Path.Combine(dir, isNew ? "new" : "cur", name);
            File.WriteAllBytes(path, messages[i]);
            var date = new DateTimeOffset(2019, 3, 1, 12, 0, 0, TimeSpan.Zero).AddHours(i);
            File.SetLastWriteTimeUtc(path, date.UtcDateTime);
            expected.Add(new Expected(folder, messages[i], flags, date));
        }

        return expected;
    }

    private static IEnumerable<byte[]> Lines(byte[] message)
    {
        int start = 0;
        for (int i = 0; i < message.Length; i++)
        {
            if (message[i] == '\n')
            {
                yield return message[start..(i + 1)];
                start = i + 1;
            }
        }

        if (start < message.Length)
        {
            yield return message[start..];
        }
    }
}
