using Microsoft.Data.Sqlite;

namespace Letterlock.Client.Store;

/// <summary>Small helpers so each query reads as SQL plus its parameters.</summary>
internal static class Sql
{
    public static SqliteCommand Command(SqliteConnection connection, SqliteTransaction transaction, string sql, params (string Name, object? Value)[] parameters)
    {
        var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value switch
            {
                null => DBNull.Value,
                Guid g => StoreCipher.GuidBytes(g),
                _ => value,
            });
        }

        return command;
    }

    public static int Execute(SqliteConnection connection, SqliteTransaction transaction, string sql, params (string Name, object? Value)[] parameters)
    {
        using var command = Command(connection, transaction, sql, parameters);
        return command.ExecuteNonQuery();
    }

    public static object? Scalar(SqliteConnection connection, SqliteTransaction transaction, string sql, params (string Name, object? Value)[] parameters)
    {
        using var command = Command(connection, transaction, sql, parameters);
        return command.ExecuteScalar();
    }

    public static Guid GetId(this SqliteDataReader reader, int ordinal) => StoreCipher.ReadGuid(reader.GetBlob(ordinal));

    /// <summary>A BLOB column; anything else there means the file was altered.</summary>
    public static byte[] GetBlob(this SqliteDataReader reader, int ordinal) =>
        reader[ordinal] as byte[] ?? throw new StoreIntegrityException("a stored value has the wrong type (the store file was altered)");

    public static bool IsUniqueViolation(SqliteException e) => e.SqliteErrorCode == 19 && e.SqliteExtendedErrorCode is 2067 or 1555;
}
