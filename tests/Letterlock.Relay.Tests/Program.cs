namespace Letterlock.Relay.Tests;

/// <summary>
/// The test assembly's entry point. xunit never calls it; the crash test starts this assembly as a
/// separate relay process (<c>dotnet Letterlock.Relay.Tests.dll crash-host ...</c>) so it can kill it.
/// </summary>
public static class Program
{
    public static int Main(string[] args) => args.Length > 0 && args[0] == "crash-host" ? 0 : 2;
}
