using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace ModelMonitor.WebConsole.Alerts;

/// <summary>
/// Reads the firing alerts from Alertmanager's API v2 (<c>GET /api/v2/alerts?active=true&amp;silenced=false&amp;inhibited=false</c>)
/// when <c>Console:AlertmanagerUrl</c> is set, for at most 2 s, and keeps the answer 10 s (a page view must not wait on a
/// slow Alertmanager, nor many views hit it). A failure is said on the page, never an error page.
/// </summary>
public sealed partial class AlertmanagerClient(HttpClient http, IOptions<ConsoleOptions> options, IMemoryCache cache, ILogger<AlertmanagerClient> logger)
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(2);
    public static readonly TimeSpan CacheFor = TimeSpan.FromSeconds(10);

    public bool Configured => options.Value.AlertmanagerUrl is not null;

    /// <returns>The alerts (null when not configured), or the reason they could not be read.</returns>
    public async Task<(IReadOnlyList<FiringAlert>? Alerts, string? Unavailable)> FiringAsync(CancellationToken cancellationToken)
    {
        if (options.Value.AlertmanagerUrl is not { } baseUrl)
        {
            return (null, null);
        }
        if (cache.TryGetValue(typeof(AlertmanagerClient), out IReadOnlyList<FiringAlert>? cached))
        {
            return (cached, null);
        }
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(Timeout);
            var url = new Uri(baseUrl, "api/v2/alerts?active=true&silenced=false&inhibited=false");
            using var document = await http.GetFromJsonAsync<JsonDocument>(url, timeout.Token)
                ?? throw new JsonException("Alertmanager answered null");
            var alerts = Parse(document.RootElement);
            cache.Set(typeof(AlertmanagerClient), alerts, CacheFor);
            return (alerts, null);
        }
        catch (Exception e) when (e is HttpRequestException or JsonException or NotSupportedException || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            LogUnavailable(logger, baseUrl, e.Message);
            return (null, $"Alertmanager at {baseUrl} did not answer ({(e is OperationCanceledException ? $"no answer within {Timeout.TotalSeconds:0} s" : e.Message)}).");
        }
    }

    /// <summary>The API v2 alert list: labels alertname, severity, predictor_name, model_id, feature; annotation summary.</summary>
    public static IReadOnlyList<FiringAlert> Parse(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Array)
        {
            throw new JsonException("Alertmanager's /api/v2/alerts did not answer a JSON array");
        }
        var alerts = new List<FiringAlert>();
        foreach (var alert in root.EnumerateArray())
        {
            if (alert.TryGetProperty("status", out var status) && status.TryGetProperty("state", out var state) && state.GetString() != "active")
            {
                continue;
            }
            string? Label(string name) => alert.TryGetProperty("labels", out var labels) && labels.TryGetProperty(name, out var value) ? value.GetString() : null;
            var summary = alert.TryGetProperty("annotations", out var annotations) && annotations.TryGetProperty("summary", out var s) ? s.GetString() : null;
            var startsAt = alert.TryGetProperty("startsAt", out var starts) && starts.TryGetDateTimeOffset(out var at) ? at : DateTimeOffset.MinValue;
            alerts.Add(new FiringAlert(Label("alertname") ?? "(unnamed)", Label("severity") ?? "none", Label("predictor_name"), Label("model_id"),
                Label("feature"), summary ?? "", startsAt));
        }
        return alerts;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "The console could not read the alerts from Alertmanager at {Url}: {Reason}")]
    private static partial void LogUnavailable(ILogger logger, Uri url, string reason);
}
