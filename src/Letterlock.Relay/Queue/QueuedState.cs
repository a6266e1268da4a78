using System.Text.Json.Serialization;
using Letterlock.Relay.Delivery;

namespace Letterlock.Relay.Queue;

/// <summary>
/// The sealed part of a queued delivery (docs/FORMATS.md, "relay queue state"): the envelope and the per-recipient
/// state. Kept only in HPKE-sealed form on disk.
/// </summary>
internal sealed class QueuedState
{
    public required string Domain { get; init; }

    public required string Sender { get; init; }

    public required List<QueuedRecipient> Recipients { get; init; }

    public DateTimeOffset ArrivedAt { get; init; }

    public bool DelayWarned { get; set; }

    public string? LastReason { get; set; }
}

/// <summary>One recipient's state.</summary>
internal sealed class QueuedRecipient
{
    public required string Address { get; init; }

    /// <summary>Null while pending; Delivered or Failed once final.</summary>
    public RecipientStatus? Final { get; set; }

    public string? EnhancedStatus { get; set; }

    public string? Diagnostic { get; set; }

    public string? RemoteMta { get; set; }

    public DateTimeOffset? LastAttemptAt { get; set; }

    public bool DsnSent { get; set; }
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, UseStringEnumConverter = true, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(QueuedState))]
internal sealed partial class QueueJson : JsonSerializerContext
{
}
