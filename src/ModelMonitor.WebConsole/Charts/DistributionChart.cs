using System.Globalization;
using System.Text;
using ModelMonitor.WebConsole.Shared;

namespace ModelMonitor.WebConsole.Charts;

/// <summary>A numeric distribution as its quantiles (a box from P25 to P75, whiskers to P5 and P95, a mark at P50).</summary>
public sealed record BoxRow(string Label, double P05, double P25, double P50, double P75, double P95);

/// <summary>
/// Distributions side by side as inline SVG, on one scale: box plots of numeric quantiles (reference vs current), or
/// horizontal bars of category shares. Each row is labelled in text and the numbers are in the figure's table, so nothing
/// depends on colour or on seeing the drawing.
/// </summary>
public static class DistributionChart
{
    private const int Width = 720, Label = 150, Right = 60, RowHeight = 34;

    public static string Boxes(string id, string title, IReadOnlyList<BoxRow> rows)
    {
        var low = rows.Min(r => r.P05);
        var high = rows.Max(r => r.P95);
        if (high - low < 1e-12)
        {
            (low, high) = (low - 1, high + 1);
        }
        double X(double v) => Label + ((v - low) / (high - low) * (Width - Label - Right));
        var height = (rows.Count * RowHeight) + 24;
        var svg = new StringBuilder();
        svg.Append(CultureInfo.InvariantCulture,
            $"<figure class=\"chart\" id=\"{id}\"><svg viewBox=\"0 0 {Width} {height}\" role=\"img\" aria-labelledby=\"{id}-t\" data-rows=\"{rows.Count}\"><title id=\"{id}-t\">{Html.Encode(title)}</title>");
        for (var i = 0; i < rows.Count; i++)
        {
            var r = rows[i];
            var y = 8 + (i * RowHeight);
            var mid = y + (RowHeight / 2.0) - 4;
            svg.Append(CultureInfo.InvariantCulture,
                $"<g class=\"box\" data-label=\"{Html.Encode(r.Label)}\"><text class=\"tick\" x=\"{Label - 8}\" y=\"{mid + 4:0.#}\" text-anchor=\"end\">{Html.Encode(Short(r.Label))}</text>" +
                $"<line x1=\"{X(r.P05):0.#}\" x2=\"{X(r.P95):0.#}\" y1=\"{mid:0.#}\" y2=\"{mid:0.#}\" stroke=\"currentColor\"/>" +
                $"<rect class=\"band shade{(i == rows.Count - 1 ? 2 : 1)}\" x=\"{X(r.P25):0.#}\" y=\"{y + 4}\" width=\"{Math.Max(1, X(r.P75) - X(r.P25)):0.#}\" height=\"{RowHeight - 16}\" stroke=\"currentColor\"/>" +
                $"<line x1=\"{X(r.P50):0.#}\" x2=\"{X(r.P50):0.#}\" y1=\"{y + 4}\" y2=\"{y + RowHeight - 12}\" stroke=\"currentColor\" stroke-width=\"2.5\"/></g>");
        }
        var axisY = height - 6;
        foreach (var v in new[] { low, (low + high) / 2, high })
        {
            svg.Append(CultureInfo.InvariantCulture, $"<text class=\"tick\" x=\"{X(v):0.#}\" y=\"{axisY}\" text-anchor=\"middle\">{TimeChart.FormatValue(v, ValueFormat.Number)}</text>");
        }
        svg.Append("</svg><figcaption><span class=\"chart-title\">").Append(Html.Encode(title))
            .Append("</span> Box P25–P75, whiskers P5–P95, bar P50.</figcaption>");
        svg.Append("<table><thead><tr><th scope=\"col\">Distribution</th><th scope=\"col\" class=\"number\">P5</th><th scope=\"col\" class=\"number\">P25</th><th scope=\"col\" class=\"number\">P50</th><th scope=\"col\" class=\"number\">P75</th><th scope=\"col\" class=\"number\">P95</th></tr></thead><tbody>");
        foreach (var r in rows)
        {
            svg.Append(CultureInfo.InvariantCulture,
                $"<tr><th scope=\"row\">{Html.Encode(r.Label)}</th>{Cell(r.P05)}{Cell(r.P25)}{Cell(r.P50)}{Cell(r.P75)}{Cell(r.P95)}</tr>");
        }
        svg.Append("</tbody></table></figure>");
        return svg.ToString();
    }

