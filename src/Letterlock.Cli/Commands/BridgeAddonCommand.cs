using System.CommandLine;
using System.IO.Compression;

namespace Letterlock.Cli.Commands;

/// <summary>
/// <c>letterlock bridge addon</c>: writes the Thunderbird add-on (clients/thunderbird, embedded in this binary) that
/// shows the bridge's security fields in the message header area.
/// </summary>
internal static class BridgeAddonCommand
{
    /// <summary>The add-on's id (manifest.json, <c>browser_specific_settings.gecko.id</c>): its file name in a profile.</summary>
    public const string AddonId = "letterlock@letterlock.invalid";

    private const string ResourcePrefix = "thunderbird/";

    // A fixed time for every entry, so the same sources give the same bytes.
    private static readonly DateTimeOffset EntryTime = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    public static Command Create()
    {
        var output = new Option<FileInfo>("--out")
        {
            Description = "The .xpi file to write (a zip; replaced if it exists).",
            Required = true,
        };
        var command = new Command("addon",
            "Write the Letterlock add-on for Thunderbird (128 or later) as an .xpi file. It shows, in the message header\n" +
            "area, whether a message read through the bridge was end-to-end encrypted, who signed it and how far that key\n" +
            "is trusted; its button opens the full detail. It reads only the bridge's Letterlock-* header fields, fetches\n" +
            "nothing and runs no remote code. Install it in Thunderbird: Add-ons Manager (Tools > Add-ons and Themes),\n" +
            "gear menu > Install Add-on From File..., pick the .xpi.\n\n" +
            "Examples:\n" +
            "  letterlock bridge addon --out letterlock-thunderbird.xpi")
        {
            output,
        };
        command.SetAction(async (parse, ct) =>
        {
            var file = parse.GetValue(output)!;
            try
            {
                await WriteAsync(file.FullName, ct);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new CliException($"cannot write {file.FullName}: {e.Message}", 3);
            }

            await parse.InvocationConfiguration.Output.WriteLineAsync(
                $"Wrote {file.FullName}. In Thunderbird: Add-ons Manager > gear menu > Install Add-on From File...");
            return 0;
        });
        return command;
    }

    /// <summary>The add-on's files (path inside the .xpi, resource name), in a stable order.</summary>
    internal static IReadOnlyList<(string Path, string Resource)> Files()
    {
        var assembly = typeof(BridgeAddonCommand).Assembly;
        return assembly.GetManifestResourceNames()
            .Where(n => n.StartsWith(ResourcePrefix, StringComparison.Ordinal))
            .Select(n => (Path: n[ResourcePrefix.Length..], Resource: n))
            .OrderBy(f => f.Path, StringComparer.Ordinal)
            .ToList();
    }

    /// <summary>Writes the .xpi (written next to <paramref name="path"/> first, then moved, so a failure leaves no half file).</summary>
    internal static async Task WriteAsync(string path, CancellationToken ct)
    {
        var files = Files();
        if (!files.Any(f => f.Path == "manifest.json"))
        {
            throw new InvalidOperationException("the add-on is not embedded in this build (no thunderbird/manifest.json resource)");
        }

        var assembly = typeof(BridgeAddonCommand).Assembly;
        string temp = path + ".tmp";
        try
        {
            await using (var stream = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None))
            using (var zip = new ZipArchive(stream, ZipArchiveMode.Create))
            {
                foreach (var (entryPath, resource) in files)
                {
                    var entry = zip.CreateEntry(entryPath, CompressionLevel.Optimal);
                    entry.LastWriteTime = EntryTime;
                    await using var source = assembly.GetManifestResourceStream(resource)
                        ?? throw new InvalidOperationException($"resource {resource} is missing");
                    await using var target = await entry.OpenAsync(ct);
                    await source.CopyToAsync(target, ct);
                }
            }

            File.Move(temp, path, overwrite: true);
        }
        finally
        {
            File.Delete(temp);
        }
    }
}
