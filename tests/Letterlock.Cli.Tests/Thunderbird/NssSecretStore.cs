using System.Runtime.InteropServices;

namespace Letterlock.Cli.Tests.Thunderbird;

/// <summary>
/// Encrypts a value the way Thunderbird's password manager stores it in logins.json (NSS's secret decoder ring with
/// the profile's key4.db), through the system's libnss3: the same library Debian's Thunderbird uses.
/// </summary>
internal static class NssSecretStore
{
    [StructLayout(LayoutKind.Sequential)]
    private struct SecItem
    {
        public int Type;
        public IntPtr Data;
        public uint Length;
    }

    [DllImport("libnss3.so", BestFitMapping = false, ThrowOnUnmappableChar = true)]
    private static extern int NSS_InitReadWrite([MarshalAs(UnmanagedType.LPUTF8Str)] string configDirectory);

    [DllImport("libnss3.so")]
    private static extern int NSS_Shutdown();

    [DllImport("libnss3.so")]
    private static extern int PK11SDR_Encrypt(ref SecItem keyId, ref SecItem data, ref SecItem result, IntPtr context);

    [DllImport("libnss3.so")]
    private static extern void SECITEM_FreeItem(ref SecItem item, int freeItem);

    private static readonly Lock Gate = new();

    /// <summary>The base64 ciphertexts of <paramref name="values"/> under the profile's default key (created if missing).</summary>
    public static IReadOnlyList<string> Encrypt(string profile, params string[] values)
    {
        lock (Gate)
        {
            if (NSS_InitReadWrite("sql:" + profile) != 0)
            {
                throw new InvalidOperationException("NSS could not open the profile's key database in " + profile);
            }

            try
            {
                var results = new List<string>();
                foreach (var value in values)
                {
                    byte[] bytes = System.Text.Encoding.UTF8.GetBytes(value);
                    var handle = GCHandle.Alloc(bytes, GCHandleType.Pinned);
                    try
                    {
                        var keyId = default(SecItem);
                        var data = new SecItem { Data = handle.AddrOfPinnedObject(), Length = (uint)bytes.Length };
                        var result = default(SecItem);
                        if (PK11SDR_Encrypt(ref keyId, ref data, ref result, IntPtr.Zero) != 0)
                        {
                            throw new InvalidOperationException("NSS could not encrypt with the profile's key");
                        }

                        var cipher = new byte[result.Length];
                        Marshal.Copy(result.Data, cipher, 0, cipher.Length);
                        SECITEM_FreeItem(ref result, 0);
                        results.Add(Convert.ToBase64String(cipher));
                    }
                    finally
                    {
                        handle.Free();
                    }
                }

                return results;
            }
            finally
            {
                NSS_Shutdown();
            }
        }
    }
}
