namespace Letterlock.Cli.Tests.Thunderbird;

/// <summary>A test that drives Debian's Thunderbird under Xvfb: skipped, saying why, only where they are not installed.</summary>
public sealed class ThunderbirdFactAttribute : FactAttribute
{
    public ThunderbirdFactAttribute()
    {
        var missing = new[] { "thunderbird", "Xvfb", "xdotool", "import", "convert", "certutil" }.Where(tool => Which(tool) is null).ToList();
        if (missing.Count > 0)
        {
            Skip = $"needs {string.Join(", ", missing)} (scripts/install-test-deps installs them)";
        }
    }

    internal static string? Which(string tool) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator)
            .Select(dir => Path.Combine(dir, tool))
            .FirstOrDefault(File.Exists);
}
