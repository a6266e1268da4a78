using System.Text.RegularExpressions;
using System.Xml.Linq;

namespace Letterlock.Architecture.Tests;

/// <summary>
/// The architecture invariants of docs/ARCHITECTURE.md that a machine can check: every project has a layer,
/// references point only downwards, and the pure libraries gain no socket, database, logging or host dependency,
/// neither as a package nor in their sources. A new project fails here until it is given its place below.
/// </summary>
public sealed partial class LayeringTests
{
    /// <summary>What each project may do.</summary>
    private enum Kind
    {
        /// <summary>No I/O beyond the bytes it is handed: no sockets, files, database, logging framework or DI.</summary>
        Pure,

        /// <summary>A library that does host-level I/O (sockets, SQL, HTTP) for the hosts above it.</summary>
        Io,

        /// <summary>A host: wires libraries together, owns processes, listeners and configuration.</summary>
        Host,
    }

    /// <summary>
    /// The layers, lowest first. A project may reference only projects of a strictly lower layer. Keep in step with
    /// the code map in docs/ARCHITECTURE.md.
    /// </summary>
    private static readonly Dictionary<string, (int Layer, Kind Kind)> Projects = new(StringComparer.Ordinal)
    {
        ["Letterlock.Primitives"] = (0, Kind.Pure),
        ["Letterlock.Hpke"] = (1, Kind.Pure),
        ["Letterlock.Api"] = (1, Kind.Pure),
        ["Letterlock.OpenPgp"] = (1, Kind.Pure),
        ["Letterlock.Transparency"] = (1, Kind.Pure),
        ["Letterlock.Opaque"] = (1, Kind.Pure),
        ["Letterlock.Dns"] = (1, Kind.Io),
        ["Letterlock.Imap"] = (2, Kind.Pure),
        ["Letterlock.Native"] = (2, Kind.Pure),
        ["Letterlock.Sop"] = (2, Kind.Io),
        ["Letterlock.Sop.Cli"] = (3, Kind.Host),
        ["Letterlock.Smtp"] = (2, Kind.Io),
        ["Letterlock.Imap.Server"] = (3, Kind.Io),
        ["Letterlock.Relay"] = (3, Kind.Io),
        ["Letterlock.Provider"] = (4, Kind.Host),
        ["Letterlock.Client"] = (4, Kind.Io),
        ["Letterlock.Bridge"] = (5, Kind.Host),
        ["Letterlock.Web"] = (6, Kind.Host),
        ["Letterlock.Sandbox"] = (7, Kind.Host),
        ["Letterlock.Cli"] = (8, Kind.Host),
    };

    /// <summary>Packages and framework references that bring sockets, databases, logging or hosting.</summary>
    private static readonly string[] HostPackages =
    [
        "Npgsql", "Microsoft.Data.Sqlite", "Microsoft.Extensions.Logging", "Microsoft.Extensions.Logging.Abstractions",
        "Microsoft.Extensions.DependencyInjection", "Microsoft.Extensions.Hosting", "Microsoft.AspNetCore.App",
        "MailKit", "SmtpServer", "DnsClient", "System.CommandLine", "Spectre.Console",
    ];

    /// <summary>Packages that make a host: a DI container, a web server, a command line or a console UI.</summary>
    private static readonly string[] HostingPackages =
    [
        "Microsoft.Extensions.DependencyInjection", "Microsoft.Extensions.Hosting", "Microsoft.AspNetCore.App",
        "System.CommandLine", "Spectre.Console",
    ];

    /// <summary>Database drivers, and the projects that own a database and so may ship one.</summary>
    private static readonly string[] DatabaseDrivers = ["Npgsql", "Microsoft.Data.Sqlite"];

    private static readonly string[] DatabaseOwners = ["Letterlock.Provider", "Letterlock.Client"];

