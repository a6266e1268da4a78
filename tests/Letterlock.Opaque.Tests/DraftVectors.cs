using System.Text.RegularExpressions;

namespace Letterlock.Cryptography.Opaque.Tests;

/// <summary>
/// Reads test vectors in the CPace draft's text layout: numbered section headings; values announced by
/// "label: (length: N bytes)" (the label may stand alone on the line before) followed by indented hex lines; and
/// "name = hex" input lines.
/// </summary>
internal static partial class DraftVectors
{
    /// <summary>The values of section <paramref name="section"/> (not its subsections), by label.</summary>
    public static Dictionary<string, string> Section(string fileName, string section)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        string? current = null;
        string? label = null;
        string previous = "";
        foreach (string line in File.ReadLines(Path.Combine(AppContext.BaseDirectory, "Vectors", fileName)))
        {
            Match heading = Heading().Match(line);
            if (heading.Success)
            {
                current = heading.Groups[1].Value;
                label = null;
                continue;
            }

            if (current != section)
            {
                continue;
            }

            Match announced = Announced().Match(line);
            Match input = Input().Match(line);
            Match hex = Hex().Match(line);
            if (announced.Success)
            {
                string text = announced.Groups[1].Value.Trim();
                label = (text.Length > 0 ? text : previous).TrimEnd(':');
                values[label] = "";
            }
            else if (input.Success)
            {
                values[input.Groups[1].Value] = input.Groups[2].Value;
                label = null;
            }
            else if (hex.Success && label is not null)
            {
                values[label] += hex.Groups[1].Value;
            }
            else
            {
                label = null;
            }

            if (line.Trim().Length > 0)
            {
                previous = line.Trim();
            }
        }

        return values.Count > 0 ? values : throw new InvalidOperationException($"No values in section {section} of {fileName}.");
    }

    public static byte[] Bytes(this Dictionary<string, string> values, string label) => Convert.FromHexString(values[label]);

    [GeneratedRegex(@"^([A-Z](?:\.\d+)+)\.\s+(.+)$")]
    private static partial Regex Heading();

    [GeneratedRegex(@"^\s+(.*?)\s*\(length: \d+ bytes\)\s*$")]
    private static partial Regex Announced();

    [GeneratedRegex(@"^\s+(\w+) = ([0-9a-f]+)$")]
    private static partial Regex Input();

    [GeneratedRegex(@"^\s+([0-9a-f]+)$")]
    private static partial Regex Hex();
}
