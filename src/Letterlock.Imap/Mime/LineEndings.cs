using System.Text;

namespace Letterlock.Imap.Mime;

/// <summary>The line ends a message is stored and counted with: every IMAP backend stores messages through here.</summary>
public static class LineEndings
{
    /// <summary>
    /// IMAP messages use CRLF line ends (RFC 9051, 2.3.4 counts octets that way). Files from Unix
    /// folders have bare LFs; like Dovecot, store them with CRLF so sizes and sections agree with
    /// what every client computes. The body of a part with Content-Transfer-Encoding binary is data,
    /// not lines (BINARY APPEND, RFC 3516): its bytes are kept exactly.
    /// </summary>
    /// <param name="message">The message as read, with CRLF or bare LF line ends.</param>
    /// <returns>The message with CRLF line ends (a copy even when nothing changed).</returns>
    public static byte[] Normalize(ReadOnlySpan<byte> message)
    {
        int bare = 0;
        for (int i = 0; i < message.Length; i++)
        {
            if (message[i] == '\n' && (i == 0 || message[i - 1] != '\r'))
            {
                bare++;
            }
        }

        if (bare == 0)
        {
            return message.ToArray();
        }

        // Only a message that names the binary encoding can have such a part: parse it only then.
        IReadOnlyList<(long Start, long End)> keep = !ContainsBinaryWord(message)
            ? []
            : MessageStructure.Parse(message.ToArray()).BinaryBodyRanges();
        var result = new byte[message.Length + bare];
        int o = 0, k = 0;
        for (int i = 0; i < message.Length; i++)
        {
            while (k < keep.Count && i >= keep[k].End)
            {
                k++;
            }

            bool inBinary = k < keep.Count && i >= keep[k].Start;
            if (!inBinary && message[i] == '\n' && (i == 0 || message[i - 1] != '\r'))
            {
                result[o++] = (byte)'\r';
            }

            result[o++] = message[i];
        }

        return result.AsSpan(0, o).ToArray();

        static bool ContainsBinaryWord(ReadOnlySpan<byte> message)
        {
            for (int at = message.IndexOfAny((byte)'b', (byte)'B'); at >= 0 && at + 6 <= message.Length;)
            {
                if (Ascii.EqualsIgnoreCase(message.Slice(at, 6), "binary"u8))
                {
                    return true;
                }

                int next = message[(at + 1)..].IndexOfAny((byte)'b', (byte)'B');
                at = next < 0 ? -1 : at + 1 + next;
            }

            return false;
        }
    }
}