    /// <summary>Source patterns that mean I/O or hosting in a pure library.</summary>
    private static readonly (string Pattern, string What)[] ImpureSource =
    [
        (@"\bSystem\.Net\.Sockets\b|\bnew\s+(Socket|TcpClient|TcpListener|UdpClient)\b", "sockets"),
        (@"\bHttpClient\b|\bSystem\.Net\.Http\b", "HTTP"),
        (@"\b(File|Directory)\.\w+\(|\bnew\s+FileStream\b", "files"),
        (@"\bConsole\.", "the console"),
        (@"\bILogger\b|\bMicrosoft\.Extensions\.Logging\b", "a logging framework"),
        (@"\bIServiceProvider\b|\bMicrosoft\.Extensions\.DependencyInjection\b", "a DI container"),
        (@"\bProcess\.Start\b|\bEnvironment\.GetEnvironmentVariable\b", "the process environment"),
    ];

    public static TheoryData<string> SourceProjects() => new(ProjectFiles().Select(Path.GetFileNameWithoutExtension).Order(StringComparer.Ordinal)!);

    [Fact]
    public void Every_project_under_src_has_a_layer()
    {
        var unplaced = ProjectFiles().Select(Path.GetFileNameWithoutExtension).Where(p => !Projects.ContainsKey(p!)).ToList();
        Assert.True(unplaced.Count == 0, $"give these projects a layer and kind in {nameof(LayeringTests)}.{nameof(Projects)} and a line in docs/ARCHITECTURE.md: {string.Join(", ", unplaced)}");
        var vanished = Projects.Keys.Where(p => !ProjectFiles().Any(f => Path.GetFileNameWithoutExtension(f) == p)).ToList();
        Assert.True(vanished.Count == 0, $"projects in the table that no longer exist: {string.Join(", ", vanished)}");
    }

    [Theory]
    [MemberData(nameof(SourceProjects))]
    public void References_point_only_downwards(string project)
    {
        var (layer, _) = Projects[project];
        foreach (string reference in ProjectReferences(project))
        {
            Assert.True(Projects.TryGetValue(reference, out var target), $"{project} references {reference}, which has no layer");
            Assert.True(target.Layer < layer, $"{project} (layer {layer}) references {reference} (layer {target.Layer}): references must point to a lower layer");
        }
    }

    [Theory]
    [MemberData(nameof(SourceProjects))]
    public void Pure_libraries_take_no_host_package(string project)
    {
        if (Projects[project].Kind != Kind.Pure)
        {
            return;
        }

        var document = Load(project);
        var host = Packages(project).Where(p => HostPackages.Any(h => p.StartsWith(h, StringComparison.OrdinalIgnoreCase))).ToList();
        Assert.True(host.Count == 0, $"{project} is pure but references {string.Join(", ", host)}");
        Assert.Equal("Microsoft.NET.Sdk", (string?)document.Root!.Attribute("Sdk"));
    }

    [Theory]
    [MemberData(nameof(SourceProjects))]
    public void Io_libraries_take_no_hosting_package(string project)
    {
        if (Projects[project].Kind != Kind.Io)
        {
            return;
        }

        var hosting = Packages(project).Where(p => HostingPackages.Any(h => p.StartsWith(h, StringComparison.OrdinalIgnoreCase))).ToList();
        Assert.True(hosting.Count == 0, $"{project} is an I/O library but references {string.Join(", ", hosting)}: that belongs to a host");
        Assert.Equal("Microsoft.NET.Sdk", (string?)Load(project).Root!.Attribute("Sdk"));
    }

    [Theory]
    [MemberData(nameof(SourceProjects))]
    public void Only_projects_that_own_a_database_ship_a_driver(string project)
    {
        if (DatabaseOwners.Contains(project))
        {
            return;
        }

        var drivers = Packages(project).Where(p => DatabaseDrivers.Contains(p, StringComparer.OrdinalIgnoreCase)).ToList();
        Assert.True(drivers.Count == 0, $"{project} owns no database but references {string.Join(", ", drivers)}");
    }

