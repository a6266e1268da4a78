using Letterlock.Sop;

// `letterlock-sop`: the same SOP subcommands as `letterlock sop`, in an executable that holds only the OpenPGP code.
// No command-line library: SOP fixes its own grammar, which SopRunner parses (a parser would only add start-up cost).
if (args is ["--help" or "-h" or "help", ..])
{
    Console.Out.Write(
        "letterlock-sop: Stateless OpenPGP (draft-dkg-openpgp-stateless-cli), the same subcommands as\n" +
        "`letterlock sop` in a small executable that starts in a few milliseconds. Give it to tools that\n" +
        "drive a `sop` (test suites, scripts); `letterlock sop` is the same code inside the full letterlock.\n\n" +
        "Usage: letterlock-sop SUBCOMMAND [OPTIONS] [ARGUMENTS]\n" +
        "Subcommands: " + string.Join(", ", SopRunner.SubcommandNames) + ".\n" +
        "Data is read from stdin and written to stdout; KEYS, CERTS and PASSWORD arguments are file names\n" +
        "(or @ENV:NAME, @FD:N).\n\n" +
        "Examples:\n" +
        "  letterlock-sop generate-key 'Alice <alice@example.org>' > alice.key\n" +
        "  letterlock-sop extract-cert < alice.key > alice.cert\n" +
        "  letterlock-sop encrypt --sign-with=alice.key bob.cert < message.txt > message.asc\n" +
        "  letterlock-sop decrypt --verifications-out=ver.txt --verify-with=alice.cert bob.key < message.asc\n" +
        "  letterlock-sop sign alice.key < file > file.sig && letterlock-sop verify file.sig alice.cert < file\n");
    return 0;
}

if (args is ["--version"])
{
    Console.Out.WriteLine(SopRunner.ProductVersion);
    return 0;
}

using var stdin = Console.OpenStandardInput();
using var stdout = Console.OpenStandardOutput();
return new SopRunner(stdin, stdout, Console.Error, "letterlock-sop").Run(args);
