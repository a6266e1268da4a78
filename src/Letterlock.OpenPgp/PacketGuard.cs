using Org.BouncyCastle.Bcpg.OpenPgp;

namespace Letterlock.OpenPgp;

/// <summary>
/// Translates BouncyCastle's assorted parser failures into <see cref="MalformedInputException"/>
/// at the one boundary where we call it ("translate failures at the owning boundary").
/// </summary>
internal static class PacketGuard
{
    public static void Run(Action action) => Run(() =>
    {
        action();
        return 0;
    });

    public static T Run<T>(Func<T> func)
    {
        try
        {
            return func();
        }
        catch (OpenPgpException)
        {
            throw;
        }
        catch (Exception e) when (IsParserFailure(e))
        {
            throw new MalformedInputException("malformed OpenPGP data", e);
        }
    }

    public static bool IsParserFailure(Exception e) =>
        e is PgpException or IOException or ArgumentException or InvalidOperationException or FormatException
            or IndexOutOfRangeException or InvalidCastException or OverflowException or NullReferenceException
            or NotSupportedException or NotImplementedException or Org.BouncyCastle.Crypto.CryptoException
            or Org.BouncyCastle.Security.SecurityUtilityException or OutOfMemoryException
            || (e.GetType().Namespace?.StartsWith("Org.BouncyCastle", StringComparison.Ordinal) ?? false);
}
