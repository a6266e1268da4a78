using System.Globalization;
using System.Runtime.CompilerServices;

namespace Letterlock.Client.Import;

/// <summary>
/// Reads a Maildir, or a tree of them as Dovecot, Courier, mutt and Thunderbird lay them out, with flags and dates.
/// </summary>
/// <remarks>
/// <para>Folders: the root itself (<c>cur</c>/<c>new</c> beside it) is <see cref="RootFolder"/> (INBOX by default);
/// Maildir++ folders are its subdirectories named <c>.Folder.Sub</c> (Dovecot's and Courier's default layout:
/// <c>Folder/Sub</c>); nested directories holding <c>cur</c> or <c>new</c> (Dovecot's <c>LAYOUT=fs</c>, Thunderbird's
/// maildir store, whose children sit in <c>Folder.sbd/</c>) are named by their path. <c>tmp</c> is never read: a
/// message there is still being delivered.</para>
/// <para>Flags come from the file name's info suffix (<c>:2,</c> then letters in ASCII order, as the Maildir
/// specification writes it): <c>D</c> \Draft, <c>F</c> \Flagged, <c>P</c> $Forwarded, <c>R</c> \Answered,
/// <c>S</c> \Seen, <c>T</c> \Deleted; the lower-case letters are Dovecot keywords, named in the folder's
/// <c>dovecot-keywords</c> file. A message in <c>new/</c> has not been seen by a mail program. The internal date is
/// the file's modification time, which Dovecot sets to the arrival time.</para>
/// </remarks>
public sealed class MaildirReader(string root, ImportOptions options, string rootFolder = "INBOX") : IImportSource
{
    private const string AccountMailInbox = "INBOX";
    private long _done;
    private long? _total;

    /// <summary>The folder the root Maildir goes into.</summary>
    public string RootFolder { get; } = rootFolder;

    /// <inheritdoc />
    public string Description => $"Maildir {root}";

    /// <inheritdoc />
    public SourcePosition Position => new(Interlocked.Read(ref _done), _total, "messages");

    /// <inheritdoc />
    public async IAsyncEnumerable<SourceMessage> ReadAsync([EnumeratorCancellation] CancellationToken ct)
    {
        if (!Directory.Exists(root))
        {
            throw new ImportSourceException($"there is no directory {root}", unreachable: true);
        }

        var folders = Folders();
        if (folders.Count == 0)
        {
            throw new ImportSourceException($"{root} is not a Maildir: no cur/ or new/ directory in it or below it", unreachable: true);
        }

        var files = new List<(string Folder, string Path, bool New, IReadOnlyDictionary<char, string> Keywords)>();
        foreach (var (name, directory) in folders)
        {
            var keywords = Keywords(directory);
            foreach (var sub in (string[])["cur", "new"])
            {
                var path = Path.Combine(directory, sub);
                if (Directory.Exists(path))
                {
                    files.AddRange(Directory.EnumerateFiles(path).Where(f => !Path.GetFileName(f).StartsWith('.'))
                        .Order(StringComparer.Ordinal).Select(f => (name, f, sub == "new", (IReadOnlyDictionary<char, string>)keywords)));
                }
            }
        }

        _total = files.Count;
        foreach (var (folder, path, isNew, keywords) in files)
        {
            ct.ThrowIfCancellationRequested();
            Interlocked.Increment(ref _done);
            var where = Path.GetRelativePath(root, path);
            FileInfo info;
            byte[]? raw = null;
            string? problem = null;
            try
            {
                info = new FileInfo(path);
                if (info.Length > options.MaxMessageBytes)
                {
                    problem = $"the message is larger than the limit of {options.MaxMessageBytes} bytes (ImportOptions.MaxMessageBytes)";
                }
                else
                {
                    raw = await File.ReadAllBytesAsync(path, ct).ConfigureAwait(false);
                }
            }
            catch (FileNotFoundException)
            {
                continue; // moved by a mail program meanwhile (new/ to cur/ or deleted): not there to import
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new ImportSourceException($"cannot read {path}: {e.Message}", inner: e);
            }

            yield return new SourceMessage(folder, isNew ? [] : Flags(Path.GetFileName(path), keywords),
                new DateTimeOffset(info.LastWriteTimeUtc, TimeSpan.Zero), raw, where, problem);
        }
    }

