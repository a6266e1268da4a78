using Letterlock.Cryptography.Cpace;
using Letterlock.Cryptography.Internal;

namespace Letterlock.Cryptography.Opaque.Tests;

/// <summary>
/// draft-irtf-cfrg-cpace-21: the string utilities of Appendix A and the CPACE-RISTR255-SHA512 vectors of Appendix
/// B.3 (generator, both messages, K, ISK in the initiator-responder and parallel settings, sid_output, valid and
/// invalid scalar_mult_vfy inputs). Values are read from Vectors/draft-irtf-cfrg-cpace-21-ristretto255-sha512.txt, a
/// copy of the draft's text.
/// </summary>
public sealed class CpaceVectorTests
{
    private const string File = "draft-irtf-cfrg-cpace-21-ristretto255-sha512.txt";
    private static readonly byte[] Prs = "Password"u8.ToArray();
    private static readonly byte[] Ada = "ADa"u8.ToArray();
    private static readonly byte[] Adb = "ADb"u8.ToArray();

    [Fact]
    public void A_1_2_prepend_len()
    {
        var v = DraftVectors.Section(File, "A.1.2");
        Assert.Equal(v["prepend_len(b\"\")"], Hex(Prepend([])));
        Assert.Equal(v["prepend_len(b\"1234\")"], Hex(Prepend("1234"u8.ToArray())));
        Assert.Equal(v["prepend_len(bytes(range(127)))"], Hex(Prepend(Enumerable.Range(0, 127).Select(i => (byte)i).ToArray())));
        Assert.Equal(v["prepend_len(bytes(range(128)))"], Hex(Prepend(Enumerable.Range(0, 128).Select(i => (byte)i).ToArray())));
    }

    [Fact]
    public void A_1_4_lv_cat()
    {
        var v = DraftVectors.Section(File, "A.1.4");
        Assert.Equal(v["lv_cat(b\"1234\",b\"5\",b\"\",b\"678\")"], Hex(CpaceProtocol.LvCat("1234"u8.ToArray(), "5"u8.ToArray(), [], "678"u8.ToArray())));
    }

    [Fact]
    public void A_3_3_ordered_concatenation()
    {
        Assert.False(CpaceProtocol.LexicographicallyLarger([0], [0, 0]));
        Assert.True(CpaceProtocol.LexicographicallyLarger([1], [0, 0]));
        Assert.True(CpaceProtocol.LexicographicallyLarger([0, 0], [0]));
        Assert.False(CpaceProtocol.LexicographicallyLarger([0, 0], [1]));
        Assert.False(CpaceProtocol.LexicographicallyLarger([0, 1], [1]));
        Assert.False(CpaceProtocol.LexicographicallyLarger("ABCD"u8, "BCD"u8));

        var v = DraftVectors.Section(File, "A.3.3");
        Assert.Equal(v["o_cat(b\"ABCD\",b\"BCD\")"], Hex(CpaceProtocol.OCat("ABCD"u8.ToArray(), "BCD"u8.ToArray())));
        Assert.Equal(v["o_cat(b\"BCD\",b\"ABCDE\")"], Hex(CpaceProtocol.OCat("BCD"u8.ToArray(), "ABCDE"u8.ToArray())));
    }

    [Fact]
    public void A_3_5_and_A_3_7_transcripts()
    {
        var ir = DraftVectors.Section(File, "A.3.5");
        Assert.Equal(ir["transcript_ir(b\"123\", b\"PartyA\", b\"234\",b\"PartyB\")"], Hex(CpaceProtocol.TranscriptIr("123"u8.ToArray(), "PartyA"u8.ToArray(), "234"u8.ToArray(), "PartyB"u8.ToArray())));
        Assert.Equal(ir["transcript_ir(b\"3456\",b\"PartyA\",b\"2345\",b\"PartyB\")"], Hex(CpaceProtocol.TranscriptIr("3456"u8.ToArray(), "PartyA"u8.ToArray(), "2345"u8.ToArray(), "PartyB"u8.ToArray())));
        var oc = DraftVectors.Section(File, "A.3.7");
        Assert.Equal(oc["transcript_oc(b\"123\", b\"PartyA\", b\"234\",b\"PartyB\")"], Hex(CpaceProtocol.TranscriptOc("123"u8.ToArray(), "PartyA"u8.ToArray(), "234"u8.ToArray(), "PartyB"u8.ToArray())));
        Assert.Equal(oc["transcript_oc(b\"3456\",b\"PartyA\",b\"2345\",b\"PartyB\")"], Hex(CpaceProtocol.TranscriptOc("3456"u8.ToArray(), "PartyA"u8.ToArray(), "2345"u8.ToArray(), "PartyB"u8.ToArray())));
    }

    [Fact]
    public void B_3_1_calculate_generator()
    {
        var v = DraftVectors.Section(File, "B.3.1");
        Assert.Equal(v["generator_string(G.DSI,PRS,CI,sid,H.s_in_bytes)"], Hex(CpaceProtocol.GeneratorString(Prs, v.Bytes("CI"), v.Bytes("sid"))));
        Assert.Equal(v["hash result"], Hex(System.Security.Cryptography.SHA512.HashData(CpaceProtocol.GeneratorString(Prs, v.Bytes("CI"), v.Bytes("sid")))));
        var g = new byte[32];
        CpaceProtocol.CalculateGenerator(Prs, v.Bytes("CI"), v.Bytes("sid"), g);
        Assert.Equal(v["encoded generator g"], Hex(g));
    }

