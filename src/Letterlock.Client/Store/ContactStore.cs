using System.Text.Json;
using Letterlock.Client.Validation;
using Microsoft.Data.Sqlite;

namespace Letterlock.Client.Store;

/// <summary>A change to a contact computed from its current record: the new record and the transitions to record.</summary>
public sealed record ContactUpdate(ContactRecord Record, IReadOnlyList<KeyTransition> Transitions);

/// <summary>
/// Contacts of each account with their key validation state. Each state change is written with
/// its transitions in one transaction, so the history can never miss a change.
/// </summary>
public sealed class ContactStore
{
    private const string AddressLookup = "contact-address";
    private readonly LocalStore _store;

    internal ContactStore(LocalStore store) => _store = store;

    /// <summary>The contact for an address, or null when the account never saw it.</summary>
    public Task<ContactRecord?> GetAsync(AccountId account, string address, CancellationToken ct = default)
    {
        var normalized = MailAddress.Normalize(address);
        return _store.Read((connection, transaction) => Find(connection, transaction, account, normalized), ct);
    }

    /// <summary>All contacts of an account, by address.</summary>
    public Task<IReadOnlyList<ContactRecord>> ListAsync(AccountId account, CancellationToken ct = default) =>
        _store.Read<IReadOnlyList<ContactRecord>>((connection, transaction) =>
        {
            using var command = Sql.Command(connection, transaction, "SELECT id, data FROM contacts WHERE account_id = $account",
                ("$account", account.Value));
            using var reader = command.ExecuteReader();
            var contacts = new List<ContactRecord>();
            while (reader.Read())
            {
                contacts.Add(Open(account, new ContactId(reader.GetId(0)), reader.GetBlob(1)));
            }

            return contacts.OrderBy(c => c.Address, StringComparer.Ordinal).ToList();
        }, ct);

    /// <summary>
    /// Reads the contact (an empty one when new), lets <paramref name="update"/> compute the change,
    /// and writes it with its transitions in one write transaction. Null from the function writes nothing.
    /// </summary>
    public Task<ContactRecord> UpdateAsync(AccountId account, string address, Func<ContactRecord, ContactUpdate?> update, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(update);
        var normalized = MailAddress.Normalize(address);
        return _store.Write((connection, transaction) =>
        {
            var existing = Find(connection, transaction, account, normalized);
            var current = existing ?? new ContactRecord(ContactId.New(), account, normalized, null, ContactKeyState.Empty, null, false);
            var change = update(current);
            if (change is null)
            {
                return current;
            }

            var record = change.Record with { Id = current.Id, Account = account, Address = normalized };
            var data = Seal(record);
            if (existing is null)
            {
                try
                {
                    Sql.Execute(connection, transaction,
                        "INSERT INTO contacts (id, account_id, address_key, data) VALUES ($id, $account, $key, $data)",
                        ("$id", record.Id.Value), ("$account", account.Value), ("$key", AddressKey(account, normalized)), ("$data", data));
                }
                catch (SqliteException e) when (e.SqliteErrorCode == 19)
                {
                    throw new LocalStoreException("no such account");
                }
            }
            else
            {
                Sql.Execute(connection, transaction, "UPDATE contacts SET data = $data WHERE id = $id", ("$id", record.Id.Value), ("$data", data));
            }

            if (change.Transitions.Count > 0)
            {
                var seq = Convert.ToInt64(Sql.Scalar(connection, transaction,
                    "SELECT coalesce(max(seq), 0) FROM contact_events WHERE contact_id = $id", ("$id", record.Id.Value)),
                    System.Globalization.CultureInfo.InvariantCulture);
                foreach (var transition in change.Transitions)
                {
                    var eventId = Guid.NewGuid();
                    Sql.Execute(connection, transaction,
                        "INSERT INTO contact_events (id, contact_id, seq, data) VALUES ($id, $contact, $seq, $data)",
                        ("$id", eventId), ("$contact", record.Id.Value), ("$seq", ++seq),
                        ("$data", _store.Cipher.Seal(SealedColumn.ContactEvent, eventId, account.Value,
                            JsonSerializer.SerializeToUtf8Bytes(transition, StoreJson.Default.KeyTransition))));
                }
            }

            return record;
        }, ct);
    }

