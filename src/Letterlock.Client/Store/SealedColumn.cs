namespace Letterlock.Client.Store;

/// <summary>
/// A table and column that holds AEAD ciphertext. Both names are part of the associated data
/// of every value sealed into it, together with the row's identifier and owning account, so a
/// value copied to another row, column or account no longer opens.
/// </summary>
internal readonly record struct SealedColumn(string Table, string Column)
{
    public static readonly SealedColumn AccountData = new("accounts", "data");
    public static readonly SealedColumn FolderData = new("folders", "data");
    public static readonly SealedColumn MessageSummary = new("messages", "summary");
    public static readonly SealedColumn MessageFlags = new("messages", "flags");
    public static readonly SealedColumn MessageEnvelope = new("messages", "envelope");
    public static readonly SealedColumn MessageBody = new("message_bodies", "body");
    public static readonly SealedColumn ContactData = new("contacts", "data");
    public static readonly SealedColumn ContactEvent = new("contact_events", "data");
    public static readonly SealedColumn AccountKey = new("account_keys", "data");
    public static readonly SealedColumn JobPayload = new("jobs", "payload");
    public static readonly SealedColumn JobError = new("jobs", "last_error");
    public static readonly SealedColumn Setting = new("client_settings", "value");
}
