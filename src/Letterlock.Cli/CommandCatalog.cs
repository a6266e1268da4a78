using System.CommandLine;

namespace Letterlock.Cli;

/// <summary>The list of top-level subcommands; add one line per subsystem.</summary>
internal static class CommandCatalog
{
    public static IEnumerable<Command> All()
    {
        yield return Commands.SopCommand.Create();
        yield return Commands.ImapCommands.Create();
        yield return Commands.ProviderCommands.Build();
        yield return Commands.AccountCommand.Create();
        yield return Commands.ContactsCommand.Create();
        yield return Commands.BridgeCommand.Create();
        yield return Commands.AuditCommand.Create();
        yield return Commands.TransparencyCommand.Create();
    }
}
