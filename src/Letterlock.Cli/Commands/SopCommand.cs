using System.CommandLine;
using System.CommandLine.Parsing;
using Letterlock.Sop;

namespace Letterlock.Cli.Commands;

/// <summary>
/// <c>letterlock sop</c>: the Stateless OpenPGP command-line interface
/// (draft-dkg-openpgp-stateless-cli). SOP fixes its own option syntax and exit codes, so the
/// subcommand line is handed to <see cref="SopRunner"/> unparsed.
/// </summary>
internal static class SopCommand
{
    public static Command Create()
    {
        var arguments = new Argument<string[]>("arguments")
        {
            Arity = ArgumentArity.ZeroOrMore,
            Description = "A SOP subcommand with its options and arguments.",
        };
        var command = new Command("sop",
            "Stateless OpenPGP (draft-dkg-openpgp-stateless-cli): a user tool and our interop harness.\n" +
            "Subcommands: version, list-profiles, generate-key, extract-cert, sign, verify, encrypt, decrypt,\n" +
            "inline-sign, inline-verify, inline-detach, armor, dearmor. Data is read from stdin and written to\n" +
            "stdout; KEYS, CERTS and PASSWORD arguments are file names (or @ENV:NAME, @FD:N).\n" +
            "Tools that drive a `sop` per operation (test suites, scripts) should be given `letterlock-sop`, installed\n" +
            "next to letterlock: the same subcommands in a small executable that starts several times faster.\n\n" +
            "Examples:\n" +
            "  letterlock sop generate-key 'Alice <alice@example.org>' > alice.key\n" +
            "  letterlock sop extract-cert < alice.key > alice.cert\n" +
            "  letterlock sop encrypt --sign-with=alice.key bob.cert < message.txt > message.asc\n" +
            "  letterlock sop decrypt --verifications-out=ver.txt --verify-with=alice.cert bob.key < message.asc\n" +
            "  letterlock sop sign alice.key < file > file.sig && letterlock sop verify file.sig alice.cert < file")
        {
            TreatUnmatchedTokensAsErrors = false,
        };
        command.Add(arguments);
        command.SetAction(parseResult =>
        {
            // Keep the tokens in their original order: SOP's grammar ("--x=y", "--", repeated
            // options) is interpreted by the runner, not by System.CommandLine.
            var tokens = parseResult.Tokens.ToList();
            var start = tokens.FindIndex(t => t.Type == TokenType.Command && t.Value == "sop");
            var sopArgs = tokens.Skip(start + 1).Select(t => t.Value).ToArray();
            return new SopRunner(Console.OpenStandardInput(), Console.OpenStandardOutput(), Console.Error, "letterlock sop").Run(sopArgs);
        });
        return command;
    }
}
