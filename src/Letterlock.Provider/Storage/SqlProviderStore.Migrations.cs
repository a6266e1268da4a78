using System.Data.Common;
using System.Globalization;

namespace Letterlock.Provider.Storage;

/// <summary>The database was written by a newer provider (or is not a provider database); nothing was changed.</summary>
public sealed class StoreSchemaException(string message) : Exception(message);

/// <summary>One step of the provider database's schema: its version and the statements that reach it from the one before.</summary>
/// <param name="Version">The schema version after this step (1, 2, ...; never reused, never reordered).</param>
/// <param name="Description">What the step adds, for the log and for whoever reads the list.</param>
/// <param name="Statements">The statements, with <c>{blob}</c> standing for the backend's binary type.</param>
public sealed record ProviderMigration(int Version, string Description, IReadOnlyList<string> Statements);

/// <summary>
/// Schema versions. One ordered list, run the same way on SQLite and PostgreSQL: each step runs in the schema
/// transaction with the row that records it in <c>schema_version</c>, so a crash leaves the database at the
/// version before or after a step, never half-way. A database written before versions were recorded (the first
/// release created <c>schema_version</c> but left it empty) is at version 1, whose statements are all
/// <c>IF NOT EXISTS</c> and so harmless to run on it. A database at a version newer than this list is refused.
/// </summary>
public abstract partial class SqlProviderStore
{
    /// <summary>The migrations in order; the last one's version is the schema this code writes.</summary>
    public static IReadOnlyList<ProviderMigration> Migrations { get; } =
    [
        new(1, "accounts, devices, invites, challenges, tokens, documents",
        [
            """
            CREATE TABLE IF NOT EXISTS accounts (
                id TEXT PRIMARY KEY, local_part TEXT NOT NULL UNIQUE, wkd_hash TEXT NOT NULL, status INTEGER NOT NULL,
                quota_bytes BIGINT NOT NULL, used_bytes BIGINT NOT NULL, doc_count BIGINT NOT NULL, last_seq BIGINT NOT NULL,
                openpgp_cert {blob} NOT NULL, inbox_key {blob} NOT NULL, opaque_record {blob} NULL,
                created_at BIGINT NOT NULL, keys_updated_at BIGINT NOT NULL)
            """,
            "CREATE INDEX IF NOT EXISTS accounts_wkd ON accounts (wkd_hash)",
            """
            CREATE TABLE IF NOT EXISTS devices (
                id TEXT PRIMARY KEY, account_id TEXT NOT NULL REFERENCES accounts (id), public_key {blob} NOT NULL,
                name TEXT NOT NULL, created_at BIGINT NOT NULL, revoked INTEGER NOT NULL)
            """,
            "CREATE INDEX IF NOT EXISTS devices_account ON devices (account_id)",
            "CREATE TABLE IF NOT EXISTS invites (hash {blob} PRIMARY KEY, created_at BIGINT NOT NULL, expires_at BIGINT NOT NULL, used_at BIGINT NULL, account_id TEXT NULL)",
            "CREATE TABLE IF NOT EXISTS challenges (id TEXT PRIMARY KEY, device_id TEXT NOT NULL, challenge {blob} NOT NULL, expires_at BIGINT NOT NULL)",
            "CREATE TABLE IF NOT EXISTS tokens (hash {blob} PRIMARY KEY, device_id TEXT NOT NULL, account_id TEXT NOT NULL, expires_at BIGINT NOT NULL)",
            """
            CREATE TABLE IF NOT EXISTS documents (
                account_id TEXT NOT NULL REFERENCES accounts (id), id TEXT NOT NULL, kind TEXT NOT NULL,
                revision BIGINT NOT NULL, seq BIGINT NOT NULL, size BIGINT NOT NULL, padded_size BIGINT NOT NULL,
                modified_at BIGINT NOT NULL, deleted INTEGER NOT NULL, inline_data {blob} NULL, blob_hash TEXT NULL,
                PRIMARY KEY (account_id, id))
            """,
            "CREATE INDEX IF NOT EXISTS documents_seq ON documents (account_id, seq)",
            "CREATE INDEX IF NOT EXISTS documents_blob ON documents (blob_hash) WHERE blob_hash IS NOT NULL",
        ]),
        new(2, "accounts that survive a device: AMK slots, login state and limits, device last-seen and revocation time, deleted accounts",
        [
            // The wrapped account master key per way back in (password, recovery), and for recovery the Ed25519 key
            // that proves the code (the provider stores no secret that opens the wrap).
            """
            CREATE TABLE account_slots (
                account_id TEXT NOT NULL REFERENCES accounts (id), kind TEXT NOT NULL, wrapped {blob} NOT NULL,
                verifier {blob} NULL, updated_at BIGINT NOT NULL, PRIMARY KEY (account_id, kind))
            """,
            // Short-lived state between the two messages of a login (OPAQUE, recovery); shared by all nodes.
            "CREATE TABLE pending_logins (id TEXT PRIMARY KEY, kind TEXT NOT NULL, account_id TEXT NULL, state {blob} NOT NULL, expires_at BIGINT NOT NULL)",
            // Failed logins per account, for the back-off (per-client limits: rate_limits, version 5).
            "CREATE TABLE login_failures (account_id TEXT PRIMARY KEY, failures INTEGER NOT NULL, blocked_until BIGINT NOT NULL)",
            "ALTER TABLE devices ADD COLUMN last_seen_at BIGINT NULL",
            "ALTER TABLE devices ADD COLUMN revoked_at BIGINT NULL",
            // A deleted account keeps its row (and so its address) until the quarantine ends.
            "ALTER TABLE accounts ADD COLUMN deleted_at BIGINT NULL",
        ]),
        new(3, "native protocol prekeys: each device's identity certificate, signed and last-resort prekeys, and its pool of one-time prekeys",
        [
            // Public keys signed by the device (docs/FORMATS.md, "Native protocol"); the provider can hand them out, not use them.
            """
            CREATE TABLE device_prekeys (
                device_id TEXT PRIMARY KEY, account_id TEXT NOT NULL, identity {blob} NOT NULL,
                signed_prekey {blob} NOT NULL, kem_prekey {blob} NOT NULL, updated_at BIGINT NOT NULL)
            """,
            "CREATE INDEX device_prekeys_account ON device_prekeys (account_id)",
            """
            CREATE TABLE one_time_prekeys (
                device_id TEXT NOT NULL, account_id TEXT NOT NULL, kind INTEGER NOT NULL, id BIGINT NOT NULL,
                prekey {blob} NOT NULL, expires_at BIGINT NOT NULL, PRIMARY KEY (device_id, kind, id))
            """,
            "CREATE INDEX one_time_prekeys_expiry ON one_time_prekeys (expires_at)",
        ]),
        new(4, "blobs in the database (PostgresBlobStore, the default on PostgreSQL): uploads in flight, chunks, committed blobs",
        [
            // Created on SQLite too (one list for both backends), where they stay empty: SQLite keeps blobs in a folder.
            "CREATE TABLE blob_uploads (id TEXT PRIMARY KEY, started_at BIGINT NOT NULL)",
            "CREATE TABLE blob_chunks (upload_id TEXT NOT NULL, idx INTEGER NOT NULL, data {blob} NOT NULL, PRIMARY KEY (upload_id, idx))",
            "CREATE TABLE blobs (hash TEXT PRIMARY KEY, upload_id TEXT NOT NULL, size BIGINT NOT NULL, chunk_count INTEGER NOT NULL, written_at BIGINT NOT NULL)",
        ]),
        new(5, "rate limits in the database: attempts per kind and client (or account) in the current fixed window, shared by every node",
        [
            "CREATE TABLE rate_limits (kind TEXT NOT NULL, client TEXT NOT NULL, window_start BIGINT NOT NULL, attempts BIGINT NOT NULL, PRIMARY KEY (kind, client))",
        ]),
    ];

