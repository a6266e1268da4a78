using System.Text.RegularExpressions;

namespace Letterlock.Cryptography.Opaque.Tests;

/// <summary>
/// Reads test vectors kept in the RFC's own text layout (Vectors/*.txt): numbered section headings, then
/// "name: value" or "name = value" lines whose long hex values wrap onto indented continuation lines.
/// </summary>
internal static partial class RfcVectors
{
    /// <summary>Every section of the file with its fields, in order.</summary>
    public static IReadOnlyList<(string Section, string Title, Dictionary<string, string> Fields)> Load(string fileName)
    {
        var sections = new List<(string, string, Dictionary<string, string>)>();
        Dictionary<string, string>? fields = null;
        string? lastField = null;
        foreach (string line in File.ReadLines(Path.Combine(AppContext.BaseDirectory, "Vectors", fileName)))
        {
            Match heading = Heading().Match(line);
            if (heading.Success)
            {
                fields = new Dictionary<string, string>(StringComparer.Ordinal);
                sections.Add((heading.Groups[1].Value, heading.Groups[2].Value.Trim(), fields));
                lastField = null;
                continue;
            }

            if (fields is null)
            {
                continue;
            }

            Match field = Field().Match(line);
            if (field.Success)
            {
                lastField = field.Groups[1].Value;
                fields[lastField] = field.Groups[2].Value.Trim();
                continue;
            }

            Match continuation = Continuation().Match(line);
            if (continuation.Success && lastField is not null)
            {
                fields[lastField] += continuation.Groups[1].Value;
            }
            else if (line.Trim().Length == 0)
            {
                lastField = null;
            }
        }

        return sections;
    }

    /// <summary>The fields of section <paramref name="section"/> and all its subsections, merged.</summary>
    public static Dictionary<string, string> Vector(string fileName, string section)
    {
        var merged = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (id, _, fields) in Load(fileName))
        {
            if (id == section || id.StartsWith(section + ".", StringComparison.Ordinal))
            {
                foreach (var (name, value) in fields)
                {
                    merged[name] = value;
                }
            }
        }

        return merged.Count > 0 ? merged : throw new InvalidOperationException($"No section {section} in {fileName}.");
    }

    public static byte[] Hex(this Dictionary<string, string> vector, string name) => Convert.FromHexString(vector[name]);

    [GeneratedRegex(@"^([A-Z](?:\.\d+)+)\.\s+(.+)$")]
    private static partial Regex Heading();

    [GeneratedRegex(@"^\s+([A-Za-z][A-Za-z0-9_]*)(?:: | = )(.+)$")]
    private static partial Regex Field();

    [GeneratedRegex(@"^\s+([0-9a-f]+)$")]
    private static partial Regex Continuation();
}
