using System.Globalization;
using System.Text;
using ModelMonitor.WebConsole.Charts;
using ModelMonitor.WebConsole.Shared;

namespace ModelMonitor.WebConsole.Features;

/// <summary>
/// The feature page (GET /feature?predictor=…&amp;model=…&amp;feature=…): quantile bands (P5–P95, P25–P75, P50), mean ± standard
/// deviation, missing/defaulted/non-finite ratios and the category mix over the range, the feature against each of the
/// model's references (distribution and drift distance against its threshold), and under each chart the SQL that
/// reproduces it. Pure: rendered from a <see cref="FeatureView"/>.
/// </summary>
public static class FeaturePage
{
    /// <summary>Categories drawn by name in the category mix; the others are summed as "other".</summary>
    public const int TopCategories = 6;

    public static string Render(FeatureView view, Uri? grafana, DateTimeOffset now)
    {
        var h = view.Header;
        var step = TimeSpan.FromSeconds(view.Window);
        var (from, to) = (view.Range.From, view.Range.To);
        var points = view.Points;
        var times = points.Select(p => p.Start).ToList();
        // The latest complete window (the current one is still filling), else the latest there is.
        var latest = points.LastOrDefault(p => p.Start + step <= to) ?? (points.Count > 0 ? points[^1] : null);
        var numeric = points.Any(p => p.NumericCount > 0);
        var categorical = points.Any(p => p.CategoricalCount > 0);

        var body = new StringBuilder();
        body.Append(CultureInfo.InvariantCulture, $"<h1>{Html.Encode(view.Feature)}</h1>");
        body.Append(CultureInfo.InvariantCulture,
            $"<p>Feature of <a href=\"{Links.Model(h.PredictorName, h.ModelId, view.Range)}\">{Html.Encode(h.PredictorName)} / {Html.Encode(h.ModelId)}</a> ({Html.Encode(h.Role)}).</p>");
        body.Append("<dl class=\"facts\">");
        body.Append(CultureInfo.InvariantCulture, $"<dt>Values</dt><dd>{(numeric && categorical ? "numeric and categorical (mixed)" : numeric ? "numeric" : categorical ? "categorical" : "none in this range")}</dd>");
        if (latest is not null)
        {
            body.Append(CultureInfo.InvariantCulture, $"<dt>Latest complete window</dt><dd>{Layout.Time(latest.Start)}, {Html.Number(latest.Predictions)} predictions</dd>");
            if (latest.Mean is { } mean)
            {
                body.Append(CultureInfo.InvariantCulture, $"<dt>Mean ± stddev</dt><dd>{TimeChart.FormatValue(mean, ValueFormat.Number)} ± {(latest.Stddev is { } sd ? TimeChart.FormatValue(sd, ValueFormat.Number) : "–")}</dd>");
            }
            body.Append(CultureInfo.InvariantCulture,
                $"<dt>Missing / defaulted / NaN</dt><dd>{Layout.Ratio(latest.MissingRatio, LatestWindowSummary.RatioThreshold, "–")} / {Layout.Ratio(latest.DefaultRatio, LatestWindowSummary.RatioThreshold, "–")} / {Layout.Ratio(latest.NonfiniteRatio, 0, "–")}</dd>");
        }
        if (Links.Grafana(grafana, "modelmonitor-features", ("predictor", h.PredictorName), ("model", h.ModelId), ("feature", view.Feature)) is { } dashboard)
        {
            body.Append(CultureInfo.InvariantCulture,
                $"<dt>Grafana</dt><dd><a href=\"{dashboard}\">Features</a> · <a href=\"{Links.Grafana(grafana, "modelmonitor-drift", ("predictor", h.PredictorName), ("model", h.ModelId), ("feature", view.Feature))}\">Drift</a></dd>");
        }
        body.Append("</dl>");
        body.Append(Layout.Controls(Links.FeaturePath, [("predictor", h.PredictorName), ("model", h.ModelId), ("feature", view.Feature)], view.Range, view.Window, h.Windows,
            view.Range.RequestedWindow is { } requested && requested != view.Window ? requested : null));
        if (points.Count == 0)
        {
            body.Append("<p>No window of this feature in this range: choose a longer range, or check the feature's name on the model page.</p>");
        }

        body.Append("<section aria-labelledby=\"values-h\"><h2 id=\"values-h\">Values over time</h2><div class=\"charts\">");
        if (numeric || points.Count == 0)
        {
            body.Append(new TimeChart("quantiles", "Quantiles", times, from, to, step,
                [new ChartBand("P5–P95", [.. points.Select(p => p.P05)], [.. points.Select(p => p.P95)], 1),
                 new ChartBand("P25–P75", [.. points.Select(p => p.P25)], [.. points.Select(p => p.P75)], 2)],
                [new ChartLine("P50", [.. points.Select(p => p.P50)])]).Render());
            body.Append(new TimeChart("mean", "Mean ± standard deviation", times, from, to, step,
                [new ChartBand("mean ± stddev", [.. points.Select(p => p.Mean - p.Stddev)], [.. points.Select(p => p.Mean + p.Stddev)], 1)],
                [new ChartLine("mean", [.. points.Select(p => p.Mean)])]).Render());
        }
        body.Append(new TimeChart("ratios", "Missing, defaulted and non-finite", times, from, to, step, [],
            [new ChartLine("missing", [.. points.Select(p => p.MissingRatio)]),
             new ChartLine("defaulted", [.. points.Select(p => p.DefaultRatio)], LineStyle.Dashed),
             new ChartLine("NaN / ±inf", [.. points.Select(p => p.NonfiniteRatio)], LineStyle.Dotted)], ValueFormat.Ratio).Render());
        if (categorical)
        {
            var top = points.SelectMany(p => p.Categories).Where(c => c.Key != "__other__")
                .GroupBy(c => c.Key, StringComparer.Ordinal).OrderByDescending(g => g.Sum(c => c.Value)).ThenBy(g => g.Key, StringComparer.Ordinal)
                .Take(TopCategories).Select(g => g.Key).ToList();
            var names = top.Append("other").ToList();
            var shares = points.Select(p =>
            {
                var total = (double)Math.Max(1, p.Categories.Values.Sum());
                var named = top.Select(c => p.Categories.GetValueOrDefault(c) / total).ToList();
                return (IReadOnlyList<double>)[.. named, Math.Max(0, 1 - named.Sum())];
            }).ToList();
            body.Append(DistributionChart.Mix("mix", "Category mix (bottom to top as listed)", times, from, to, step, names, shares));
        }
        body.Append("</div>").Append(Layout.Sql(view.Sql["series"])).Append("</section>");

        body.Append(ReferenceSection(view, latest));
        return Layout.Page($"{view.Feature} · {h.PredictorName} / {h.ModelId}",
            [("Overview", "/"), ($"{h.PredictorName} / {h.ModelId}", Links.Model(h.PredictorName, h.ModelId, view.Range)), (view.Feature, null)], body.ToString(), now);
    }

