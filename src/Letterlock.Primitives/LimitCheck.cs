using System.Numerics;

namespace Letterlock.Primitives;

/// <summary>
/// The checks an options type runs on a limit when it is set, each with the one message every options type gives
/// (the limit's name and what it must be), so a wrong setting fails where it is made and says which.
/// </summary>
public static class LimitCheck
{
    /// <summary>Returns <paramref name="value"/> when it lies between <paramref name="min"/> and <paramref name="max"/> (both included).</summary>
    /// <param name="value">The value being set.</param>
    /// <param name="min">The smallest value allowed.</param>
    /// <param name="max">The largest value allowed.</param>
    /// <param name="name">The limit's name (the property), for the message.</param>
    /// <returns>The value.</returns>
    /// <exception cref="ArgumentOutOfRangeException">It lies outside the range.</exception>
    public static T InRange<T>(T value, T min, T max, string name)
        where T : IComparable<T> =>
        value.CompareTo(min) >= 0 && value.CompareTo(max) <= 0
            ? value
            : throw new ArgumentOutOfRangeException(name, value, $"{name} must be between {min} and {max}.");

    /// <summary>Returns <paramref name="value"/> when it is greater than zero.</summary>
    /// <param name="value">The value being set.</param>
    /// <param name="name">The limit's name (the property), for the message.</param>
    /// <returns>The value.</returns>
    /// <exception cref="ArgumentOutOfRangeException">It is zero or negative.</exception>
    public static T Positive<T>(T value, string name)
        where T : INumber<T> =>
        value > T.Zero ? value : throw new ArgumentOutOfRangeException(name, value, $"{name} must be positive");
}