    /// <summary>Category shares per distribution (each row of <paramref name="shares"/> sums to at most 1).</summary>
    public static string Categories(string id, string title, IReadOnlyList<string> categories, IReadOnlyList<(string Label, IReadOnlyList<double> Shares)> shares)
    {
        var barHeight = 12;
        var group = (shares.Count * (barHeight + 2)) + 10;
        var height = (categories.Count * group) + 8;
        var svg = new StringBuilder();
        svg.Append(CultureInfo.InvariantCulture,
            $"<figure class=\"chart\" id=\"{id}\"><svg viewBox=\"0 0 {Width} {height}\" role=\"img\" aria-labelledby=\"{id}-t\" data-rows=\"{categories.Count}\"><title id=\"{id}-t\">{Html.Encode(title)}</title>");
        for (var c = 0; c < categories.Count; c++)
        {
            var y0 = 4 + (c * group);
            svg.Append(CultureInfo.InvariantCulture, $"<text class=\"tick\" x=\"{Label - 8}\" y=\"{y0 + (group / 2.0):0.#}\" text-anchor=\"end\">{Html.Encode(Short(categories[c]))}</text>");
            for (var s = 0; s < shares.Count; s++)
            {
                var share = shares[s].Shares[c];
                var y = y0 + (s * (barHeight + 2));
                var w = share * (Width - Label - Right);
                svg.Append(CultureInfo.InvariantCulture,
                    $"<rect class=\"band shade{(s == shares.Count - 1 ? 2 : 1)}\" x=\"{Label}\" y=\"{y}\" width=\"{Math.Max(0.5, w):0.#}\" height=\"{barHeight}\"><title>{Html.Encode(shares[s].Label)}: {TimeChart.FormatValue(share, ValueFormat.Ratio)}</title></rect>" +
                    $"<text class=\"tick\" x=\"{Label + w + 4:0.#}\" y=\"{y + barHeight - 2}\">{Html.Encode(Short(shares[s].Label, 12))} {TimeChart.FormatValue(share, ValueFormat.Ratio)}</text>");
            }
        }
        svg.Append("</svg><figcaption><span class=\"chart-title\">").Append(Html.Encode(title)).Append("</span></figcaption>");
        svg.Append("<table><thead><tr><th scope=\"col\">Category</th>");
        foreach (var (label, _) in shares)
        {
            svg.Append(CultureInfo.InvariantCulture, $"<th scope=\"col\" class=\"number\">{Html.Encode(label)}</th>");
        }
        svg.Append("</tr></thead><tbody>");
        for (var c = 0; c < categories.Count; c++)
        {
            svg.Append(CultureInfo.InvariantCulture, $"<tr><th scope=\"row\">{Html.Encode(categories[c])}</th>");
            foreach (var (_, values) in shares)
            {
                svg.Append(CultureInfo.InvariantCulture, $"<td class=\"number\">{TimeChart.FormatValue(values[c], ValueFormat.Ratio)}</td>");
            }
            svg.Append("</tr>");
        }
        svg.Append("</tbody></table></figure>");
        return svg.ToString();
    }

    /// <summary>
    /// Category mix over time: one stacked bar per window, a segment per category (the most frequent over the range, the
    /// rest as "other"). A segment's title gives its category and share; the legend names each shade.
    /// </summary>
    public static string Mix(string id, string title, IReadOnlyList<DateTimeOffset> times, DateTimeOffset from, DateTimeOffset to, TimeSpan step,
        IReadOnlyList<string> categories, IReadOnlyList<IReadOnlyList<double>> shares)
    {
        const int height = 180, left = 58, right = 10, top = 8, bottom = 22;
        var span = Math.Max(1, (to - from).TotalSeconds);
        double X(DateTimeOffset t) => left + ((t - from).TotalSeconds / span * (Width - left - right));
        var barWidth = Math.Max(1, (step.TotalSeconds / span * (Width - left - right)) - 1);
        var svg = new StringBuilder();
        svg.Append(CultureInfo.InvariantCulture,
            $"<figure class=\"chart\" id=\"{id}\"><svg viewBox=\"0 0 {Width} {height}\" role=\"img\" aria-labelledby=\"{id}-t\" data-points=\"{times.Count}\"><title id=\"{id}-t\">{Html.Encode(title)}</title>");
        foreach (var v in new[] { 0.0, 0.5, 1.0 })
        {
            var yy = top + ((1 - v) * (height - top - bottom));
            svg.Append(CultureInfo.InvariantCulture,
                $"<line class=\"grid\" x1=\"{left}\" x2=\"{Width - right}\" y1=\"{yy:0.#}\" y2=\"{yy:0.#}\"/><text class=\"tick\" x=\"{left - 4}\" y=\"{yy + 4:0.#}\" text-anchor=\"end\">{v * 100:0}%</text>");
        }
        for (var i = 0; i < times.Count; i++)
        {
            var y = (double)(height - bottom);
            for (var c = 0; c < categories.Count; c++)
            {
                var h = shares[i][c] * (height - top - bottom);
                if (h <= 0)
                {
                    continue;
                }
                y -= h;
                svg.Append(CultureInfo.InvariantCulture,
                    $"<rect class=\"cat{Math.Min(c, 6)}\" x=\"{X(times[i]):0.#}\" y=\"{y:0.#}\" width=\"{barWidth:0.#}\" height=\"{h:0.#}\"><title>{times[i].UtcDateTime:yyyy-MM-dd HH:mm}: {Html.Encode(categories[c])} {TimeChart.FormatValue(shares[i][c], ValueFormat.Ratio)}</title></rect>");
            }
        }
        svg.Append(CultureInfo.InvariantCulture,
            $"<text class=\"tick\" x=\"{left}\" y=\"{height - 6}\">{from.UtcDateTime:yyyy-MM-dd HH:mm}</text><text class=\"tick\" x=\"{Width - right}\" y=\"{height - 6}\" text-anchor=\"end\">{to.UtcDateTime:yyyy-MM-dd HH:mm}</text></svg>");
        svg.Append("<figcaption><span class=\"chart-title\">").Append(Html.Encode(title)).Append("</span>");
        for (var c = 0; c < categories.Count; c++)
        {
            var mean = times.Count == 0 ? 0 : shares.Average(s => s[c]);
            svg.Append(CultureInfo.InvariantCulture,
                $" <span class=\"key\"><svg width=\"12\" height=\"12\" aria-hidden=\"true\"><rect class=\"cat{Math.Min(c, 6)}\" width=\"12\" height=\"12\"/></svg> {Html.Encode(categories[c])} ({TimeChart.FormatValue(mean, ValueFormat.Ratio)} on average)</span>");
        }
        svg.Append("</figcaption></figure>");
        return svg.ToString();
    }

    private static string Cell(double value) => $"<td class=\"number\">{TimeChart.FormatValue(value, ValueFormat.Number)}</td>";

    private static string Short(string text, int max = 22) => text.Length <= max ? text : text[..(max - 1)] + "…";
}
