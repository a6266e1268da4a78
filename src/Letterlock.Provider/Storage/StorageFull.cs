using Microsoft.Data.Sqlite;
using Npgsql;

namespace Letterlock.Provider.Storage;

/// <summary>
/// Recognises the failures that mean "the provider's storage is full": a full disk or quota on the blob folder,
/// the spool or the SQLite file, or a PostgreSQL server out of disk. They are answered as what they are, a
/// temporary condition on our side (SMTP <c>452 4.3.1</c>, HTTP <c>507</c>), not as an internal error.
/// </summary>
internal static class StorageFull
{
    private const int Enospc = 28;
    private const int Edquot = 122;
    private const int SqliteFull = 13;

    /// <summary>Whether <paramref name="failure"/> (or an exception inside it) says the storage is full.</summary>
    public static bool IsFull(Exception failure)
    {
        for (var e = failure; e is not null; e = e.InnerException)
        {
            switch (e)
            {
                case SqliteException sqlite when (sqlite.SqliteErrorCode & 0xFF) == SqliteFull:
                case PostgresException postgres when postgres.SqlState == PostgresErrorCodes.DiskFull:
                case IOException io when io.HResult is Enospc or Edquot:
                    return true;
            }

            if (e is AggregateException aggregate && aggregate.InnerExceptions.Any(IsFull))
            {
                return true;
            }
        }

        return false;
    }
}
