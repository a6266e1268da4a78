namespace Letterlock.Testing;

/// <summary>
/// A fresh temporary folder, deleted afterwards. The name is short (prefix and 12 hex digits): peers such as
/// Postfix and PostgreSQL put Unix sockets in it, whose paths may not exceed 107 bytes.
/// </summary>
public sealed class TempDir : IDisposable
{
    public TempDir(string prefix = "letterlock-")
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), prefix + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    /// <summary>The path of <paramref name="name"/> inside the folder.</summary>
    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // a peer still holding a file, or one it made as another user: the temp folder is cleaned by the system
        }
    }
}