    /// <summary>Applies a key observed for the address (from discovery or received mail) and records the outcome.</summary>
    public async Task<KeyValidationResult> ObserveKeyAsync(AccountId account, string address, ObservedKey key,
        TransparencyVerdict verdict, CancellationToken ct = default)
    {
        KeyValidationResult? result = null;
        await UpdateAsync(account, address, contact =>
        {
            result = ContactKeyValidator.Observe(contact.KeyState, key, verdict, _store.Time.GetUtcNow());
            return new ContactUpdate(contact with { KeyState = result.State }, result.Transitions);
        }, ct).ConfigureAwait(false);
        return result!;
    }

    /// <summary>The user accepts a key for the address (<c>letterlock contacts accept-key</c>).</summary>
    public Task<KeyValidationResult> AcceptKeyAsync(AccountId account, string address, KeyFingerprint fingerprint, CancellationToken ct = default) =>
        Decide(account, address, state => ContactKeyValidator.Accept(state, fingerprint, _store.Time.GetUtcNow()), ct);

    /// <summary>The user confirmed a fingerprint out of band (<c>letterlock contacts verify</c>).</summary>
    public Task<KeyValidationResult> VerifyKeyAsync(AccountId account, string address, KeyFingerprint fingerprint, CancellationToken ct = default) =>
        Decide(account, address, state => ContactKeyValidator.Verify(state, fingerprint, _store.Time.GetUtcNow()), ct);

    /// <summary>Every recorded key transition of the address, oldest first.</summary>
    public Task<IReadOnlyList<KeyTransition>> HistoryAsync(AccountId account, string address, CancellationToken ct = default)
    {
        var normalized = MailAddress.Normalize(address);
        return _store.Read<IReadOnlyList<KeyTransition>>((connection, transaction) =>
        {
            using var command = Sql.Command(connection, transaction, """
                SELECT e.id, e.data FROM contact_events e JOIN contacts c ON c.id = e.contact_id
                WHERE c.account_id = $account AND c.address_key = $key ORDER BY e.seq
                """, ("$account", account.Value), ("$key", AddressKey(account, normalized)));
            using var reader = command.ExecuteReader();
            var history = new List<KeyTransition>();
            while (reader.Read())
            {
                var plaintext = _store.Cipher.Open(SealedColumn.ContactEvent, reader.GetId(0), account.Value, reader.GetBlob(1));
                history.Add(JsonSerializer.Deserialize(plaintext, StoreJson.Default.KeyTransition)
                    ?? throw new StoreIntegrityException("a key transition is empty"));
            }

            return history;
        }, ct);
    }

    private async Task<KeyValidationResult> Decide(AccountId account, string address, Func<ContactKeyState, KeyValidationResult> decide, CancellationToken ct)
    {
        KeyValidationResult? result = null;
        await UpdateAsync(account, address, contact =>
        {
            result = decide(contact.KeyState);
            return result.Status == KeyDecisionStatus.Applied && result.Transitions.Count > 0
                ? new ContactUpdate(contact with { KeyState = result.State }, result.Transitions)
                : null;
        }, ct).ConfigureAwait(false);
        return result!;
    }

    private ContactRecord? Find(SqliteConnection connection, SqliteTransaction transaction, AccountId account, string normalized)
    {
        using var command = Sql.Command(connection, transaction,
            "SELECT id, data FROM contacts WHERE account_id = $account AND address_key = $key",
            ("$account", account.Value), ("$key", AddressKey(account, normalized)));
        using var reader = command.ExecuteReader();
        return reader.Read() ? Open(account, new ContactId(reader.GetId(0)), reader.GetBlob(1)) : null;
    }

    private byte[] AddressKey(AccountId account, string normalized) => _store.Cipher.LookupKey(AddressLookup, account.Value, normalized);

    private byte[] Seal(ContactRecord record) =>
        _store.Cipher.Seal(SealedColumn.ContactData, record.Id.Value, record.Account.Value, JsonSerializer.SerializeToUtf8Bytes(
            new ContactData(record.Address, record.DisplayName, record.KeyState, record.Autocrypt, record.EncryptedOnly),
            StoreJson.Default.ContactData));

    private ContactRecord Open(AccountId account, ContactId id, byte[] sealedData)
    {
        var data = JsonSerializer.Deserialize(_store.Cipher.Open(SealedColumn.ContactData, id.Value, account.Value, sealedData),
            StoreJson.Default.ContactData) ?? throw new StoreIntegrityException("a contact record is empty");
        return new ContactRecord(id, account, data.Address, data.DisplayName, data.KeyState, data.Autocrypt, data.EncryptedOnly);
    }
}
