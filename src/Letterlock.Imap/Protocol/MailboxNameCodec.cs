using System.Text;

namespace Letterlock.Imap.Protocol;

/// <summary>
/// IMAP4rev1's modified UTF-7 mailbox names (RFC 3501, 5.1.3). IMAP4rev2 clients (after
/// ENABLE IMAP4rev2 or UTF8=ACCEPT) use UTF-8 instead, so the session applies this only for rev1 clients.
/// </summary>
public static class MailboxNameCodec
{
    /// <summary>Encodes a name in modified UTF-7.</summary>
    public static string Encode(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        var sb = new StringBuilder(name.Length);
        int i = 0;
        while (i < name.Length)
        {
            char c = name[i];
            if (c >= 0x20 && c <= 0x7e)
            {
                sb.Append(c == '&' ? "&-" : c.ToString());
                i++;
                continue;
            }

            int start = i;
            while (i < name.Length && (name[i] < 0x20 || name[i] > 0x7e))
            {
                i++;
            }

            var bytes = Encoding.BigEndianUnicode.GetBytes(name[start..i]);
            sb.Append('&').Append(Convert.ToBase64String(bytes).TrimEnd('=').Replace('/', ',')).Append('-');
        }

        return sb.ToString();
    }

    /// <summary>Decodes a modified UTF-7 name; returns null when it is not valid modified UTF-7.</summary>
    public static string? Decode(string encoded)
    {
        ArgumentNullException.ThrowIfNull(encoded);
        if (!encoded.Contains('&', StringComparison.Ordinal))
        {
            foreach (char c in encoded)
            {
                if (c > 0x7e)
                {
                    // Raw UTF-8 from a rev1 client: accept it as is (Dovecot does the same).
                    return encoded;
                }
            }

            return encoded;
        }

        var sb = new StringBuilder(encoded.Length);
        int i = 0;
        while (i < encoded.Length)
        {
            char c = encoded[i];
            if (c != '&')
            {
                sb.Append(c);
                i++;
                continue;
            }

            int end = encoded.IndexOf('-', i + 1);
            if (end < 0)
            {
                return null;
            }

            if (end == i + 1)
            {
                sb.Append('&');
            }
            else
            {
                var b64 = encoded[(i + 1)..end].Replace(',', '/');
                b64 = b64.PadRight(b64.Length + ((4 - (b64.Length % 4)) % 4), '=');
                try
                {
                    var bytes = Convert.FromBase64String(b64);
                    if (bytes.Length % 2 != 0)
                    {
                        return null;
                    }

                    sb.Append(Encoding.BigEndianUnicode.GetString(bytes));
                }
                catch (FormatException)
                {
                    return null;
                }
            }

            i = end + 1;
        }

        return sb.ToString();
    }
}