    private static string ReferenceSection(FeatureView view, FeaturePoint? latest)
    {
        var html = new StringBuilder();
        html.Append("<section aria-labelledby=\"reference-h\"><h2 id=\"reference-h\">Reference vs current</h2>");
        if (view.References.Count == 0)
        {
            html.Append("<p>No reference profile has this feature. Upload the training set (<code>POST /v1/references/{predictor}/{model}?name=training</code>), or wait for the production reference (built from the model's own traffic once it has enough).</p>");
            html.Append(Layout.Sql(view.Sql["references"])).Append("</section>");
            return html.ToString();
        }
        html.Append("<div class=\"charts\">");
        var current = latest is null ? "current" : $"current ({latest.Start.UtcDateTime:MM-dd HH:mm} window)";
        var numericReferences = view.References.Where(r => r.P05 is not null && r.P25 is not null && r.P50 is not null && r.P75 is not null && r.P95 is not null).ToList();
        if (numericReferences.Count > 0)
        {
            var rows = numericReferences.Select(r => new BoxRow($"{r.Name} ({r.Kind})", r.P05!.Value, r.P25!.Value, r.P50!.Value, r.P75!.Value, r.P95!.Value)).ToList();
            if (latest is { P05: { } a, P25: { } b, P50: { } c, P75: { } d, P95: { } e })
            {
                rows.Add(new BoxRow(current, a, b, c, d, e));
            }
            html.Append(DistributionChart.Boxes("reference-boxes", "Distribution: references and the latest window", rows));
        }
        var categoricalReferences = view.References.Where(r => r.CategoricalCount > 0).ToList();
        if (categoricalReferences.Count > 0)
        {
            var all = categoricalReferences.Select(r => (Label: r.Name, r.Categories)).ToList();
            if (latest is { CategoricalCount: > 0 })
            {
                all.Add((current, latest.Categories));
            }
            var categories = all.SelectMany(x => x.Categories).Where(c => c.Key != "__other__").GroupBy(c => c.Key, StringComparer.Ordinal)
                .OrderByDescending(g => g.Sum(c => c.Value)).Take(8).Select(g => g.Key).ToList();
            var shares = all.Select(x =>
            {
                var total = (double)Math.Max(1, x.Categories.Values.Sum());
                return (x.Label, (IReadOnlyList<double>)[.. categories.Select(c => x.Categories.GetValueOrDefault(c) / total)]);
            }).ToList();
            html.Append(DistributionChart.Categories("reference-categories", "Category shares: references and the latest window", categories, shares));
        }
        var step = TimeSpan.FromSeconds(view.DriftWindow ?? view.Window);
        foreach (var (reference, index) in view.Drift.GroupBy(d => d.Reference, StringComparer.Ordinal).Select((g, i) => (g, i)))
        {
            var points = reference.ToList();
            var method = points.LastOrDefault(p => p.Method is not null)?.Method ?? "distance";
            var drifting = points[^1].Drifting || points[^1].SchemaAnomaly is not null;
            html.Append(new TimeChart($"drift-{index}",
                $"Drift against {reference.Key}: {method}{(drifting ? " ⚠ drifting in the latest window" : "")}", [.. points.Select(p => p.Start)], view.Range.From, view.Range.To, step, [],
                [new ChartLine(method, [.. points.Select(p => p.Distance)]), new ChartLine("threshold", [.. points.Select(p => p.Threshold)], LineStyle.Dashed)],
                ZeroBased: true).Render());
        }
        html.Append("</div>");
        html.Append(Layout.Sql(view.Sql["references"] + ";\n\n-- Drift:\n" + view.Sql["drift"]));
        html.Append("</section>");
        return html.ToString();
    }

}
