using CsCheck;
using Org.BouncyCastle.Crypto.Generators;
using Org.BouncyCastle.Crypto.Parameters;

namespace Letterlock.Cryptography.Opaque.Tests;

/// <summary>
/// Argon2id as OPAQUE's key-stretching function: libsodium's output against BouncyCastle's independent
/// implementation, the limits a client puts on server-supplied parameters (each at its edge), and a full login
/// with Argon2id.
/// </summary>
public sealed class KeyStretchingTests
{
    // Small limits so tests run Argon2id in milliseconds; the defaults are checked without running it.
    private static readonly OpaqueClientOptions TestLimits = new() { MinArgon2idMemoryKiB = 8, MinArgon2idIterations = 1 };

    [Fact]
    public void Argon2id_matches_BouncyCastle()
    {
        Gen.Select(Gen.Byte.Array[64], Gen.Int[8, 256], Gen.Int[1, 3]).Sample((input, memoryKiB, passes) =>
        {
            var ksf = new Argon2idKeyStretching(new Argon2idParameters { MemoryKiB = memoryKiB, Iterations = passes }, TestLimits);
            var ours = new byte[64];
            ksf.Stretch(input, ours);

            var generator = new Argon2BytesGenerator();
            generator.Init(new Argon2Parameters.Builder(Argon2Parameters.Argon2id)
                .WithVersion(Argon2Parameters.Version13)
                .WithIterations(passes)
                .WithMemoryAsKB(memoryKiB)
                .WithParallelism(1)
                .WithSalt(new byte[16])
                .Build());
            var theirs = new byte[64];
            generator.GenerateBytes(input, theirs);
            Assert.Equal(theirs, ours);
        }, iter: 12);
    }

    [Fact]
    public void Argon2id_output_depends_on_every_parameter()
    {
        byte[] input = new byte[64];
        var baseline = Stretch(input, 64, 1);
        Assert.Equal(baseline, Stretch(input, 64, 1));
        Assert.NotEqual(baseline, Stretch(input, 65, 1));
        Assert.NotEqual(baseline, Stretch(input, 64, 2));
        input[63] = 1;
        Assert.NotEqual(baseline, Stretch(input, 64, 1));
    }

    [Fact]
    public void Default_parameters_are_64_MiB_and_3_passes_and_inside_the_default_limits()
    {
        Assert.Equal(64 * 1024, Argon2idParameters.Default.MemoryKiB);
        Assert.Equal(3, Argon2idParameters.Default.Iterations);
        Assert.Equal(KeyStretchingCheck.Acceptable, OpaqueClientOptions.Default.Check(Argon2idParameters.Default));
    }

    [Fact]
    public void Default_limits_hold_at_their_edges()
    {
        var limits = OpaqueClientOptions.Default;
        Assert.Equal(KeyStretchingCheck.Acceptable, limits.Check(new Argon2idParameters { MemoryKiB = limits.MinArgon2idMemoryKiB }));
        Assert.Equal(KeyStretchingCheck.MemoryBelowMinimum, limits.Check(new Argon2idParameters { MemoryKiB = limits.MinArgon2idMemoryKiB - 1 }));
        Assert.Equal(KeyStretchingCheck.Acceptable, limits.Check(new Argon2idParameters { MemoryKiB = limits.MaxArgon2idMemoryKiB }));
        Assert.Equal(KeyStretchingCheck.MemoryAboveMaximum, limits.Check(new Argon2idParameters { MemoryKiB = limits.MaxArgon2idMemoryKiB + 1 }));
        Assert.Equal(KeyStretchingCheck.Acceptable, limits.Check(new Argon2idParameters { Iterations = limits.MaxArgon2idIterations }));
        Assert.Equal(KeyStretchingCheck.IterationsAboveMaximum, limits.Check(new Argon2idParameters { Iterations = limits.MaxArgon2idIterations + 1 }));

        var strict = new OpaqueClientOptions { MinArgon2idIterations = 2 };
        Assert.Equal(KeyStretchingCheck.Acceptable, strict.Check(new Argon2idParameters { Iterations = 2 }));
        Assert.Equal(KeyStretchingCheck.IterationsBelowMinimum, strict.Check(new Argon2idParameters { Iterations = 1 }));
    }

    [Fact]
    public void Parameters_outside_the_limits_cannot_build_a_stretching_function_and_the_error_names_the_limit()
    {
        var hostile = new Argon2idParameters { MemoryKiB = int.MaxValue };
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => new Argon2idKeyStretching(hostile));
        Assert.Contains(nameof(OpaqueClientOptions.MaxArgon2idMemoryKiB), error.Message, StringComparison.Ordinal);

