using System.Runtime.InteropServices;
using System.Security.Cryptography;
using Letterlock.Cryptography.Internal;

namespace Letterlock.Cryptography.Cpace;

/// <summary>
/// The functions of CPace (draft-irtf-cfrg-cpace-21) for the CPACE-RISTR255-SHA512 suite: the string utilities of
/// Appendix A, calculate_generator and scalar_mult_vfy of section 8.3, and the ISK of section 7.2. Scalars are
/// passed in so the draft's test vectors replay; <see cref="CpaceSession"/> draws them.
/// </summary>
internal static class CpaceProtocol
{
    /// <summary>G_Ristretto255.DSI = b"CPaceRistretto255".</summary>
    public static ReadOnlySpan<byte> Dsi => "CPaceRistretto255"u8;

    /// <summary>H.s_in_bytes of SHA-512: its input block size.</summary>
    public const int HashBlockBytes = 128;

    /// <summary>H.b_in_bytes of SHA-512, the length of ISK.</summary>
    public const int IskLength = 64;

    /// <summary>
    /// prepend_len(data) (Appendix A.1.1): the LEB128 encoding of len(data), seven bits a byte starting with the
    /// least significant, bit 7 set while more follow, then the data.
    /// </summary>
    public static void PrependLen(ReadOnlySpan<byte> data, List<byte> output)
    {
        int length = data.Length;
        do
        {
            output.Add(length < 128 ? (byte)length : (byte)((length & 0x7f) | 0x80));
            length >>= 7;
        }
        while (length != 0);

        foreach (byte b in data)
        {
            output.Add(b);
        }
    }

    /// <summary>lv_cat(a0, a1, ...) = prepend_len(a0) || prepend_len(a1) || ... (Appendix A.1.3).</summary>
    public static byte[] LvCat(params ReadOnlySpan<byte[]> parts)
    {
        var output = new List<byte>();
        foreach (byte[] part in parts)
        {
            PrependLen(part, output);
        }

        return [.. output];
    }

    /// <summary>lexiographically_larger(bytes1, bytes2) (Appendix A.3.1).</summary>
    public static bool LexicographicallyLarger(ReadOnlySpan<byte> first, ReadOnlySpan<byte> second)
    {
        int common = Math.Min(first.Length, second.Length);
        for (int i = 0; i < common; i++)
        {
            if (first[i] != second[i])
            {
                return first[i] > second[i];
            }
        }

        return first.Length > second.Length;
    }

    /// <summary>o_cat(bytes1, bytes2) = b"oc" || larger || smaller (Appendix A.3.2).</summary>
    public static byte[] OCat(byte[] first, byte[] second) =>
        LexicographicallyLarger(first, second) ? [.. "oc"u8, .. first, .. second] : [.. "oc"u8, .. second, .. first];

    /// <summary>transcript_ir(Ya, ADa, Yb, ADb) = lv_cat(Ya, ADa) || lv_cat(Yb, ADb) (Appendix A.3.4).</summary>
    public static byte[] TranscriptIr(byte[] ya, byte[] ada, byte[] yb, byte[] adb) => [.. LvCat(ya, ada), .. LvCat(yb, adb)];

    /// <summary>transcript_oc(Ya, ADa, Yb, ADb) = o_cat(lv_cat(Ya, ADa), lv_cat(Yb, ADb)) (Appendix A.3.6).</summary>
    public static byte[] TranscriptOc(byte[] ya, byte[] ada, byte[] yb, byte[] adb) => OCat(LvCat(ya, ada), LvCat(yb, adb));

