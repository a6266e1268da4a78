using System.CommandLine;

namespace Letterlock.Cli;

/// <summary>
/// The top-level subcommands, by name; add one line per subsystem. Building a subsystem's tree
/// loads its assemblies, so a run builds only the tree it invokes (a `letterlock sop` process
/// should start as fast as a small dedicated tool), and all of them only for the root help.
/// </summary>
internal static class CommandCatalog
{
    private static readonly (string Name, Func<Command> Create)[] Entries =
    [
        ("sop", Commands.SopCommand.Create),
        ("imap", Commands.ImapCommands.Create),
        ("provider", Commands.ProviderCommands.Build),
        ("account", Commands.AccountCommand.Create),
        ("contacts", Commands.ContactsCommand.Create),
        ("devices", Commands.AccountAccessCommands.Devices),
        ("bridge", Commands.BridgeCommand.Create),
        ("status", Commands.StatusCommand.Create),
        ("web", Commands.WebCommand.Create),
        ("sync", Commands.SyncCommand.Create),
        ("search", Commands.SearchCommand.Create),
        ("import", Commands.ImportCommand.Create),
        ("audit", Commands.AuditCommand.Create),
        ("transparency", Commands.TransparencyCommand.Create),
        ("sandbox", Commands.SandboxCommand.Create),
    ];

    /// <summary>The commands needed to run <paramref name="args"/>: the one named first, or all.</summary>
    public static IEnumerable<Command> For(IReadOnlyList<string> args)
    {
        foreach (var (name, create) in Entries)
        {
            if (args.Count > 0 && args[0] == name)
            {
                return [create()];
            }
        }

        return Entries.Select(e => e.Create());
    }
}
