using System.Globalization;
using System.Text;
using ModelMonitor.WebConsole.Shared;

namespace ModelMonitor.WebConsole.Charts;

/// <summary>A line of a time chart: one value per time (null: none), drawn solid, dashed or dotted so that lines are told
/// apart without colour.</summary>
public sealed record ChartLine(string Label, IReadOnlyList<double?> Values, LineStyle Style = LineStyle.Solid);

/// <summary>A shaded band between two values per time (e.g. P5–P95).</summary>
public sealed record ChartBand(string Label, IReadOnlyList<double?> Lower, IReadOnlyList<double?> Upper, int Shade);

public enum LineStyle
{
    Solid,
    Dashed,
    Dotted,
}

/// <summary>How a chart's values read: plain numbers, or ratios shown as percentages.</summary>
public enum ValueFormat
{
    Number,
    Ratio,
}

/// <summary>
/// A time-series chart as inline SVG, rendered on the server: bands and lines over the points of <see cref="Times"/>, a
/// line broken where a window is missing (a gap is not drawn as a slope), y ticks at 1-2-5 steps, x ticks at whole minutes,
/// hours or days. No script and no library: the console works offline and without JavaScript, a test counts the points in
/// the HTML, and the chart has a title and a text description for screen readers. The figure's legend names every band
/// and line with its line style.
/// </summary>
/// <param name="Step">The window size: two points further apart than 1.5 steps are not joined.</param>
public sealed record TimeChart(
    string Id,
    string Title,
    IReadOnlyList<DateTimeOffset> Times,
    DateTimeOffset From,
    DateTimeOffset To,
    TimeSpan Step,
    IReadOnlyList<ChartBand> Bands,
    IReadOnlyList<ChartLine> Lines,
    ValueFormat Format = ValueFormat.Number,
    bool ZeroBased = false)
{
    public const int Width = 720;
    public const int Height = 200;
    private const int Left = 58, Right = 22, Top = 8, Bottom = 22;

    /// <summary>Windows with at least one value: what the chart draws (its <c>data-points</c>).</summary>
    public int PointCount => Enumerable.Range(0, Times.Count).Count(i =>
        Lines.Any(l => l.Values[i] is not null) || Bands.Any(b => b.Lower[i] is not null && b.Upper[i] is not null));

    public string Render()
    {
        var values = Lines.SelectMany(l => l.Values).Concat(Bands.SelectMany(b => b.Lower.Concat(b.Upper)))
            .Where(v => v is { } d && double.IsFinite(d)).Select(v => v!.Value).ToList();
        var svg = new StringBuilder();
        var description = Describe(values);
        svg.Append(CultureInfo.InvariantCulture,
            $"<figure class=\"chart\" id=\"{Id}\"><svg viewBox=\"0 0 {Width} {Height}\" role=\"img\" aria-labelledby=\"{Id}-t {Id}-d\" data-points=\"{PointCount}\">");
        svg.Append(CultureInfo.InvariantCulture, $"<title id=\"{Id}-t\">{Html.Encode(Title)}</title><desc id=\"{Id}-d\">{Html.Encode(description)}</desc>");
        if (values.Count == 0)
        {
            svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{Width / 2}\" y=\"{Height / 2}\" text-anchor=\"middle\" class=\"empty\">No data in this range</text></svg>");
            svg.Append(CultureInfo.InvariantCulture, $"<figcaption>{Html.Encode(Title)}: no data in this range.</figcaption></figure>");
            return svg.ToString();
        }

        var (low, high) = Scale(values);
        double X(DateTimeOffset t) => Left + ((t - From).TotalSeconds / Math.Max(1, (To - From).TotalSeconds) * (Width - Left - Right));
        double Y(double v) => Top + ((high - v) / (high - low) * (Height - Top - Bottom));
        AppendAxes(svg, low, high, X, Y);

        foreach (var band in Bands)
        {
            foreach (var segment in Segments(i => band.Lower[i] is not null && band.Upper[i] is not null))
            {
                var points = segment.Select(i => Point(X(Times[i]), Y(band.Upper[i]!.Value)))
                    .Concat(segment.AsEnumerable().Reverse().Select(i => Point(X(Times[i]), Y(band.Lower[i]!.Value))));
                svg.Append(CultureInfo.InvariantCulture, $"<polygon class=\"band shade{band.Shade}\" points=\"{string.Join(' ', points)}\"/>");
            }
        }
        foreach (var (line, index) in Lines.Select((l, i) => (l, i)))
        {
            var dash = DashArray(line.Style);
            foreach (var segment in Segments(i => line.Values[i] is not null))
            {
                var points = segment.Select(i => Point(X(Times[i]), Y(line.Values[i]!.Value)));
                svg.Append(CultureInfo.InvariantCulture,
                    $"<polyline class=\"line s{index}\" data-series=\"{Html.Encode(line.Label)}\" fill=\"none\" stroke=\"currentColor\" stroke-width=\"1.6\"{dash} points=\"{string.Join(' ', points)}\"/>");
                if (segment.Count == 1)
                {
                    svg.Append(CultureInfo.InvariantCulture, $"<circle cx=\"{X(Times[segment[0]]):0.#}\" cy=\"{Y(line.Values[segment[0]]!.Value):0.#}\" r=\"2\" fill=\"currentColor\"/>");
                }
            }
        }
        svg.Append("</svg><figcaption>");
        svg.Append(CultureInfo.InvariantCulture, $"<span class=\"chart-title\">{Html.Encode(Title)}</span>");
        foreach (var band in Bands)
        {
            svg.Append(CultureInfo.InvariantCulture,
                $" <span class=\"key\"><svg width=\"18\" height=\"10\" aria-hidden=\"true\"><rect class=\"band shade{band.Shade}\" width=\"18\" height=\"10\"/></svg> {Html.Encode(band.Label)}</span>");
        }
        foreach (var (line, index) in Lines.Select((l, i) => (l, i)))
        {
            svg.Append(CultureInfo.InvariantCulture,
                $" <span class=\"key\"><svg width=\"22\" height=\"10\" aria-hidden=\"true\"><line class=\"s{index}\" x1=\"0\" y1=\"5\" x2=\"22\" y2=\"5\" stroke=\"currentColor\" stroke-width=\"1.6\"{DashArray(line.Style)}/></svg> {Html.Encode(line.Label)}</span>");
        }
        svg.Append("</figcaption></figure>");
        return svg.ToString();
    }

    /// <summary>Runs of consecutive points that have a value, broken where a window is missing.</summary>
    private List<List<int>> Segments(Func<int, bool> has)
    {
        var segments = new List<List<int>>();
        List<int>? current = null;
        for (var i = 0; i < Times.Count; i++)
        {
            if (!has(i))
            {
                current = null;
                continue;
            }
            if (current is null || (Times[i] - Times[current[^1]]).TotalSeconds > Step.TotalSeconds * 1.5)
            {
                current = [];
                segments.Add(current);
            }
            current.Add(i);
        }
        return segments;
    }

    private (double Low, double High) Scale(List<double> values)
    {
        double low = values.Min(), high = values.Max();
        if (ZeroBased || Format == ValueFormat.Ratio)
        {
            low = Math.Min(low, 0);
            high = Math.Max(high, 0);
        }
        if (Format == ValueFormat.Ratio && high <= 1)
        {
            high = Math.Max(high, 0.05);
        }
        if (high - low < 1e-12)
        {
            var pad = Math.Abs(high) > 1e-12 ? Math.Abs(high) * 0.1 : 1;
            (low, high) = (low - pad, high + pad);
        }
        var step = NiceStep((high - low) / 4);
        return (Math.Floor(low / step) * step, Math.Ceiling(high / step) * step);
    }

    private void AppendAxes(StringBuilder svg, double low, double high, Func<DateTimeOffset, double> x, Func<double, double> y)
    {
        var step = NiceStep((high - low) / 4);
        for (var v = low; v <= high + (step / 2); v += step)
        {
            var yy = y(v);
            svg.Append(CultureInfo.InvariantCulture,
                $"<line class=\"grid\" x1=\"{Left}\" x2=\"{Width - Right}\" y1=\"{yy:0.#}\" y2=\"{yy:0.#}\"/><text class=\"tick\" x=\"{Left - 4}\" y=\"{yy + 4:0.#}\" text-anchor=\"end\">{Html.Encode(FormatValue(v, Format))}</text>");
        }
        var span = To - From;
        TimeSpan[] steps = [TimeSpan.FromMinutes(10), TimeSpan.FromMinutes(15), TimeSpan.FromMinutes(30), TimeSpan.FromHours(1), TimeSpan.FromHours(3),
            TimeSpan.FromHours(6), TimeSpan.FromHours(12), TimeSpan.FromDays(1), TimeSpan.FromDays(2), TimeSpan.FromDays(7)];
        var tick = steps.FirstOrDefault(s => span / s <= 7, TimeSpan.FromDays(7));
        var first = new DateTimeOffset(From.UtcTicks + ((tick.Ticks - (From.UtcTicks % tick.Ticks)) % tick.Ticks), TimeSpan.Zero);
        var format = span <= TimeSpan.FromDays(1) ? "HH:mm" : tick >= TimeSpan.FromDays(1) ? "MM-dd" : "MM-dd HH:mm";
        for (var t = first; t <= To; t += tick)
        {
            var xx = x(t);
            svg.Append(CultureInfo.InvariantCulture,
                $"<line class=\"grid\" x1=\"{xx:0.#}\" x2=\"{xx:0.#}\" y1=\"{Top}\" y2=\"{Height - Bottom}\"/><text class=\"tick\" x=\"{xx:0.#}\" y=\"{Height - 6}\" text-anchor=\"middle\">{t.UtcDateTime.ToString(format, CultureInfo.InvariantCulture)}</text>");
        }
    }

    private string Describe(List<double> values)
    {
        if (values.Count == 0)
        {
            return $"No data between {From.UtcDateTime:yyyy-MM-dd HH:mm} and {To.UtcDateTime:yyyy-MM-dd HH:mm} UTC.";
        }
        var parts = Lines.Select(l => (l.Label, Values: l.Values.Where(v => v is not null).Select(v => v!.Value).ToList()))
            .Where(l => l.Values.Count > 0)
            .Select(l => $"{l.Label} from {FormatValue(l.Values[0], Format)} to {FormatValue(l.Values[^1], Format)} (lowest {FormatValue(l.Values.Min(), Format)}, highest {FormatValue(l.Values.Max(), Format)})");
        return $"{PointCount} windows of {Duration(Step)} between {From.UtcDateTime:yyyy-MM-dd HH:mm} and {To.UtcDateTime:yyyy-MM-dd HH:mm} UTC. {string.Join("; ", parts)}.";
    }

    public static string FormatValue(double value, ValueFormat format) => format == ValueFormat.Ratio
        ? (value * 100).ToString(Math.Abs(value) < 0.1 && value != 0 ? "0.##" : "0.#", CultureInfo.InvariantCulture) + "%"
        : Math.Abs(value) >= 10_000 || (Math.Abs(value) < 0.001 && value != 0)
            ? value.ToString("0.##e0", CultureInfo.InvariantCulture)
            : value.ToString("G4", CultureInfo.InvariantCulture);

    /// <summary>"1 min", "5 min", "1 h", "8 h 20 min", "1 d".</summary>
    public static string Duration(TimeSpan span)
    {
        if (span.TotalDays >= 1 && span.Ticks % TimeSpan.TicksPerDay == 0)
        {
            return $"{span.TotalDays:0} d";
        }
        var parts = new List<string>(3);
        if ((int)span.TotalHours > 0)
        {
            parts.Add($"{(int)span.TotalHours} h");
        }
        if (span.Minutes > 0)
        {
            parts.Add($"{span.Minutes} min");
        }
        if (span.Seconds > 0 || parts.Count == 0)
        {
            parts.Add($"{span.Seconds} s");
        }
        return string.Join(' ', parts);
    }

    private static double NiceStep(double rough)
    {
        if (rough <= 0 || !double.IsFinite(rough))
        {
            return 1;
        }
        var magnitude = Math.Pow(10, Math.Floor(Math.Log10(rough)));
        var normalized = rough / magnitude;
        return (normalized <= 1 ? 1 : normalized <= 2 ? 2 : normalized <= 5 ? 5 : 10) * magnitude;
    }

    private static string Point(double x, double y) => string.Create(CultureInfo.InvariantCulture, $"{x:0.#},{y:0.#}");

    private static string DashArray(LineStyle style) => style switch
    {
        LineStyle.Dashed => " stroke-dasharray=\"6 3\"",
        LineStyle.Dotted => " stroke-dasharray=\"1.5 2.5\"",
        _ => "",
    };
}
