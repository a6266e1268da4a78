using System.Text.Json;
using System.Text.Json.Serialization;

namespace Letterlock.Client.Validation;

/// <summary>Writes a fingerprint as its hex string.</summary>
internal sealed class KeyFingerprintJsonConverter : JsonConverter<KeyFingerprint>
{
    public override KeyFingerprint Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        KeyFingerprint.TryParse(reader.GetString(), out var fingerprint)
            ? fingerprint
            : throw new JsonException("malformed fingerprint");

    public override void Write(Utf8JsonWriter writer, KeyFingerprint value, JsonSerializerOptions options) =>
        writer.WriteStringValue(value.Hex);
}
