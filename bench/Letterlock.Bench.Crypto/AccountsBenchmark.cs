using System.Text;
using Letterlock.Cryptography.Opaque;

namespace Letterlock.Bench.Crypto;

/// <summary>
/// The CPU cost of one OPAQUE password login (docs/PERFORMANCE.md, "Accounts"): the client's part (KE1, then KE3
/// with Argon2id at the default 64 MiB / 3 passes, and at the 19 MiB / 1 pass floor) and the provider's part (KE2,
/// then the KE3 check), each on one thread.
/// </summary>
internal static class AccountsBenchmark
{
    public static void Run()
    {
        Console.WriteLine("## OPAQUE login (ristretto255-SHA512, Argon2id KSF), CPU per login");
        byte[] password = "correct horse battery staple"u8.ToArray();
        var identities = OpaqueIdentities.FromStrings("alice@example.org", "example.org");
        byte[] context = Encoding.ASCII.GetBytes("letterlock-opaque-login-v1\nexample.org\nalice@example.org\nbm9uY2U=\n");
        using var server = new OpaqueServer(ServerKeys.Generate(), OpaqueServer.GenerateOprfSeed());
        byte[] credential = "alice@example.org"u8.ToArray();
        foreach (var ksf in new[] { Argon2idParameters.Default, new Argon2idParameters { MemoryKiB = 19 * 1024, Iterations = 1 } })
        {
            var client = new OpaqueClient(new Argon2idKeyStretching(ksf));
            var (registration, request) = client.StartRegistration(password);
            var (record, _) = client.FinishRegistration(registration, password, server.CreateRegistrationResponse(request, credential), identities);

            // One full login, timed in its three steps; repeated and the best kept.
            double clientMs = double.MaxValue, serverMs = double.MaxValue;
            for (int i = 0; i < 8; i++)
            {
                var t0 = Measure.Cpu;
                var (state, ke1) = client.StartLogin(password);
                var t1 = Measure.Cpu;
                var (serverState, ke2) = server.StartLogin(record, credential, ke1, identities, context);
                var t2 = Measure.Cpu;
                using var outcome = client.FinishLogin(state, password, ke2, identities, context);
                var t3 = Measure.Cpu;
                using var finished = server.FinishLogin(serverState, outcome.KE3!);
                var t4 = Measure.Cpu;
                if (!finished.Succeeded)
                {
                    throw new InvalidOperationException("the benchmark's login failed");
                }

                clientMs = Math.Min(clientMs, ((t1 - t0) + (t3 - t2)).TotalMilliseconds);
                serverMs = Math.Min(serverMs, ((t2 - t1) + (t4 - t3)).TotalMilliseconds);
            }

            Console.WriteLine($"- Argon2id {ksf.MemoryKiB / 1024} MiB x {ksf.Iterations}: client {clientMs:F1} ms CPU, provider {serverMs:F2} ms CPU " +
                $"({1000 / serverMs:F0} logins/s per core)");
        }

        Console.WriteLine();
    }
}
