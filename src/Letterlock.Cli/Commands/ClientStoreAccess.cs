using System.CommandLine;
using Letterlock.Client.Store;

namespace Letterlock.Cli.Commands;

/// <summary>
/// Where the client keeps its store and how the CLI unlocks it: <c>--data DIR</c> (default
/// <c>$LETTERLOCK_HOME</c>, else <c>$XDG_DATA_HOME/letterlock</c>, else <c>~/.local/share/letterlock</c>),
/// then <c>--key-file FILE</c>, else the passphrase in <c>$LETTERLOCK_PASSPHRASE</c>, else a prompt
/// on the terminal (not echoed).
/// </summary>
internal sealed class ClientStoreAccess
{
    public const string PassphraseVariable = "LETTERLOCK_PASSPHRASE";
    public const string StoreFileName = "client.db";

    public Option<string?> Data { get; } = new("--data")
    {
        Description = "The client's data folder (default $LETTERLOCK_HOME, else ~/.local/share/letterlock).",
        Recursive = true,
    };

    public Option<string?> KeyFile { get; } = new("--key-file")
    {
        Description = "Unlock the store with this key file (mode 0600) instead of a passphrase.",
        Recursive = true,
    };

    public void AddTo(Command command)
    {
        command.Add(Data);
        command.Add(KeyFile);
    }

    public static string DefaultDataDirectory()
    {
        if (Environment.GetEnvironmentVariable("LETTERLOCK_HOME") is { Length: > 0 } home)
        {
            return home;
        }

        var xdg = Environment.GetEnvironmentVariable("XDG_DATA_HOME");
        var baseDir = xdg is { Length: > 0 } ? xdg : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".local", "share");
        return Path.Combine(baseDir, "letterlock");
    }

    public string StorePath(ParseResult parse) =>
        Path.Combine(parse.GetValue(Data) ?? DefaultDataDirectory(), StoreFileName);

    /// <summary>Opens the existing store or fails with a message saying what to do.</summary>
    public async Task<LocalStore> OpenAsync(ParseResult parse, CancellationToken ct)
    {
        var path = StorePath(parse);
        if (!File.Exists(path))
        {
            throw new CliException($"no client store at {path}: add an account first (letterlock account create), or pass --data DIR");
        }

        try
        {
            return await LocalStore.OpenAsync(path, Unlock(parse), ct: ct);
        }
        catch (LocalStoreException e)
        {
            throw new CliException(e.Message, e is StoreUnlockException or KeyFileException ? 3 : 1);
        }
    }

    /// <summary>Opens the store, or creates it (and a missing --key-file) on first use.</summary>
    public async Task<LocalStore> OpenOrCreateAsync(ParseResult parse, CancellationToken ct)
    {
        var path = StorePath(parse);
        if (File.Exists(path))
        {
            return await OpenAsync(parse, ct);
        }

        // The data folder is private to its owner, like the store inside it.
        CreatePrivateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        if (parse.GetValue(KeyFile) is { Length: > 0 } keyFile && !File.Exists(keyFile))
        {
            CreatePrivateDirectory(Path.GetDirectoryName(Path.GetFullPath(keyFile))!);
            try
            {
                Letterlock.Client.Store.KeyFile.Create(keyFile);
            }
            catch (LocalStoreException e)
            {
                throw new CliException(e.Message, 3);
            }
        }

        try
        {
            return await LocalStore.CreateAsync(path, Unlock(parse), ct: ct);
        }
        catch (LocalStoreException e)
        {
            throw new CliException(e.Message, e is StoreUnlockException or KeyFileException ? 3 : 1);
        }
    }

    private static void CreatePrivateDirectory(string directory)
    {
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(directory);
        }
        else
        {
            Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
    }

    public StoreUnlock Unlock(ParseResult parse)
    {
        if (parse.GetValue(KeyFile) is { Length: > 0 } keyFile)
        {
            return StoreUnlock.WithKeyFile(keyFile);
        }

        if (Environment.GetEnvironmentVariable(PassphraseVariable) is { Length: > 0 } passphrase)
        {
            return StoreUnlock.WithPassphrase(passphrase);
        }

        if (Console.IsInputRedirected)
        {
            throw new CliException($"the client store is locked: pass --key-file FILE or set {PassphraseVariable}", 3);
        }

        return StoreUnlock.WithPassphrase(Prompt("Passphrase for the Letterlock store: "));
    }

    /// <summary>Reads a secret from the terminal without echoing it.</summary>
    internal static string Prompt(string text, string whenEmpty = "an empty passphrase cannot unlock the store", int exitCode = 3)
    {
        Console.Error.Write(text);
        var buffer = new System.Text.StringBuilder();
        while (true)
        {
            var key = Console.ReadKey(intercept: true);
            if (key.Key == ConsoleKey.Enter)
            {
                break;
            }

            if (key.Key == ConsoleKey.Backspace)
            {
                if (buffer.Length > 0)
                {
                    buffer.Length--;
                }

                continue;
            }

            buffer.Append(key.KeyChar);
        }

        Console.Error.WriteLine();
        return buffer.Length > 0 ? buffer.ToString() : throw new CliException(whenEmpty, exitCode);
    }
}
