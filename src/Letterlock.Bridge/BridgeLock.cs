namespace Letterlock.Bridge;

/// <summary>Another bridge already serves the store.</summary>
public sealed class BridgeAlreadyRunningException(string message) : Exception(message);

/// <summary>
/// One bridge per store: an exclusive lock on <c>STORE.bridge.lock</c> beside the store, held while the bridge runs.
/// It is an OS file lock (flock on Unix, a share-none handle on Windows), so the kernel releases it when the process
/// ends in any way, SIGKILL included: a crashed bridge never blocks the next one.
/// </summary>
public sealed class BridgeLock : IDisposable
{
    private readonly FileStream _file;

    private BridgeLock(FileStream file) => _file = file;

    /// <summary>The lock file of the store at <paramref name="storePath"/>.</summary>
    public static string PathFor(string storePath) => storePath + ".bridge.lock";

    /// <summary>Takes the lock, or throws <see cref="BridgeAlreadyRunningException"/> when another bridge holds it.</summary>
    public static BridgeLock Acquire(string storePath)
    {
        var path = PathFor(storePath);
        try
        {
            var options = new FileStreamOptions { Mode = FileMode.OpenOrCreate, Access = FileAccess.ReadWrite, Share = FileShare.None };
            if (!OperatingSystem.IsWindows())
            {
                options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
            }

            return new BridgeLock(new FileStream(path, options));
        }
        catch (IOException e) when (e is not FileNotFoundException and not DirectoryNotFoundException)
        {
            throw new BridgeAlreadyRunningException(
                $"another bridge is already running on the store {storePath} (it holds {path}); only one bridge may serve a store: stop the other one first");
        }
    }

    /// <summary>Whether a bridge holds the lock of the store at <paramref name="storePath"/> right now.</summary>
    public static bool IsHeld(string storePath)
    {
        if (!File.Exists(PathFor(storePath)))
        {
            return false;
        }

        try
        {
            Acquire(storePath).Dispose();
            return false;
        }
        catch (BridgeAlreadyRunningException)
        {
            return true;
        }
    }

    /// <summary>Releases the lock (the file stays; its presence means nothing).</summary>
    public void Dispose() => _file.Dispose();
}
