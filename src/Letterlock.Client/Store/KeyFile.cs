using System.Security.Cryptography;
using System.Text;

namespace Letterlock.Client.Store;

/// <summary>
/// A key file unlocks the store without a passphrase, for unattended use (a bridge started at
/// boot). It holds a random 256-bit secret that wraps the local key in its own unlock slot, so
/// removing the slot revokes the file without touching the passphrase.
/// </summary>
/// <remarks>
/// Format (text, so it survives copy and paste):
/// <code>
/// # Letterlock store key file: keep it secret, mode 0600.
/// letterlock-keyfile-v1 BASE64(32 random bytes)
/// </code>
/// On Unix the file must not be readable, writable or executable by group or others: a key file
/// anyone on the machine can read unlocks the whole mailbox, so it is refused with the fix named.
/// </remarks>
public static class KeyFile
{
    private const string Tag = "letterlock-keyfile-v1";
    private const UnixFileMode ForbiddenModes =
        UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute |
        UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;

    /// <summary>Creates a new key file with a fresh secret and mode 0600; refuses to overwrite.</summary>
    /// <exception cref="KeyFileException">The file exists or cannot be written.</exception>
    public static void Create(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var secret = RandomNumberGenerator.GetBytes(StoreCipher.LocalKeySize);
        try
        {
            var text = $"# Letterlock store key file: keep it secret, mode 0600.\n{Tag} {Convert.ToBase64String(secret)}\n";
            var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None };
            if (!OperatingSystem.IsWindows())
            {
                options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
            }

            using var stream = new FileStream(path, options);
            stream.Write(Encoding.ASCII.GetBytes(text));
            stream.Flush(flushToDisk: true);
        }
        catch (IOException e)
        {
            throw new KeyFileException($"cannot create key file {path}: {e.Message}");
        }
        catch (UnauthorizedAccessException)
        {
            throw new KeyFileException($"cannot create key file {path}: permission denied");
        }
        finally
        {
            CryptographicOperations.ZeroMemory(secret);
        }
    }

    /// <summary>Reads the secret of a key file after checking its permissions.</summary>
    /// <exception cref="KeyFileException">Missing, too permissive, too large or malformed.</exception>
    internal static byte[] ReadSecret(string path, int maxBytes)
    {
        if (!File.Exists(path))
        {
            throw new KeyFileException($"key file {path} does not exist");
        }

        if (!OperatingSystem.IsWindows())
        {
            var mode = File.GetUnixFileMode(path);
            if ((mode & ForbiddenModes) != 0)
            {
                throw new KeyFileException(
                    $"key file {path} has mode {Octal(mode)}, so other users can read or change it; " +
                    $"it must be readable by its owner only: run chmod 600 {path}");
            }
        }

        byte[] content;
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
            if (stream.Length > maxBytes)
            {
                throw new KeyFileException($"key file {path} is larger than {maxBytes} bytes; it is not a Letterlock key file");
            }

            content = new byte[stream.Length];
            stream.ReadExactly(content);
        }
        catch (IOException e)
        {
            throw new KeyFileException($"cannot read key file {path}: {e.Message}");
        }
        catch (UnauthorizedAccessException)
        {
            throw new KeyFileException($"cannot read key file {path}: permission denied");
        }

        try
        {
            foreach (var rawLine in Encoding.ASCII.GetString(content).Split('\n'))
            {
                var line = rawLine.Trim();
                if (!line.StartsWith(Tag + " ", StringComparison.Ordinal))
                {
                    continue;
                }

                var secret = new byte[StoreCipher.LocalKeySize];
                if (Convert.TryFromBase64String(line[(Tag.Length + 1)..].Trim(), secret, out int written) &&
                    written == StoreCipher.LocalKeySize)
                {
                    return secret;
                }

                break;
            }
        }
        finally
        {
            CryptographicOperations.ZeroMemory(content);
        }

        throw new KeyFileException($"key file {path} is not a Letterlock key file (expected a line '{Tag} <base64 of 32 bytes>')");
    }

    private static string Octal(UnixFileMode mode) => "0" + Convert.ToString((int)mode & 0x1FF, 8);
}