        var cheap = new Argon2idParameters { MemoryKiB = 1024 };
        error = Assert.Throws<ArgumentOutOfRangeException>(() => new Argon2idKeyStretching(cheap));
        Assert.Contains(nameof(OpaqueClientOptions.MinArgon2idMemoryKiB), error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Options_and_parameters_are_validated_when_set()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new Argon2idParameters { MemoryKiB = 7 });
        Assert.Equal(8, new Argon2idParameters { MemoryKiB = 8 }.MemoryKiB);
        Assert.Throws<ArgumentOutOfRangeException>(() => new Argon2idParameters { Iterations = 0 });
        Assert.Throws<ArgumentOutOfRangeException>(() => new OpaqueClientOptions { MinArgon2idMemoryKiB = 7 });
        Assert.Throws<ArgumentOutOfRangeException>(() => new OpaqueClientOptions { MaxArgon2idMemoryKiB = 7 });
        Assert.Throws<ArgumentOutOfRangeException>(() => new OpaqueClientOptions { MinArgon2idIterations = 0 });
        Assert.Throws<ArgumentOutOfRangeException>(() => new OpaqueClientOptions { MaxArgon2idIterations = 0 });

        var inverted = new OpaqueClientOptions { MinArgon2idMemoryKiB = 2048, MaxArgon2idMemoryKiB = 1024 };
        var error = Assert.Throws<InvalidOperationException>(() => inverted.Check(Argon2idParameters.Default));
        Assert.Contains(nameof(OpaqueClientOptions.MinArgon2idMemoryKiB), error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parameters_serialize_to_nine_bytes_and_parse_back()
    {
        byte[] bytes = Argon2idParameters.Default.Serialize();
        Assert.Equal("010001000000000003", Convert.ToHexStringLower(bytes));
        Assert.True(Argon2idParameters.TryParse(bytes, out Argon2idParameters? parsed));
        Assert.Equal(Argon2idParameters.Default, parsed);

        Assert.False(Argon2idParameters.TryParse(bytes.AsSpan(1), out _));
        Assert.False(Argon2idParameters.TryParse([.. bytes, 0], out _));
        Assert.False(Argon2idParameters.TryParse(Convert.FromHexString("020001000000000003"), out _));
        Assert.False(Argon2idParameters.TryParse(Convert.FromHexString("010000000700000003"), out _));
        Assert.True(Argon2idParameters.TryParse(Convert.FromHexString("010000000800000001"), out _));
        Assert.False(Argon2idParameters.TryParse(Convert.FromHexString("010000000800000000"), out _));
        Assert.False(Argon2idParameters.TryParse(Convert.FromHexString("018000000000000003"), out _));
    }

    [Fact]
    public void Login_with_Argon2id_succeeds_with_the_registered_parameters_and_fails_with_others()
    {
        byte[] password = "correct horse battery staple"u8.ToArray();
        var registered = new Argon2idParameters { MemoryKiB = 256, Iterations = 2 };
        var client = new OpaqueClient(new Argon2idKeyStretching(registered, TestLimits));
        using var keys = ServerKeys.Generate();
        using var server = new OpaqueServer(keys, OpaqueServer.GenerateOprfSeed());

        var (registration, request) = client.StartRegistration(password);
        var (record, exportKey) = client.FinishRegistration(
            registration, password, server.CreateRegistrationResponse(request, "alice"u8), OpaqueIdentities.None);

        // The device learns the parameters from the server with KE2 and builds its client then.
        foreach (var (parameters, expected) in new[] { (registered, true), (registered with { MemoryKiB = 512 }, false) })
        {
            var (state, ke1) = new OpaqueClient(IdentityKeyStretching.Instance).StartLogin(password);
            var (serverState, ke2) = server.StartLogin(record, "alice"u8, ke1, OpaqueIdentities.None, default);
            var later = new OpaqueClient(new Argon2idKeyStretching(parameters, TestLimits));
            using LoginOutcome outcome = later.FinishLogin(state, password, ke2, OpaqueIdentities.None, default);
            Assert.Equal(expected, outcome.Succeeded);
            if (outcome.Succeeded)
            {
                Assert.Equal(exportKey, outcome.ExportKey);
                using ServerLoginOutcome finished = server.FinishLogin(serverState, outcome.KE3);
                Assert.True(finished.Succeeded);
            }
            else
            {
                serverState.Dispose();
            }
        }
    }

    private static byte[] Stretch(byte[] input, int memoryKiB, int passes)
    {
        var output = new byte[64];
        new Argon2idKeyStretching(new Argon2idParameters { MemoryKiB = memoryKiB, Iterations = passes }, TestLimits).Stretch(input, output);
        return output;
    }
}
