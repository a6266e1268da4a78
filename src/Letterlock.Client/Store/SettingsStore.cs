using System.Security.Cryptography;
using System.Text;

namespace Letterlock.Client.Store;

/// <summary>Client-wide values sealed under the local key, by name (e.g. <c>bridge.tls</c>).</summary>
public sealed class SettingsStore
{
    private readonly LocalStore _store;

    internal SettingsStore(LocalStore store) => _store = store;

    /// <summary>The value of a setting, or null.</summary>
    public Task<byte[]?> GetAsync(string name, CancellationToken ct = default)
    {
        var rowId = RowId(name);
        return _store.Read((connection, transaction) =>
            Sql.Scalar(connection, transaction, "SELECT value FROM client_settings WHERE name = $name", ("$name", name)) is byte[] value
                ? _store.Cipher.Open(SealedColumn.Setting, rowId, Guid.Empty, value)
                : null, ct);
    }

    /// <summary>Sets (or replaces) a setting.</summary>
    public Task SetAsync(string name, ReadOnlyMemory<byte> value, CancellationToken ct = default)
    {
        var rowId = RowId(name);
        return _store.Write((connection, transaction) =>
            Sql.Execute(connection, transaction, "INSERT OR REPLACE INTO client_settings (name, value) VALUES ($name, $value)",
                ("$name", name), ("$value", _store.Cipher.Seal(SealedColumn.Setting, rowId, Guid.Empty, value.Span))), ct);
    }

    /// <summary>As <see cref="GetAsync"/>, inside the caller's transaction (a read-modify-write of one value).</summary>
    internal byte[]? Get(Microsoft.Data.Sqlite.SqliteConnection connection, Microsoft.Data.Sqlite.SqliteTransaction transaction, string name) =>
        Sql.Scalar(connection, transaction, "SELECT value FROM client_settings WHERE name = $name", ("$name", name)) is byte[] value
            ? _store.Cipher.Open(SealedColumn.Setting, RowId(name), Guid.Empty, value)
            : null;

    /// <summary>As <see cref="SetAsync"/>, inside the caller's write transaction (sync saves its cursor with the page it applied).</summary>
    internal void Set(Microsoft.Data.Sqlite.SqliteConnection connection, Microsoft.Data.Sqlite.SqliteTransaction transaction, string name, ReadOnlySpan<byte> value) =>
        Sql.Execute(connection, transaction, "INSERT OR REPLACE INTO client_settings (name, value) VALUES ($name, $value)",
            ("$name", name), ("$value", _store.Cipher.Seal(SealedColumn.Setting, RowId(name), Guid.Empty, value)));

    /// <summary>The row identity bound into the associated data: derived from the name, so values cannot swap names.</summary>
    private static Guid RowId(string name)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        if (name.Length > 128)
        {
            throw new ArgumentException("A setting name is at most 128 characters.", nameof(name));
        }

        return new Guid(SHA256.HashData(Encoding.UTF8.GetBytes(name)).AsSpan(0, 16), bigEndian: true);
    }
}