    /// <summary>Flags from a Maildir file name's info suffix (<c>:2,FRS</c>; <c>;2,</c> or <c>!2,</c> where a colon cannot be in a file name).</summary>
    public static IReadOnlyList<string> Flags(string fileName, IReadOnlyDictionary<char, string>? keywords = null)
    {
        int info = -1;
        foreach (var marker in (string[])[":2,", "!2,", ";2,"])
        {
            info = fileName.LastIndexOf(marker, StringComparison.Ordinal);
            if (info >= 0)
            {
                break;
            }
        }

        if (info < 0)
        {
            return [];
        }

        var flags = new List<string>();
        foreach (var c in fileName.AsSpan(info + 3))
        {
            var flag = c switch
            {
                'D' => "\\Draft",
                'F' => "\\Flagged",
                'P' => "$Forwarded",
                'R' => "\\Answered",
                'S' => "\\Seen",
                'T' => "\\Deleted",
                >= 'a' and <= 'z' => keywords?.GetValueOrDefault(c),
                _ => null,
            };
            if (flag is not null && !flags.Contains(flag))
            {
                flags.Add(flag);
            }
        }

        return flags;
    }

    private List<(string Name, string Directory)> Folders()
    {
        var found = new List<(string, string)>();
        if (IsMaildir(root))
        {
            found.Add((RootFolder, root));
        }

        foreach (var directory in Directory.EnumerateDirectories(root).Order(StringComparer.Ordinal))
        {
            var name = Path.GetFileName(directory);
            if (name is "cur" or "new" or "tmp")
            {
                continue;
            }

            if (name.StartsWith('.'))
            {
                // Maildir++: ".Lists.dev" is Lists/dev (the separator is '.').
                if (name.Length > 1 && IsMaildir(directory))
                {
                    found.Add((string.Join('/', name[1..].Split('.', StringSplitOptions.RemoveEmptyEntries)), directory));
                }

                continue;
            }

            Nested(directory, Strip(name), found, depth: 1);
        }

        return found;
    }

    private static void Nested(string directory, string name, List<(string, string)> found, int depth)
    {
        if (depth > 64)
        {
            return; // deeper than any mail program nests; also ends a loop through links
        }

        if (IsMaildir(directory))
        {
            found.Add((name.Equals(AccountMailInbox, StringComparison.OrdinalIgnoreCase) ? AccountMailInbox : name, directory));
        }

        foreach (var child in Directory.EnumerateDirectories(directory).Order(StringComparer.Ordinal))
        {
            var childName = Path.GetFileName(child);
            if (childName is not ("cur" or "new" or "tmp") && !childName.StartsWith('.'))
            {
                Nested(child, name + "/" + Strip(childName), found, depth + 1);
            }
        }
    }

    // Thunderbird keeps a folder's children in "Name.sbd".
    private static string Strip(string name) => name.EndsWith(".sbd", StringComparison.Ordinal) ? name[..^4] : name;

    private static bool IsMaildir(string directory) =>
        Directory.Exists(Path.Combine(directory, "cur")) || Directory.Exists(Path.Combine(directory, "new"));

    /// <summary>Dovecot's <c>dovecot-keywords</c>: lines <c>N name</c>, keyword N being the letter <c>'a' + N</c>.</summary>
    private static Dictionary<char, string> Keywords(string directory)
    {
        var keywords = new Dictionary<char, string>();
        var path = Path.Combine(directory, "dovecot-keywords");
        if (!File.Exists(path))
        {
            return keywords;
        }

        foreach (var line in File.ReadLines(path))
        {
            var parts = line.Split(' ', 2, StringSplitOptions.TrimEntries);
            if (parts.Length == 2 && int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out int n) && n is >= 0 and < 26 &&
                parts[1].Length > 0)
            {
                keywords[(char)('a' + n)] = parts[1];
            }
        }

        return keywords;
    }
}
