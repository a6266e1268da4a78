using System.Text.Json;
using Letterlock.Client.Store;

namespace Letterlock.Bridge;

/// <summary>The bridge's ports on 127.0.0.1.</summary>
/// <param name="Imap">IMAP (STARTTLS).</param>
/// <param name="Smtp">SMTP submission (STARTTLS).</param>
public sealed record BridgePortChoice(int Imap, int Smtp);

/// <summary>
/// The bridge listens on stable ports, so a mail app configured once keeps working: chosen once and remembered in the
/// store (setting <c>bridge.ports</c>, sealed JSON). A store without the setting (every store written before it
/// existed, whose bridge always used 1143 and 1025) gets the defaults, which are also what providers advertise in
/// their mail autoconfiguration. A port given explicitly (other than 0) becomes the remembered one; 0 (any free port,
/// for tests and one-off runs) is never remembered.
/// </summary>
public static class BridgePorts
{
    /// <summary>The default IMAP port (what autoconfiguration advertises).</summary>
    public const int DefaultImap = 1143;

    /// <summary>The default SMTP submission port (what autoconfiguration advertises).</summary>
    public const int DefaultSmtp = 1025;

    /// <summary>The setting that remembers the ports.</summary>
    public const string SettingName = "bridge.ports";

    /// <summary>The remembered ports, or null when none were chosen yet.</summary>
    public static async Task<BridgePortChoice?> LoadAsync(LocalStore store, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        var bytes = await store.Settings.GetAsync(SettingName, ct).ConfigureAwait(false);
        if (bytes is null)
        {
            return null;
        }

        try
        {
            return JsonSerializer.Deserialize(bytes, BridgeJson.Default.BridgePortChoice) is { } p && Valid(p.Imap) && Valid(p.Smtp) ? p : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>
    /// The ports to listen on: the requested ones, else the remembered ones, else the defaults; remembers the result
    /// when nothing was remembered yet or a non-zero port was requested.
    /// </summary>
    public static async Task<BridgePortChoice> ResolveAsync(LocalStore store, int? imap, int? smtp, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        foreach (var (name, value) in new[] { ("IMAP", imap), ("SMTP", smtp) })
        {
            if (value is { } v && !(v == 0 || Valid(v)))
            {
                throw new ArgumentOutOfRangeException(nameof(imap), $"the {name} port must be between 0 and 65535, not {v}");
            }
        }

        var remembered = await LoadAsync(store, ct).ConfigureAwait(false);
        var choice = new BridgePortChoice(imap ?? remembered?.Imap ?? DefaultImap, smtp ?? remembered?.Smtp ?? DefaultSmtp);
        var keep = new BridgePortChoice(choice.Imap == 0 ? remembered?.Imap ?? DefaultImap : choice.Imap, choice.Smtp == 0 ? remembered?.Smtp ?? DefaultSmtp : choice.Smtp);
        if (keep != remembered)
        {
            await store.Settings.SetAsync(SettingName, JsonSerializer.SerializeToUtf8Bytes(keep, BridgeJson.Default.BridgePortChoice), ct).ConfigureAwait(false);
        }

        return choice;
    }

    private static bool Valid(int port) => port is > 0 and <= 65535;
}
