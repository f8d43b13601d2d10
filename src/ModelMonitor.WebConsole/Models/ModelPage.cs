using System.Globalization;
using System.Text;
using ModelMonitor.WebConsole.Alerts;
using ModelMonitor.WebConsole.Charts;
using ModelMonitor.WebConsole.Shared;

namespace ModelMonitor.WebConsole.Models;

/// <summary>
/// The model page (GET /model?predictor=…&amp;model=…): its role and age, the alerts firing for it, prediction_result quantile
/// bands and traffic over the range, evaluation and label coverage when outcomes arrive, the comparison with the other
/// models of its predictor on the same prediction_ids, and every feature in a table sortable by drift, missing, default and
/// NaN ratio, each with a sparkline and a link to its page. Pure: rendered from a <see cref="ModelView"/>.
/// </summary>
public static class ModelPage
{
    public static readonly IReadOnlyList<string> Sorts = ["drift", "missing", "default", "nan", "name"];

    /// <param name="alerts">The alerts block (<see cref="AlertList.Render"/>) for this model.</param>
    public static string Render(ModelView view, string sort, string alerts, Uri? grafana, DateTimeOffset now)
    {
        var h = view.Header;
        var step = TimeSpan.FromSeconds(view.Window);
        var body = new StringBuilder();
        body.Append(CultureInfo.InvariantCulture, $"<h1>{Html.Encode(h.PredictorName)} / {Html.Encode(h.ModelId)}</h1>");
        body.Append("<dl class=\"facts\">");
        body.Append(CultureInfo.InvariantCulture, $"<dt>Role</dt><dd>{Html.Encode(h.Role)}</dd>");
        body.Append(CultureInfo.InvariantCulture, $"<dt>Last prediction</dt><dd>{Layout.Ago(now - h.LastSeen)} ({Layout.Time(h.LastSeen)})</dd>");
        body.Append(CultureInfo.InvariantCulture, $"<dt>Serving since</dt><dd>{Layout.Time(h.FirstSeen)}</dd>");
        if (h.TrainedAt is { } trained)
        {
            body.Append(CultureInfo.InvariantCulture, $"<dt>Trained</dt><dd>{Layout.Time(trained)} ({(now - trained).TotalDays:0} days old)</dd>");
        }
        if (Links.Grafana(grafana, "modelmonitor-overview", ("predictor", h.PredictorName), ("model", h.ModelId)) is { } dashboard)
        {
            body.Append(CultureInfo.InvariantCulture,
                $"<dt>Grafana</dt><dd><a href=\"{dashboard}\">Model overview</a> · <a href=\"{Links.Grafana(grafana, "modelmonitor-drift", ("predictor", h.PredictorName), ("model", h.ModelId))}\">Drift</a> · " +
                $"<a href=\"{Links.Grafana(grafana, "modelmonitor-evaluation", ("predictor", h.PredictorName), ("model", h.ModelId))}\">Evaluation</a> · " +
                $"<a href=\"{Links.Grafana(grafana, "modelmonitor-predictor", ("predictor", h.PredictorName))}\">Predictor</a></dd>");
        }
        body.Append("</dl>");
        body.Append(alerts);
        body.Append(Layout.Controls(Links.ModelPath, [("predictor", h.PredictorName), ("model", h.ModelId), ("sort", sort)], view.Range, view.Window, h.Windows,
            view.Range.RequestedWindow is { } requested && requested != view.Window ? requested : null));

        var times = view.Points.Select(p => p.Start).ToList();
        body.Append("<section aria-labelledby=\"result-h\"><h2 id=\"result-h\">Prediction result and traffic</h2><div class=\"charts\">");
        body.Append(new TimeChart("result", "prediction_result quantiles", times, view.Range.From, view.Range.To, step,
            [new ChartBand("P5–P95", [.. view.Points.Select(p => p.P05)], [.. view.Points.Select(p => p.P95)], 1),
             new ChartBand("P25–P75", [.. view.Points.Select(p => p.P25)], [.. view.Points.Select(p => p.P75)], 2)],
            [new ChartLine("P50", [.. view.Points.Select(p => p.P50)]), new ChartLine("mean", [.. view.Points.Select(p => p.Mean)], LineStyle.Dashed)]).Render());
        body.Append(new TimeChart("traffic", $"Predictions per {TimeChart.Duration(step)} window", times, view.Range.From, view.Range.To, step, [],
            [new ChartLine("predictions", [.. view.Points.Select(p => (double?)p.Predictions)])], ZeroBased: true).Render());
        body.Append("</div>").Append(Layout.Sql(view.Sql["result"])).Append("</section>");

        if (view.Evaluation.Count > 0)
        {
            var evaluation = view.Evaluation;
            var evalTimes = evaluation.Select(e => e.Start).ToList();
            var task = evaluation[^1].Task;
            body.Append(CultureInfo.InvariantCulture, $"<section aria-labelledby=\"evaluation-h\"><h2 id=\"evaluation-h\">Evaluation ({Html.Encode(task)})</h2><div class=\"charts\">");
            ChartLine[] quality = task == "regression"
                ? [new("MAE", [.. evaluation.Select(e => e.Mae)]), new("RMSE", [.. evaluation.Select(e => e.Rmse)], LineStyle.Dashed)]
                : [new("accuracy", [.. evaluation.Select(e => e.Accuracy)]), new("ROC AUC", [.. evaluation.Select(e => e.RocAuc)], LineStyle.Dashed)];
            body.Append(new TimeChart("evaluation", task == "regression" ? "Error against outcomes" : "Quality against outcomes", evalTimes, view.Range.From, view.Range.To, step, [], quality,
                task == "regression" ? ValueFormat.Number : ValueFormat.Ratio, ZeroBased: true).Render());
            body.Append(new TimeChart("coverage", "Label coverage (predictions with an outcome)", evalTimes, view.Range.From, view.Range.To, step, [],
                [new ChartLine("label coverage", [.. evaluation.Select(e => e.LabelCoverage)])], ValueFormat.Ratio).Render());
            body.Append("</div>").Append(Layout.Sql(view.Sql["evaluation"])).Append("</section>");
        }

        if (view.Shadows.Count > 0)
        {
            body.Append("<section aria-labelledby=\"shadow-h\"><h2 id=\"shadow-h\">Compared with the predictor's other models (same prediction_id)</h2><div class=\"charts\">");
            foreach (var (comparison, index) in view.Shadows.Select((c, i) => (c, i)))
            {
                var pairs = comparison.Points.Sum(p => p.Pairs);
                body.Append(new TimeChart($"shadow-{index}",
                    $"{h.ModelId} − {comparison.OtherModel} ({pairs.ToString("N0", CultureInfo.InvariantCulture)} pairs)",
                    [.. comparison.Points.Select(p => p.Start)], view.Range.From, view.Range.To, step, [],
                    [new ChartLine("mean |difference|", [.. comparison.Points.Select(p => p.AbsDiffMean)]),
                     new ChartLine("P95 |difference|", [.. comparison.Points.Select(p => p.AbsDiffP95)], LineStyle.Dashed),
                     new ChartLine("mean difference", [.. comparison.Points.Select(p => p.DiffMean)], LineStyle.Dotted)]).Render());
            }
            body.Append("</div>").Append(Layout.Sql(view.Sql["shadow"])).Append("</section>");
        }

        body.Append(FeatureTable(view, sort));
        var title = $"{h.PredictorName} / {h.ModelId}";
        return Layout.Page(title, [("Overview", "/"), (h.PredictorName + " / " + h.ModelId, null)], body.ToString(), now);
    }

