using Letterlock.Cryptography.Cpace;
using Letterlock.Cryptography.Internal;
using Letterlock.Cryptography.Opaque;
using Org.BouncyCastle.Crypto.Generators;
using Org.BouncyCastle.Crypto.Parameters;

namespace Letterlock.Bench.Crypto;

/// <summary>
/// OPAQUE registration and login CPU on each side, and a CPace exchange, with the identity KSF (the protocol alone) and with the default
/// Argon2id parameters (what a login costs), against the primitives measured in the same run. Each operation is
/// timed over a batch whose inputs (states, messages) were prepared outside the timed loop.
/// </summary>
internal static class OpaqueBenchmark
{
    private static readonly byte[] Password = "correct horse battery staple"u8.ToArray();
    private static readonly byte[] CredentialId = "alice@example.org"u8.ToArray();
    private static readonly byte[] Context = "Letterlock bench"u8.ToArray();
    private static readonly OpaqueIdentities Identities = OpaqueIdentities.FromStrings("alice@example.org", "example.org");

    public static void Run()
    {
        Console.WriteLine("## OPAQUE (one core, CPU time per operation)");
        Console.WriteLine();
        Console.WriteLine("| operation | side | Identity KSF | Argon2id 64 MiB, 3 passes |");
        Console.WriteLine("|---|---|---|---|");
        using var keys = ServerKeys.Generate();
        using var server = new OpaqueServer(keys, OpaqueServer.GenerateOprfSeed());
        var clients = new[]
        {
            (Client: new OpaqueClient(IdentityKeyStretching.Instance), Batch: 2000),
            (Client: new OpaqueClient(new Argon2idKeyStretching(Argon2idParameters.Default)), Batch: 6),
        };
        var records = clients.Select(c => Register(c.Client, server)).ToArray();

        void Row<T>(string name, string side, Func<int, T> prepare, Action<int, T> measured) =>
            Measure.Row(name, side, Ms(PerOperation(() => prepare(0), t => measured(0, t), clients[0].Batch)),
                Ms(PerOperation(() => prepare(1), t => measured(1, t), clients[1].Batch)));

        Row("StartRegistration", "client", _ => 0, (i, _) => clients[i].Client.StartRegistration(Password).State.Dispose());
        Row("CreateRegistrationResponse", "server", i => clients[i].Client.StartRegistration(Password).Request,
            (_, request) => server.CreateRegistrationResponse(request, CredentialId));
        Row("FinishRegistration (KSF, envelope)", "client", i =>
        {
            var (state, request) = clients[i].Client.StartRegistration(Password);
            return (state, server.CreateRegistrationResponse(request, CredentialId));
        }, (i, t) => clients[i].Client.FinishRegistration(t.state, Password, t.Item2, Identities));
        Row("StartLogin (KE1)", "client", _ => 0, (i, _) => clients[i].Client.StartLogin(Password).State.Dispose());
        Row("StartLogin, known account (KE2)", "server", i => clients[i].Client.StartLogin(Password).KE1,
            (i, ke1) => server.StartLogin(records[i], CredentialId, ke1, Identities, Context).State.Dispose());
        Row("StartLogin, unknown account (fake KE2)", "server", i => clients[i].Client.StartLogin(Password).KE1,
            (_, ke1) => server.StartLogin(null, CredentialId, ke1, Identities, Context).State.Dispose());
        Row("FinishLogin (KSF, envelope, 3DH, KE3)", "client", i =>
        {
            var (state, ke1) = clients[i].Client.StartLogin(Password);
            var (serverState, ke2) = server.StartLogin(records[i], CredentialId, ke1, Identities, Context);
            serverState.Dispose();
            return (state, ke2);
        }, (i, t) => clients[i].Client.FinishLogin(t.state, Password, t.ke2, Identities, Context).Dispose());
        Row("FinishLogin (KE3 check)", "server", _ =>
        {
            var (state, ke1) = clients[0].Client.StartLogin(Password);
            var (serverState, ke2) = server.StartLogin(records[0], CredentialId, ke1, Identities, Context);
            using LoginOutcome outcome = clients[0].Client.FinishLogin(state, Password, ke2, Identities, Context);
            return (serverState, outcome.KE3!);
        }, (_, t) => server.FinishLogin(t.serverState, t.Item2).Dispose());
        Row("whole login: StartLogin + FinishLogin", "client", i =>
        {
            // The server's KE2 comes from a state started now; the client's timed part starts again from KE1.
            var (state, ke1) = clients[i].Client.StartLogin(Password);
            var (serverState, ke2) = server.StartLogin(records[i], CredentialId, ke1, Identities, Context);
            serverState.Dispose();
            return (state, ke2);
        }, (i, t) =>
        {
            clients[i].Client.StartLogin(Password).State.Dispose();
            clients[i].Client.FinishLogin(t.state, Password, t.ke2, Identities, Context).Dispose();
        });
        // A well-formed KE3 that fails the check: the server's work is the same as for a valid one.
        KE3 wrongKe3 = KE3.TryParse(new byte[KE3.SerializedLength], out KE3? parsed) ? parsed : throw new InvalidOperationException();
        Row("whole login: StartLogin + FinishLogin", "server", i => clients[i].Client.StartLogin(Password).KE1, (i, ke1) =>
        {
            var (serverState, _) = server.StartLogin(records[i], CredentialId, ke1, Identities, Context);
            server.FinishLogin(serverState, wrongKe3).Dispose();
        });

        Console.WriteLine();
        Console.WriteLine("| CPace (CPACE-RISTR255-SHA512) | per operation |");
        Console.WriteLine("|---|---|");
        byte[] code = "48291305"u8.ToArray();
        byte[] channel = "Letterlock device link v1|alice@example.org"u8.ToArray();
        byte[] sid = new byte[16];
        Measure.Row("Start (generator, share)", Ms(PerOperation(() => 0, _ => CpaceSession.Start(CpaceRole.Initiator, code, channel, sid, "new laptop"u8).Session.Dispose(), 2000)));
        Measure.Row("Finish (K, ISK, both confirmation tags)", Ms(PerOperation(() =>
        {
            var (a, _) = CpaceSession.Start(CpaceRole.Initiator, code, channel, sid, "new laptop"u8);
            var (b, messageB) = CpaceSession.Start(CpaceRole.Responder, code, channel, sid, "old phone"u8);
            b.Dispose();
            return (a, messageB);
        }, t => t.a.Finish(t.messageB).Dispose(), 2000)));
        Measure.Row("ConfirmPeer + short authentication string + one derived key", Ms(PerOperation(() =>
        {
            var (a, messageA) = CpaceSession.Start(CpaceRole.Initiator, code, channel, sid, "new laptop"u8);
            var (b, messageB) = CpaceSession.Start(CpaceRole.Responder, code, channel, sid, "old phone"u8);
            using CpaceResult resultB = b.Finish(messageA);
            return (a.Finish(messageB), resultB.ConfirmationTag!);
        }, t =>
        {
            t.Item1.ConfirmPeer(t.Item2);
            _ = t.Item1.ShortAuthenticationString;
            t.Item1.DeriveKey("key bundle"u8, stackalloc byte[32]);
            t.Item1.Dispose();
        }, 2000)));

        Console.WriteLine();
        Console.WriteLine("| primitive, same run | per operation |");
        Console.WriteLine("|---|---|");
        var scalar = new byte[32];
        var element = new byte[32];
        var product = new byte[32];
        Sodium.ScalarRandom(scalar);
        Sodium.Ristretto255ScalarMultBase(scalar, element);
        Measure.Row("ristretto255 scalar multiplication (libsodium)", Ms(1000 / Measure.OpsPerSecond(() => Sodium.Ristretto255ScalarMult(scalar, element, product))));
        var input = new byte[64];
        var output = new byte[64];
        var ksf = new Argon2idKeyStretching(Argon2idParameters.Default);
        Measure.Row("Argon2id 64 MiB, 3 passes: libsodium (our KSF)", Ms(PerOperation(() => 0, _ => ksf.Stretch(input, output), 6)));
        Measure.Row("Argon2id 64 MiB, 3 passes: BouncyCastle (managed peer)", Ms(PerOperation(() => 0, _ =>
        {
            var generator = new Argon2BytesGenerator();
            generator.Init(new Argon2Parameters.Builder(Argon2Parameters.Argon2id).WithVersion(Argon2Parameters.Version13)
                .WithIterations(3).WithMemoryAsKB(65536).WithParallelism(1).WithSalt(new byte[16]).Build());
            generator.GenerateBytes(input, output);
        }, 3)));
        Console.WriteLine();
    }

    private static RegistrationRecord Register(OpaqueClient client, OpaqueServer server)
    {
        var (state, request) = client.StartRegistration(Password);
        return client.FinishRegistration(state, Password, server.CreateRegistrationResponse(request, CredentialId), Identities).Record;
    }

    /// <summary>
    /// CPU milliseconds per call of <paramref name="measured"/>, best of three batches of <paramref name="count"/>;
    /// the inputs of a batch are prepared before its clock starts.
    /// </summary>
    private static double PerOperation<T>(Func<T> prepare, Action<T> measured, int count)
    {
        measured(prepare());
        double best = double.MaxValue;
        for (int round = 0; round < 3; round++)
        {
            T[] inputs = Enumerable.Range(0, count).Select(_ => prepare()).ToArray();
            TimeSpan start = Measure.Cpu;
            foreach (T input in inputs)
            {
                measured(input);
            }

            best = Math.Min(best, (Measure.Cpu - start).TotalMilliseconds / count);
        }

        return best;
    }

    private static string Ms(double ms) => ms >= 10 ? $"{ms:N0} ms" : ms >= 1 ? $"{ms:N1} ms" : $"{ms * 1000:N0} µs";
}
