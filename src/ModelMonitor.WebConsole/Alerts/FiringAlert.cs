using System.Globalization;
using System.Text;
using ModelMonitor.WebConsole.Shared;

namespace ModelMonitor.WebConsole.Alerts;

/// <summary>An alert Alertmanager reports as active (firing, not silenced or inhibited).</summary>
public sealed record FiringAlert(string Name, string Severity, string? PredictorName, string? ModelId, string? Feature, string Summary, DateTimeOffset StartsAt)
{
    /// <summary>Whether the alert is about this model, or about its whole predictor (no model_id label).</summary>
    public bool Concerns(string predictor, string model) =>
        string.Equals(PredictorName, predictor, StringComparison.Ordinal) && (ModelId is null || string.Equals(ModelId, model, StringComparison.Ordinal));
}

/// <summary>The alerts a page shows: nothing when Alertmanager is not configured, a note when it cannot be read.</summary>
public static class AlertList
{
    /// <param name="alerts">null: Console:AlertmanagerUrl is not set.</param>
    public static string Render(IReadOnlyList<FiringAlert>? alerts, string? unavailable = null)
    {
        if (unavailable is not null)
        {
            return $"<p class=\"note\" role=\"status\">Alerts unavailable: {Html.Encode(unavailable)}</p>";
        }
        if (alerts is null)
        {
            return "";
        }
        if (alerts.Count == 0)
        {
            return "<p class=\"ok\" role=\"status\">✓ No alert firing.</p>";
        }
        var html = new StringBuilder();
        html.Append(CultureInfo.InvariantCulture, $"<section class=\"alerts\" aria-labelledby=\"alerts-h\"><h2 id=\"alerts-h\">⚠ {alerts.Count} alert{(alerts.Count == 1 ? "" : "s")} firing</h2><ul>");
        foreach (var alert in alerts.OrderBy(a => a.Severity == "critical" ? 0 : a.Severity == "warning" ? 1 : 2).ThenBy(a => a.StartsAt))
        {
            html.Append(CultureInfo.InvariantCulture,
                $"<li data-alert=\"{Html.Encode(alert.Name)}\"><strong>{Html.Encode(alert.Name)}</strong> ({Html.Encode(alert.Severity)}, since {Layout.Time(alert.StartsAt)}): {Html.Encode(alert.Summary)}</li>");
        }
        html.Append("</ul></section>");
        return html.ToString();
    }
}
