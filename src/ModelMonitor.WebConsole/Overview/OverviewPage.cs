using System.Globalization;
using System.Text;
using ModelMonitor.WebConsole.Alerts;
using ModelMonitor.WebConsole.Shared;

namespace ModelMonitor.WebConsole.Overview;

/// <summary>
/// The overview page (GET /): every predictor and model, its role, predictions in the last hour and an hourly sparkline,
/// time since its last prediction, how many of its features have a problem in its latest complete window, the alerts
/// firing for it (with Console:AlertmanagerUrl) and a link to its Grafana dashboard (with Console:GrafanaUrl). Each model
/// links to its page. A table with a caption and header cells, every text escaped, a problem said by an icon and words,
/// not colour alone. Pure: rendered from <see cref="OverviewModel"/>s.
/// </summary>
public static class OverviewPage
{
    /// <param name="alerts">The firing alerts; null when Alertmanager is not configured.</param>
    /// <param name="alertsUnavailable">Why the alerts could not be read, if they could not.</param>
    public static string Render(IReadOnlyList<OverviewModel> models, DateTimeOffset now, TimeSpan span,
        IReadOnlyList<FiringAlert>? alerts = null, string? alertsUnavailable = null, Uri? grafana = null)
    {
        var html = new StringBuilder();
        html.Append("<h1>Models</h1>");
        html.Append(AlertList.Render(alerts, alertsUnavailable));
        if (models.Count == 0)
        {
            html.Append("<p>No predictions yet: send some to <code>POST /v1/predictions</code> and they appear here within a minute.</p>");
        }
        else
        {
            var predictors = models.Select(m => m.PredictorName).Distinct(StringComparer.Ordinal).Count();
            html.Append(CultureInfo.InvariantCulture,
                $"<div class=\"table-scroll\" tabindex=\"0\" role=\"region\" aria-label=\"Models\"><table><caption>{predictors} predictors, {models.Count} models; predictions per hour over the last {span.TotalHours:0} hours</caption>");
            html.Append("<thead><tr><th scope=\"col\">Predictor</th><th scope=\"col\">Model</th><th scope=\"col\">Role</th>" +
                "<th scope=\"col\" class=\"number\">Predictions, last hour</th><th scope=\"col\" class=\"optional\">Traffic</th>" +
                "<th scope=\"col\">Last prediction</th><th scope=\"col\">Features with a problem</th>");
            if (alerts is not null)
            {
                html.Append("<th scope=\"col\">Alerts</th>");
            }
            if (grafana is not null)
            {
                html.Append("<th scope=\"col\" class=\"optional\">Grafana</th>");
            }
            html.Append("</tr></thead><tbody>");
            foreach (var model in models)
            {
                var more = model.ProblemFeatures > 3 ? $" and {(model.ProblemFeatures - 3).ToString(CultureInfo.InvariantCulture)} more" : "";
                var problems = model.ProblemFeatures == 0
                    ? "<span class=\"ok\">✓ none</span>"
                    : $"<span class=\"problem\" title=\"{Html.Encode(string.Join(", ", model.ProblemExamples))}\">⚠ {model.ProblemFeatures.ToString(CultureInfo.InvariantCulture)}: {Html.Encode(string.Join(", ", model.ProblemExamples.Take(3)))}{more}</span>";
                html.Append(CultureInfo.InvariantCulture,
                    $"<tr data-model=\"{Html.Encode(model.PredictorName)}/{Html.Encode(model.ModelId)}\"><td>{Html.Encode(model.PredictorName)}</td>" +
                    $"<td><a href=\"{Links.Model(model.PredictorName, model.ModelId)}\">{Html.Encode(model.ModelId)}</a></td><td>{Html.Encode(model.Role)}</td>" +
                    $"<td class=\"number\">{model.LastHour:N0}</td><td class=\"optional\">{Sparkline.Svg(model.Hourly, $"{model.PredictorName}/{model.ModelId}: {string.Join(", ", model.Hourly)} predictions per hour")}</td>" +
                    $"<td>{Layout.Ago(now - model.LastSeen)}</td><td>{problems}</td>");
                if (alerts is not null)
                {
                    var firing = alerts.Where(a => a.Concerns(model.PredictorName, model.ModelId)).ToList();
                    html.Append(firing.Count == 0
                        ? "<td><span class=\"ok\">✓ none</span></td>"
                        : $"<td><span class=\"problem\" title=\"{Html.Encode(string.Join(", ", firing.Select(a => a.Summary)))}\">⚠ {firing.Count.ToString(CultureInfo.InvariantCulture)}: {Html.Encode(string.Join(", ", firing.Select(a => a.Name).Distinct(StringComparer.Ordinal)))}</span></td>");
                }
                if (Links.Grafana(grafana, "modelmonitor-overview", ("predictor", model.PredictorName), ("model", model.ModelId)) is { } dashboard)
                {
                    html.Append(CultureInfo.InvariantCulture, $"<td class=\"optional\"><a href=\"{dashboard}\">dashboard</a></td>");
                }
                html.Append("</tr>");
            }
            html.Append("</tbody></table></div>");
            html.Append("<p>A feature has a problem when, in the model's latest complete window, more than half of its values are missing or defaulted, or any is NaN or infinite (the thresholds of the feature alerts), or when it drifts beyond its threshold or shows a schema anomaly against the model's reference. Choose a model for its charts and features.</p>");
        }
        return Layout.Page("Overview", [("Overview", null)], html.ToString(), now);
    }
}