    [Theory]
    [MemberData(nameof(SourceProjects))]
    public void Pure_libraries_do_no_io_in_their_sources(string project)
    {
        if (Projects[project].Kind != Kind.Pure)
        {
            return;
        }

        var findings = new List<string>();
        string folder = Path.Combine(Root, "src", project);
        foreach (string file in Directory.EnumerateFiles(folder, "*.cs", SearchOption.AllDirectories).Where(f => !IsBuildOutput(folder, f)))
        {
            string text = CommentOrString().Replace(File.ReadAllText(file), " ");
            foreach (var (pattern, what) in ImpureSource)
            {
                var match = Regex.Match(text, pattern);
                if (match.Success)
                {
                    findings.Add($"{Path.GetRelativePath(Root, file)}: {what} ('{match.Value}')");
                }
            }
        }

        Assert.True(findings.Count == 0, $"{project} is pure but uses:\n{string.Join("\n", findings)}");
    }

    /// <summary>
    /// `letterlock-sop` starts in a few milliseconds because its NativeAOT image holds only the OpenPGP code: every type
    /// in the image costs start-up (its data is expanded and its statics allocated before Main). A reference to the
    /// provider, the client or a hosting, logging or command-line package would bring theirs into every SOP process
    /// (docs/PERFORMANCE.md, "Start-up").
    /// </summary>
    [Fact]
    public void The_sop_executable_holds_only_the_openpgp_code()
    {
        var closure = new SortedSet<string>(StringComparer.Ordinal);
        var pending = new Stack<string>(["Letterlock.Sop.Cli"]);
        while (pending.TryPop(out var project))
        {
            if (closure.Add(project))
            {
                foreach (var reference in ProjectReferences(project))
                {
                    pending.Push(reference);
                }
            }
        }

        Assert.Equal(["Letterlock.OpenPgp", "Letterlock.Primitives", "Letterlock.Sop", "Letterlock.Sop.Cli"], closure);
        var packages = closure.SelectMany(p => Load(p).Descendants("PackageReference").Select(e => (string)e.Attribute("Include")!))
            .Order(StringComparer.Ordinal).Distinct().ToList();
        Assert.Equal(["BouncyCastle.Cryptography", "MimeKit", "NSec.Cryptography"], packages);
    }

    [Fact]
    public void The_checks_catch_what_they_are_for()
    {
        // The source scan sees I/O in code, not in comments or strings.
        string code = CommentOrString().Replace("var s = new TcpClient(); // File.ReadAllText(\"x\")\nstring t = \"Console.WriteLine\";", " ");
        Assert.Matches(ImpureSource[0].Pattern, code);
        Assert.DoesNotMatch(ImpureSource[2].Pattern, code);
        Assert.DoesNotMatch(ImpureSource[3].Pattern, code);
    }

    /// <summary>The project's package and framework references.</summary>
    private static IEnumerable<string> Packages(string project)
    {
        var document = Load(project);
        return document.Descendants("PackageReference").Select(e => (string?)e.Attribute("Include"))
            .Concat(document.Descendants("FrameworkReference").Select(e => (string?)e.Attribute("Include")))
            .OfType<string>();
    }

    private static IEnumerable<string> ProjectReferences(string project) =>
        Load(project).Descendants("ProjectReference")
            .Select(e => Path.GetFileNameWithoutExtension(((string)e.Attribute("Include")!).Replace('\\', '/')));

    private static XDocument Load(string project) => XDocument.Load(Path.Combine(Root, "src", project, project + ".csproj"));

    private static IEnumerable<string> ProjectFiles() =>
        Directory.EnumerateDirectories(Path.Combine(Root, "src"))
            .Select(d => Path.Combine(d, Path.GetFileName(d) + ".csproj"))
            .Where(File.Exists);

    internal static bool IsBuildOutput(string projectFolder, string file)
    {
        string first = Path.GetRelativePath(projectFolder, file).Split(Path.DirectorySeparatorChar)[0];
        return first is "bin" or "obj";
    }

    internal static readonly string Root = FindRoot();

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Letterlock.slnx")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("Letterlock.slnx not found above " + AppContext.BaseDirectory);
    }

    /// <summary>Line and block comments, string literals (regular, verbatim, raw) and character literals.</summary>
    [GeneratedRegex(@"//[^\n]*|/\*.*?\*/|"""""".*?""""""|@""(?:[^""]|"""")*""|""(?:\\.|[^""\\\n])*""|'(?:\\.|[^'\\\n])'", RegexOptions.Singleline)]
    internal static partial Regex CommentOrString();
}
