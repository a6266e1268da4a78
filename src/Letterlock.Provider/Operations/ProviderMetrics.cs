using System.Collections.Concurrent;
using System.Globalization;
using System.Text;

namespace Letterlock.Provider.Operations;

/// <summary>
/// The counters the provider keeps for <c>GET /metrics</c>. Counted in-process since start (Prometheus takes
/// restarts in its stride: <c>rate()</c> handles counter resets); gauges such as queue depth are read at scrape time.
/// Labels are bounded: route templates, status codes and fixed result names, never addresses or domains.
/// </summary>
public sealed class ProviderMetrics
{
    private readonly ConcurrentDictionary<(string Route, int Status), long> _apiErrors = new();
    private readonly ConcurrentDictionary<(string Route, int Status), long> _apiRequests = new();
    private long _mxAccepted;
    private long _mxRefused;

    /// <summary>Messages the MX accepted (250 after the commit).</summary>
    public long MxAccepted => Interlocked.Read(ref _mxAccepted);

    internal void CountMxAccepted() => Interlocked.Increment(ref _mxAccepted);

    internal void CountMxRefused() => Interlocked.Increment(ref _mxRefused);

    /// <summary>Counts one API answer; 4xx and 5xx also count as errors of their route.</summary>
    internal void CountApiRequest(string route, int status)
    {
        _apiRequests.AddOrUpdate((route, status), 1, (_, n) => n + 1);
        if (status >= 400)
        {
            _apiErrors.AddOrUpdate((route, status), 1, (_, n) => n + 1);
        }
    }

    /// <summary>API errors (status 400 and above) of one route and status so far.</summary>
    public long ApiErrors(string route, int status) => _apiErrors.TryGetValue((route, status), out long n) ? n : 0;

    /// <summary>Values read at scrape time from the queue, the transparency log and the relay.</summary>
    public sealed record Snapshot(
        int QueueDepth,
        double QueueOldestAgeSeconds,
        long Delivered,
        long Failed,
        long Deferred,
        IReadOnlyDictionary<string, long> TlsSuccesses,
        IReadOnlyDictionary<(string Policy, string Result), long> TlsFailures,
        long? TransparencyEpoch);

    /// <summary>Writes everything in the Prometheus text exposition format, version 0.0.4.</summary>
    public string Render(Snapshot snapshot)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        var text = new StringBuilder();
        Family(text, "letterlock_mx_messages_total", "counter", "Messages arriving at the MX, by result (accepted: sealed and committed; refused at commit).");
        Sample(text, "letterlock_mx_messages_total", [("result", "accepted")], MxAccepted);
        Sample(text, "letterlock_mx_messages_total", [("result", "refused")], Interlocked.Read(ref _mxRefused));

        Family(text, "letterlock_relay_queue_deliveries", "gauge", "Deliveries (a message to one destination domain) waiting in the relay queue.");
        Sample(text, "letterlock_relay_queue_deliveries", [], snapshot.QueueDepth);
        Family(text, "letterlock_relay_queue_oldest_age_seconds", "gauge", "Age of the oldest delivery in the relay queue; 0 when it is empty.");
        Sample(text, "letterlock_relay_queue_oldest_age_seconds", [], snapshot.QueueOldestAgeSeconds);

        Family(text, "letterlock_relay_recipients_total", "counter", "Outcomes of delivery attempts per recipient on this node (delivered, failed: bounced, deferred: to be retried).");
        Sample(text, "letterlock_relay_recipients_total", [("result", "delivered")], snapshot.Delivered);
        Sample(text, "letterlock_relay_recipients_total", [("result", "failed")], snapshot.Failed);
        Sample(text, "letterlock_relay_recipients_total", [("result", "deferred")], snapshot.Deferred);

        Family(text, "letterlock_relay_tls_sessions_total", "counter", "Outgoing SMTP sessions by TLS policy (sts, tlsa, none) and result (success or the RFC 8460 failure type).");
        foreach (var (policy, count) in snapshot.TlsSuccesses.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            Sample(text, "letterlock_relay_tls_sessions_total", [("policy", policy), ("result", "success")], count);
        }

        foreach (var ((policy, result), count) in snapshot.TlsFailures.OrderBy(p => p.Key.Policy, StringComparer.Ordinal).ThenBy(p => p.Key.Result, StringComparer.Ordinal))
        {
            Sample(text, "letterlock_relay_tls_sessions_total", [("policy", policy), ("result", result)], count);
        }

        Family(text, "letterlock_transparency_epoch", "gauge", "The newest published key-transparency epoch; -1 before the first.");
        Sample(text, "letterlock_transparency_epoch", [], snapshot.TransparencyEpoch ?? -1);

        Family(text, "letterlock_api_requests_total", "counter", "HTTPS API answers by route template and status code.");
        foreach (var ((route, status), count) in _apiRequests.OrderBy(p => p.Key.Route, StringComparer.Ordinal).ThenBy(p => p.Key.Status))
        {
            Sample(text, "letterlock_api_requests_total", [("route", route), ("status", status.ToString(CultureInfo.InvariantCulture))], count);
        }

        Family(text, "letterlock_api_errors_total", "counter", "HTTPS API answers with status 400 or above, by route template and status code.");
        foreach (var ((route, status), count) in _apiErrors.OrderBy(p => p.Key.Route, StringComparer.Ordinal).ThenBy(p => p.Key.Status))
        {
            Sample(text, "letterlock_api_errors_total", [("route", route), ("status", status.ToString(CultureInfo.InvariantCulture))], count);
        }

        return text.ToString();
    }

    private static void Family(StringBuilder text, string name, string type, string help) =>
        text.Append(CultureInfo.InvariantCulture, $"# HELP {name} {help}\n# TYPE {name} {type}\n");

    // metric_name [ "{" label_name "=" `"` label_value `"` { "," ... } "}" ] value
    // label_value escapes backslash, double-quote and line feed (Prometheus text exposition format 0.0.4)
    private static void Sample(StringBuilder text, string name, (string Name, string Value)[] labels, double value)
    {
        text.Append(name);
        if (labels.Length > 0)
        {
            text.Append('{');
            for (int i = 0; i < labels.Length; i++)
            {
                if (i > 0)
                {
                    text.Append(',');
                }

                text.Append(labels[i].Name).Append("=\"")
                    .Append(labels[i].Value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal))
                    .Append('"');
            }

            text.Append('}');
        }

        text.Append(' ').Append(value.ToString("R", CultureInfo.InvariantCulture)).Append('\n');
    }
}
