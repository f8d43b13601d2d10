using System.Globalization;
using System.Text;

namespace ModelMonitor.WebConsole.Overview;

/// <summary>
/// The overview page (GET /): every predictor and model, its role, predictions in the last hour and an hourly sparkline,
/// time since its last prediction, and how many of its features have a problem in its latest complete window. Semantic
/// HTML (a table with a caption and header cells), every text escaped, a problem shown by an icon and words, not colour
/// alone. Pure: rendered from <see cref="OverviewModel"/>s.
/// </summary>
public static class OverviewPage
{
    public static string Render(IReadOnlyList<OverviewModel> models, DateTimeOffset now, TimeSpan span)
    {
        var html = new StringBuilder();
        html.Append("""
            <!doctype html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>ModelMonitor: overview</title>
            <style>
            body { font: 15px/1.4 system-ui, sans-serif; margin: 1rem; color: #1b1b1b; }
            table { border-collapse: collapse; width: 100%; }
            caption { text-align: left; font-weight: 600; margin-bottom: .5rem; }
            th, td { padding: .35rem .6rem; border-bottom: 1px solid #ddd; text-align: left; vertical-align: middle; }
            td.number { text-align: right; font-variant-numeric: tabular-nums; }
            .problem { color: #9a3412; font-weight: 600; }
            .ok { color: #166534; }
            .spark { color: #1d4ed8; }
            @media (max-width: 700px) { .spark { width: 80px; } th.optional, td.optional { display: none; } }
            </style>
            </head>
            <body>
            <header><h1>ModelMonitor</h1></header>
            <main>
            """);
        if (models.Count == 0)
        {
            html.Append("<p>No predictions yet: send some to <code>POST /v1/predictions</code> and they appear here within a minute.</p>");
        }
        else
        {
            var predictors = models.Select(m => m.PredictorName).Distinct(StringComparer.Ordinal).Count();
            html.Append(CultureInfo.InvariantCulture,
                $"<table><caption>{predictors} predictors, {models.Count} models; predictions per hour over the last {span.TotalHours:0} hours</caption>");
            html.Append("<thead><tr><th scope=\"col\">Predictor</th><th scope=\"col\">Model</th><th scope=\"col\">Role</th>" +
                "<th scope=\"col\" class=\"number\">Predictions, last hour</th><th scope=\"col\" class=\"optional\">Traffic</th>" +
                "<th scope=\"col\">Last prediction</th><th scope=\"col\">Features with a problem</th></tr></thead><tbody>");
            foreach (var model in models)
            {
                var more = model.ProblemFeatures > 3 ? $" and {(model.ProblemFeatures - 3).ToString(CultureInfo.InvariantCulture)} more" : "";
                var problems = model.ProblemFeatures == 0
                    ? "<span class=\"ok\">✓ none</span>"
                    : $"<span class=\"problem\" title=\"{Html.Encode(string.Join(", ", model.ProblemExamples))}\">⚠ {model.ProblemFeatures.ToString(CultureInfo.InvariantCulture)}: {Html.Encode(string.Join(", ", model.ProblemExamples.Take(3)))}{more}</span>";
                html.Append(CultureInfo.InvariantCulture,
                    $"<tr data-model=\"{Html.Encode(model.PredictorName)}/{Html.Encode(model.ModelId)}\"><td>{Html.Encode(model.PredictorName)}</td><td>{Html.Encode(model.ModelId)}</td><td>{Html.Encode(model.Role)}</td>" +
                    $"<td class=\"number\">{model.LastHour:N0}</td><td class=\"optional\">{Sparkline.Svg(model.Hourly, $"{model.PredictorName}/{model.ModelId}: {string.Join(", ", model.Hourly)} predictions per hour")}</td>" +
                    $"<td>{Ago(now - model.LastSeen)}</td><td>{problems}</td></tr>");
            }
            html.Append("</tbody></table>");
            html.Append("<p>A feature has a problem when, in the model's latest complete window, more than half of its values are missing or defaulted, or any is NaN or infinite (the thresholds of the feature alerts), or when it drifts beyond its threshold or shows a schema anomaly against the model's reference.</p>");
        }
        html.Append(CultureInfo.InvariantCulture, $"</main><footer><p>Rendered {now.UtcDateTime:yyyy-MM-dd HH:mm:ss} UTC from Postgres.</p></footer></body></html>");
        return html.ToString();
    }

    /// <summary>"12 s ago", "5 min ago", "3 h ago", "2 d ago".</summary>
    public static string Ago(TimeSpan elapsed) =>
        elapsed < TimeSpan.Zero ? "just now"
        : elapsed < TimeSpan.FromMinutes(1) ? $"{(int)elapsed.TotalSeconds} s ago"
        : elapsed < TimeSpan.FromHours(1) ? $"{(int)elapsed.TotalMinutes} min ago"
        : elapsed < TimeSpan.FromDays(1) ? $"{(int)elapsed.TotalHours} h ago"
        : $"{(int)elapsed.TotalDays} d ago";
}
