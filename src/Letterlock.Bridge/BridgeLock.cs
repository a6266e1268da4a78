namespace Letterlock.Bridge;

/// <summary>Another bridge already serves the store.</summary>
public sealed class BridgeAlreadyRunningException(string message) : Exception(message);

/// <summary>
/// One bridge per store: an exclusive lock on the first byte of <c>STORE.bridge.lock</c> beside the store, held while
/// the bridge runs. It is an OS record lock (<c>fcntl</c> on Unix, <c>LockFileEx</c> on Windows), so the kernel
/// releases it when the process ends in any way, SIGKILL included: a crashed bridge never blocks the next one. A
/// record lock, not a whole-file share mode, so that anything reading the data folder (a backup, a scan) still can.
/// Record locks do not exclude the process that holds them, so the bridges of this process are also counted here.
/// </summary>
public sealed class BridgeLock : IDisposable
{
    private static readonly HashSet<string> HeldHere = new(StringComparer.Ordinal);
    private readonly FileStream _file;
    private readonly string _path;

    private BridgeLock(FileStream file, string path)
    {
        _file = file;
        _path = path;
    }

    /// <summary>The lock file of the store at <paramref name="storePath"/>.</summary>
    public static string PathFor(string storePath) => Path.GetFullPath(storePath) + ".bridge.lock";

    /// <summary>Takes the lock, or throws <see cref="BridgeAlreadyRunningException"/> when another bridge holds it.</summary>
    public static BridgeLock Acquire(string storePath)
    {
        var path = PathFor(storePath);
        var busy = new BridgeAlreadyRunningException(
            $"another bridge is already running on the store {storePath} (it holds {path}); only one bridge may serve a store: stop the other one first");
        lock (HeldHere)
        {
            if (!HeldHere.Add(path))
            {
                throw busy;
            }
        }

        FileStream? file = null;
        try
        {
            // macOS has no record locks in .NET: there the whole file is locked (flock), which readers of the folder meet.
            var options = new FileStreamOptions
            {
                Mode = FileMode.OpenOrCreate,
                Access = FileAccess.ReadWrite,
                Share = OperatingSystem.IsMacOS() ? FileShare.None : FileShare.ReadWrite | FileShare.Delete,
            };
            if (!OperatingSystem.IsWindows())
            {
                options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
            }

            file = new FileStream(path, options);
            if (!OperatingSystem.IsMacOS())
            {
                file.Lock(0, 1);
            }

            return new BridgeLock(file, path);
        }
        catch (IOException e) when (e is not FileNotFoundException and not DirectoryNotFoundException)
        {
            Release(path, file);
            throw busy;
        }
        catch
        {
            Release(path, file);
            throw;
        }
    }

    /// <summary>Whether a bridge holds the lock of the store at <paramref name="storePath"/> right now.</summary>
    public static bool IsHeld(string storePath)
    {
        var path = PathFor(storePath);
        lock (HeldHere)
        {
            if (HeldHere.Contains(path))
            {
                return true;
            }
        }

        if (!File.Exists(path))
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

    private static void Release(string path, FileStream? file)
    {
        file?.Dispose();
        lock (HeldHere)
        {
            HeldHere.Remove(path);
        }
    }

    /// <summary>Releases the lock (the file stays; its presence means nothing).</summary>
    public void Dispose() => Release(_path, _file);
}