    /// <summary>The schema version this code writes.</summary>
    public static int SchemaVersion => Migrations[^1].Version;

    /// <summary>The schema version recorded in the database (0 for an empty database).</summary>
    public async Task<int> GetSchemaVersionAsync(CancellationToken ct)
    {
        var connection = await OpenReadConnectionAsync(ct).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            try
            {
                return Convert.ToInt32(await Scalar(connection, null, "SELECT MAX(version) FROM schema_version", ct).ConfigureAwait(false) ?? 0, CultureInfo.InvariantCulture);
            }
            catch (DbException)
            {
                return 0; // no schema_version table yet
            }
        }
    }

    private Task MigrateAsync(CancellationToken ct) =>
        WriteAsync<bool>(
            async (c, t) =>
            {
                if (SchemaLockStatement is { } lockStatement)
                {
                    await Exec(c, t, lockStatement, ct).ConfigureAwait(false);
                }

                await Exec(c, t, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)", ct).ConfigureAwait(false);
                int current = Convert.ToInt32(await Scalar(c, t, "SELECT MAX(version) FROM schema_version", ct).ConfigureAwait(false) ?? 0, CultureInfo.InvariantCulture);
                if (current > SchemaVersion)
                {
                    throw new StoreSchemaException(
                        $"the database is at schema version {current}, newer than this provider's {SchemaVersion}: run the newer provider (nothing was changed)");
                }

                foreach (var migration in Migrations.Where(m => m.Version > current))
                {
                    foreach (string statement in migration.Statements)
                    {
                        await Exec(c, t, statement.Replace("{blob}", BlobType, StringComparison.Ordinal), ct).ConfigureAwait(false);
                    }

                    await Exec(c, t, "INSERT INTO schema_version (version) VALUES (@v)", ct, ("@v", migration.Version)).ConfigureAwait(false);
                }

                return (true, true);
            },
            ct);
}