    [Fact]
    public void B_3_2_to_B_3_7_a_whole_exchange()
    {
        var inputs = DraftVectors.Section(File, "B.3.1");
        byte[] ci = inputs.Bytes("CI");
        byte[] sid = inputs.Bytes("sid");
        byte[] ya = DraftVectors.Section(File, "B.3.2").Bytes("ya (little endian)");
        byte[] yb = DraftVectors.Section(File, "B.3.3").Bytes("yb (little endian)");

        var (a, messageA) = CpaceSession.Start(CpaceRole.Initiator, Prs, ci, sid, Ada, (byte[])ya.Clone());
        var (b, messageB) = CpaceSession.Start(CpaceRole.Responder, Prs, ci, sid, Adb, (byte[])yb.Clone());
        Assert.Equal(DraftVectors.Section(File, "B.3.2")["Ya"], Hex(messageA.Y));
        Assert.Equal(DraftVectors.Section(File, "B.3.3")["Yb"], Hex(messageB.Y));

        var k = DraftVectors.Section(File, "B.3.4");
        var kA = new byte[32];
        var kB = new byte[32];
        Assert.True(CpaceProtocol.ScalarMultVfy(ya, messageB.Y, kA));
        Assert.True(CpaceProtocol.ScalarMultVfy(yb, messageA.Y, kB));
        Assert.Equal(k["scalar_mult_vfy(ya,Yb)"], Hex(kA));
        Assert.Equal(k["scalar_mult_vfy(yb,Ya)"], Hex(kB));

        var ir = DraftVectors.Section(File, "B.3.5");
        byte[] transcriptIr = CpaceProtocol.TranscriptIr(messageA.Y, Ada, messageB.Y, Adb);
        Assert.Equal(ir["transcript_ir(Ya,ADa,Yb,ADb)"], Hex(transcriptIr));
        Assert.Equal(ir["DSI = G.DSI_ISK, b'CPaceRistretto255_ISK'"], Hex([.. CpaceProtocol.Dsi, .. "_ISK"u8]));
        Assert.Equal(ir["ISK result"], Hex(CpaceProtocol.Isk(sid, kA, transcriptIr)));

        // The sessions run the same computation as the vector, each from its own side.
        using CpaceResult resultA = a.Finish(messageB);
        using CpaceResult resultB = b.Finish(messageA);
        Assert.Equal(ir["ISK result"], Hex(resultA.Isk));
        Assert.Equal(ir["ISK result"], Hex(resultB.Isk));

        var oc = DraftVectors.Section(File, "B.3.6");
        byte[] transcriptOc = CpaceProtocol.TranscriptOc(messageA.Y, Ada, messageB.Y, Adb);
        Assert.Equal(oc["transcript_oc(Ya,ADa,Yb,ADb)"], Hex(transcriptOc));
        Assert.Equal(oc["ISK result"], Hex(CpaceProtocol.Isk(sid, kA, transcriptOc)));

        var sidOutput = DraftVectors.Section(File, "B.3.7");
        Assert.Equal(sidOutput["H.hash(b\"CPaceSidOutput\" + transcript_ir(Ya,ADa, Yb,ADb))"], Hex(CpaceProtocol.SidOutput(transcriptIr)));
        Assert.Equal(sidOutput["H.hash(b\"CPaceSidOutput\" + transcript_oc(Ya,ADa, Yb,ADb))"], Hex(CpaceProtocol.SidOutput(transcriptOc)));
    }

    [Fact]
    public void B_3_10_scalar_mult_with_valid_inputs()
    {
        var v = DraftVectors.Section(File, "B.3.10");
        var result = new byte[32];
        Assert.True(CpaceProtocol.ScalarMultVfy(v.Bytes("s"), v.Bytes("X"), result));
        Assert.Equal(v["G.scalar_mult_vfy(s,X)"], Hex(result));
        Assert.Equal(v["G.scalar_mult(s,decode(X))"], Hex(result));
    }

    [Fact]
    public void B_3_11_invalid_inputs_give_the_neutral_element_and_abort_the_protocol()
    {
        var v = DraftVectors.Section(File, "B.3.11");
        foreach (string label in new[] { "Y_i1", "Y_i2 == G.I" })
        {
            var result = Enumerable.Repeat((byte)0xaa, 32).ToArray();
            Assert.False(CpaceProtocol.ScalarMultVfy(v.Bytes("s"), v.Bytes(label), result));
            Assert.Equal(new byte[32], result);

            // In a message: TryParse refuses it, and a session given it anyway aborts.
            Assert.False(CpaceMessage.TryParse(CpaceProtocol.LvCat(v.Bytes(label), Adb), null, out _));
            var (session, _) = CpaceSession.Start(CpaceRole.Initiator, Prs, [], [], Ada);
            using CpaceResult result2 = session.Finish(new CpaceMessage(v.Bytes(label), Adb));
            Assert.Equal(CpaceStatus.InvalidPeerMessage, result2.Status);
            Assert.Null(result2.ConfirmationTag);
        }
    }

    private static byte[] Prepend(byte[] data)
    {
        var output = new List<byte>();
        CpaceProtocol.PrependLen(data, output);
        return [.. output];
    }

    private static string Hex(byte[] bytes) => Convert.ToHexStringLower(bytes);
}