    /// <summary>
    /// generator_string(DSI, PRS, CI, sid, s_in_bytes) = lv_cat(DSI, PRS, zero_bytes(len_zpad), CI, sid) with
    /// len_zpad = max(0, s_in_bytes - 1 - len(prepend_len(PRS)) - len(prepend_len(DSI))) (section 8.1, A.2): the
    /// padding fills the hash's first block, so its cost does not depend on the length of a short password.
    /// </summary>
    public static byte[] GeneratorString(ReadOnlySpan<byte> prs, ReadOnlySpan<byte> ci, ReadOnlySpan<byte> sid)
    {
        int zeroPadding = Math.Max(0, HashBlockBytes - 1 - PrependedLength(prs.Length) - PrependedLength(Dsi.Length));
        var output = new List<byte>(HashBlockBytes + ci.Length + sid.Length + 8);
        PrependLen(Dsi, output);
        PrependLen(prs, output);
        PrependLen(new byte[zeroPadding], output);
        PrependLen(ci, output);
        PrependLen(sid, output);
        byte[] result = [.. output];
        CryptographicOperations.ZeroMemory(CollectionsMarshal.AsSpan(output));
        return result;
    }

    /// <summary>
    /// G_Ristretto255.calculate_generator(H, PRS, CI, sid) (section 8.3), encoded: the element derivation of
    /// RFC 9496 (libsodium's crypto_core_ristretto255_from_hash) applied to SHA-512(generator_string).
    /// </summary>
    public static void CalculateGenerator(ReadOnlySpan<byte> prs, ReadOnlySpan<byte> ci, ReadOnlySpan<byte> sid, Span<byte> generator)
    {
        byte[] generatorString = GeneratorString(prs, ci, sid);
        Span<byte> hash = stackalloc byte[64];
        SHA512.HashData(generatorString, hash);
        Sodium.Ristretto255FromHash(hash, generator);
        CryptographicOperations.ZeroMemory(generatorString);
        CryptographicOperations.ZeroMemory(hash);
    }

    /// <summary>
    /// G.scalar_mult_vfy(y, X) (section 8.3): encode(y * decode(X)), or false (G.I, the abort case) when X does not
    /// decode or the product is the identity; <paramref name="result"/> is then all zeros, the encoding of G.I.
    /// </summary>
    public static bool ScalarMultVfy(ReadOnlySpan<byte> scalar, ReadOnlySpan<byte> element, Span<byte> result)
    {
        if (element.Length == Ristretto255.ElementLength && Sodium.Ristretto255ScalarMult(scalar, element, result))
        {
            return true;
        }

        result.Clear();
        return false;
    }

    /// <summary>ISK = H.hash(lv_cat(G.DSI || b"_ISK", sid, K) || transcript) (section 7.2).</summary>
    public static byte[] Isk(ReadOnlySpan<byte> sid, ReadOnlySpan<byte> k, byte[] transcript)
    {
        byte[] prefix = LvCat([.. Dsi, .. "_ISK"u8], sid.ToArray(), k.ToArray());
        byte[] isk = SHA512.HashData([.. prefix, .. transcript]);
        CryptographicOperations.ZeroMemory(prefix);
        return isk;
    }

    /// <summary>sid_output = H.hash(b"CPaceSidOutput" || transcript) (section 10.6).</summary>
    public static byte[] SidOutput(byte[] transcript) => SHA512.HashData([.. "CPaceSidOutput"u8, .. transcript]);

    /// <summary>
    /// The key confirmation of section 10.4: mac_key = H.hash(b"CPaceMac" || sid || ISK) and a party's tag
    /// MAC(mac_key, lv_cat(Y, AD)) over the message it sent, with HMAC-SHA-512.
    /// </summary>
    public static byte[] ConfirmationTag(ReadOnlySpan<byte> sid, ReadOnlySpan<byte> isk, byte[] y, byte[] ad)
    {
        byte[] macKeyInput = [.. "CPaceMac"u8, .. sid, .. isk];
        byte[] macKey = SHA512.HashData(macKeyInput);
        byte[] tag = HMACSHA512.HashData(macKey, LvCat(y, ad));
        CryptographicOperations.ZeroMemory(macKeyInput);
        CryptographicOperations.ZeroMemory(macKey);
        return tag;
    }

    /// <summary>len(prepend_len(data)) for data of <paramref name="length"/> bytes.</summary>
    private static int PrependedLength(int length)
    {
        int lengthBytes = 1;
        for (int rest = length >> 7; rest != 0; rest >>= 7)
        {
            lengthBytes++;
        }

        return lengthBytes + length;
    }
}
