using Letterlock.Primitives;

namespace Letterlock.Primitives.Tests;

public sealed class PadmeTests
{
    [Theory]
    // Expected values follow the paper's Algorithm 1 (E = floor(log2 L), S = floor(log2 E) + 1).
    [InlineData(0, 0)]
    [InlineData(1, 1)]
    [InlineData(2, 2)]
    [InlineData(9, 10)]
    [InlineData(100, 104)]
    [InlineData(1000, 1024)]
    [InlineData(10_000, 10_240)]
    [InlineData(10_241, 10_752)]
    [InlineData(1_000_000, 1_015_808)]
    public void Pads_to_known_lengths(long length, long expected) =>
        Assert.Equal(expected, Padme.PaddedLength(length));

    [Fact]
    public void Never_shrinks_and_overhead_stays_under_twelve_percent()
    {
        var random = new Random(7);
        for (int i = 0; i < 100_000; i++)
        {
            long length = random.NextInt64(1, 1L << 40);
            long padded = Padme.PaddedLength(length);
            Assert.True(padded >= length);
            Assert.True(padded - length <= length * 0.12 + 1, $"{length} -> {padded}");
        }
    }

    [Fact]
    public void Rejects_negative_lengths() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => Padme.PaddedLength(-1));
}
