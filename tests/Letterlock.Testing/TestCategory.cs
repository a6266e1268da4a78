namespace Letterlock.Testing;

/// <summary>
/// The <c>Category</c> trait of tests that need more than the process they run in, so a developer can run the fast
/// set alone (docs/TESTING.md): <c>dotnet test --filter "Category!=Peer&amp;Category!=Process&amp;Category!=Browser"</c>.
/// A test class carries it as <c>[Trait(TestCategory.Name, TestCategory.Peer)]</c>.
/// </summary>
public static class TestCategory
{
    /// <summary>The trait's name.</summary>
    public const string Name = "Category";

    /// <summary>Starts a real peer program: PostgreSQL, Postfix, gpg, sqop, opendkim, Thunderbird.</summary>
    public const string Peer = "Peer";

    /// <summary>Runs the <c>letterlock</c> executable as a child process (crash, kill and cluster tests).</summary>
    public const string Process = "Process";

    /// <summary>Drives a real browser (Chromium through Playwright).</summary>
    public const string Browser = "Browser";

    /// <summary>A long soak, opt-in through <see cref="SoakFactAttribute"/>.</summary>
    public const string Soak = "Soak";
}
