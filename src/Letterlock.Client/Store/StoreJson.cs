using System.Text.Json.Serialization;
using Letterlock.Client.Validation;

namespace Letterlock.Client.Store;

internal sealed record AccountData(string Address, string? DisplayName, string? ProviderUrl, EncryptionPolicy Policy, DateTimeOffset CreatedAt,
    string? ProviderDomain = null, Guid? RemoteAccountId = null, Guid? DeviceId = null);

internal sealed record FolderData(string Name, FolderRole Role, bool Subscribed);

internal sealed record ContactData(string Address, string? DisplayName, ContactKeyState KeyState, AutocryptPeerState? Autocrypt, bool EncryptedOnly);

internal sealed record KeyData(byte[] Material, DateTimeOffset CreatedAt);

/// <summary>Source-generated JSON for the plaintext of sealed columns (no reflection: AOT-safe).</summary>
[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(AccountData))]
[JsonSerializable(typeof(FolderData))]
[JsonSerializable(typeof(MessageSummary))]
[JsonSerializable(typeof(ContactData))]
[JsonSerializable(typeof(KeyTransition))]
[JsonSerializable(typeof(KeyData))]
internal sealed partial class StoreJson : JsonSerializerContext;