    private static string FeatureTable(ModelView view, string sort)
    {
        var rows = sort switch
        {
            "missing" => view.Features.OrderByDescending(f => f.MissingRatio ?? -1),
            "default" => view.Features.OrderByDescending(f => f.DefaultRatio ?? -1),
            "nan" => view.Features.OrderByDescending(f => f.NonfiniteRatio ?? -1),
            "name" => view.Features.OrderBy(f => f.Name, StringComparer.Ordinal),
            _ => view.Features.OrderByDescending(f => f.Drift?.Severity ?? -1),
        };
        var html = new StringBuilder();
        var problems = view.Features.Count(f => f.HasProblem);
        html.Append("<section aria-labelledby=\"features-h\"><h2 id=\"features-h\">Features</h2>");
        if (view.Features.Count == 0)
        {
            html.Append("<p>No feature in this range.</p></section>");
            return html.ToString();
        }
        var at = view.FeatureWindow is { } w ? $"in the {TimeChart.Duration(TimeSpan.FromSeconds(view.Window))} window starting {Layout.Time(w)}" : "in this range";
        html.Append(CultureInfo.InvariantCulture,
            $"<div class=\"table-scroll\" tabindex=\"0\" role=\"region\" aria-label=\"Features\"><table><caption>{view.Features.Count} features, {(problems == 0 ? "<span class=\"ok\">✓ none with a problem</span>" : $"<span class=\"problem\">⚠ {problems} with a problem</span>")} {at}; sorted by {Html.Encode(sort)}</caption><thead><tr>");
        html.Append(Header("Feature", "name", sort, false, Sorted(view, "name")));
        html.Append(Header("Drift", "drift", sort, false, Sorted(view, "drift")));
        html.Append(Header("Missing", "missing", sort, true, Sorted(view, "missing")));
        html.Append(Header("Defaulted", "default", sort, true, Sorted(view, "default")));
        html.Append(Header("NaN / ±inf", "nan", sort, true, Sorted(view, "nan")));
        html.Append(CultureInfo.InvariantCulture,
            $"<th scope=\"col\" class=\"optional\">Median or top category share, {TimeChart.Duration(TimeSpan.FromSeconds(view.SparkWindow))} windows</th></tr></thead><tbody>");
        foreach (var feature in rows)
        {
            html.Append(CultureInfo.InvariantCulture,
                $"<tr data-feature=\"{Html.Encode(feature.Name)}\"><th scope=\"row\"><a href=\"{Links.Feature(view.Header.PredictorName, view.Header.ModelId, feature.Name, view.Range, view.Window)}\">{Html.Encode(feature.Name)}</a>{(feature.HasProblem ? " <span class=\"problem\">⚠ problem</span>" : "")}</th>");
            html.Append(CultureInfo.InvariantCulture, $"<td>{DriftCell(feature.Drift)}</td>");
            html.Append(CultureInfo.InvariantCulture, $"<td class=\"number\">{Layout.Ratio(feature.MissingRatio, LatestWindowSummary.RatioThreshold)}</td>");
            html.Append(CultureInfo.InvariantCulture, $"<td class=\"number\">{Layout.Ratio(feature.DefaultRatio, LatestWindowSummary.RatioThreshold)}</td>");
            html.Append(CultureInfo.InvariantCulture, $"<td class=\"number\">{Layout.Ratio(feature.NonfiniteRatio, 0)}</td>");
            html.Append(CultureInfo.InvariantCulture, $"<td class=\"optional\">{Sparkline(view, feature)}</td></tr>");
        }
        html.Append("</tbody></table></div>");
        html.Append(Layout.Sql(view.Sql["features"] + ";\n\n-- The sparklines:\n" + view.Sql["spark"]));
        html.Append("</section>");
        return html.ToString();
    }

    private static string Sorted(ModelView view, string key) =>
        Links.Model(view.Header.PredictorName, view.Header.ModelId, view.Range, view.Range.RequestedWindow is null ? null : view.Window, key);

    private static string Header(string text, string key, string sort, bool number, string href)
    {
        var active = key == sort;
        return string.Create(CultureInfo.InvariantCulture,
            $"<th scope=\"col\"{(number ? " class=\"number\"" : "")}{(active ? $" aria-sort=\"{(key == "name" ? "ascending" : "descending")}\"" : "")}><a href=\"{href}\" data-sort=\"{key}\">{text}</a></th>");
    }

    private static string DriftCell(FeatureDrift? drift)
    {
        if (drift is null)
        {
            return "<span class=\"muted\">–</span>";
        }
        if (drift.SchemaAnomaly is { } anomaly)
        {
            return $"<span class=\"problem\">⚠ {Html.Encode(anomaly.Replace('_', ' '))}</span> <span class=\"muted\">({Html.Encode(drift.Reference)})</span>";
        }
        var measure = drift.Distance is { } d
            ? $"{Html.Encode(drift.Method ?? "")} {TimeChart.FormatValue(d, ValueFormat.Number)}{(drift.Threshold is { } t ? $" (threshold {TimeChart.FormatValue(t, ValueFormat.Number)})" : "")}"
            : "no distance";
        return drift.Drifting
            ? $"<span class=\"problem\">⚠ drifting: {measure}</span> <span class=\"muted\">({Html.Encode(drift.Reference)})</span>"
            : $"{measure} <span class=\"muted\">({Html.Encode(drift.Reference)})</span>";
    }

    /// <summary>A feature's sparkline: its values over the range (a gap where a window has none), scaled to its own range.</summary>
    private static string Sparkline(ModelView view, FeatureRow feature)
    {
        const int width = 120, height = 24;
        var values = feature.Spark;
        var present = values.Where(v => v is not null).Select(v => v!.Value).ToList();
        if (present.Count == 0 || view.SparkTimes.Count == 0)
        {
            return "<span class=\"muted\">–</span>";
        }
        double low = present.Min(), high = present.Max();
        var span = Math.Max((view.Range.To - view.Range.From).TotalSeconds, 1);
        var points = new StringBuilder();
        var count = 0;
        for (var i = 0; i < values.Count; i++)
        {
            if (values[i] is not { } v)
            {
                continue;
            }
            var x = (view.SparkTimes[i] - view.Range.From).TotalSeconds / span * width;
            var y = high - low < 1e-12 ? height / 2.0 : height - 1 - ((v - low) / (high - low) * (height - 2));
            points.Append(CultureInfo.InvariantCulture, $"{(count++ > 0 ? " " : "")}{x:0.#},{y:0.#}");
        }
        var label = $"{feature.Name}: from {TimeChart.FormatValue(present[0], feature.Numeric ? ValueFormat.Number : ValueFormat.Ratio)} to {TimeChart.FormatValue(present[^1], feature.Numeric ? ValueFormat.Number : ValueFormat.Ratio)}";
        return string.Create(CultureInfo.InvariantCulture,
            $"<svg class=\"spark\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"{Html.Encode(label)}\" data-points=\"{count}\"><polyline fill=\"none\" stroke=\"currentColor\" stroke-width=\"1.3\" points=\"{points}\"/></svg>");
    }
}
