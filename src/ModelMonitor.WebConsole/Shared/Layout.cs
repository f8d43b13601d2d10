using System.Globalization;
using System.Text;

namespace ModelMonitor.WebConsole.Shared;

/// <summary>
/// The frame every console page shares: the document head with the page's styles (no external file: the console works
/// offline and is a few files), a skip link, breadcrumbs, and the footer saying when and from where the page was rendered.
/// Pages are semantic HTML (landmarks, headings, tables with captions and header cells), usable by keyboard alone (the
/// focus is always visible), readable at 1280×800 and on a phone, and never say something by colour alone.
/// </summary>
public static class Layout
{
    private const string Styles = """
        :root { color-scheme: light; --ink: #1b1b1b; --muted: #555; --line: #ddd; --accent: #1d4ed8; --bad: #9a3412; --good: #166534; }
        * { box-sizing: border-box; }
        body { font: 15px/1.45 system-ui, sans-serif; margin: 0; color: var(--ink); background: #fff; }
        header.top { display: flex; gap: 1rem; align-items: baseline; flex-wrap: wrap; padding: .6rem 1rem; border-bottom: 1px solid var(--line); }
        header.top .brand { font-weight: 700; font-size: 1.1rem; color: var(--ink); text-decoration: none; }
        nav.crumbs ol { list-style: none; display: flex; flex-wrap: wrap; gap: .4rem; margin: 0; padding: 0; }
        nav.crumbs li + li::before { content: "›"; margin-right: .4rem; color: var(--muted); }
        main { padding: 0 1rem 1rem; max-width: 1400px; }
        h1 { font-size: 1.35rem; margin: 1rem 0 .4rem; overflow-wrap: anywhere; }
        h2 { font-size: 1.1rem; margin: 1.4rem 0 .4rem; }
        a { color: var(--accent); }
        a:focus-visible, button:focus-visible, select:focus-visible, input:focus-visible, summary:focus-visible { outline: 3px solid #f59e0b; outline-offset: 2px; }
        .skip { position: absolute; left: -999px; } .skip:focus { left: 1rem; top: .5rem; background: #fff; padding: .3rem; z-index: 1; }
        table { border-collapse: collapse; width: 100%; }
        .table-scroll { overflow-x: auto; }
        caption { text-align: left; font-weight: 600; margin-bottom: .5rem; }
        thead th { overflow-wrap: normal; }
        th, td { padding: .35rem .6rem; border-bottom: 1px solid var(--line); text-align: left; vertical-align: middle; overflow-wrap: anywhere; }
        td.number, th.number { text-align: right; font-variant-numeric: tabular-nums; }
        .problem { color: var(--bad); font-weight: 600; }
        .ok { color: var(--good); }
        .muted { color: var(--muted); }
        .spark { color: var(--accent); }
        dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; margin: .4rem 0; }
        dl.facts dt { color: var(--muted); } dl.facts dd { margin: 0; overflow-wrap: anywhere; }
        form.controls { display: flex; flex-wrap: wrap; gap: .8rem; align-items: end; margin: .8rem 0; padding: .6rem; background: #f6f7f9; border-radius: 6px; }
        form.controls label { display: flex; flex-direction: column; font-size: .85rem; color: var(--muted); }
        select, button, input { font: inherit; padding: .25rem .4rem; }
        .charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(min(100%, 560px), 1fr)); gap: 1rem; }
        figure.chart { margin: 0; }
        figure.chart > svg { width: 100%; height: auto; display: block; }
        .key svg { vertical-align: middle; }
        figure.chart figcaption { font-size: .85rem; color: var(--muted); }
        figure.chart .chart-title { font-weight: 600; color: var(--ink); margin-right: .5rem; }
        .key { white-space: nowrap; margin-right: .6rem; }
        .grid { stroke: #e5e7eb; stroke-width: 1; }
        .tick { font-size: 11px; fill: var(--muted); }
        .empty { font-size: 14px; fill: var(--muted); }
        .band.shade1 { fill: #bfdbfe; } .band.shade2 { fill: #60a5fa; fill-opacity: .75; } .band.shade3 { fill: #1d4ed8; fill-opacity: .5; }
        .line.s0, line.s0 { stroke: #1e3a8a; } .line.s1, line.s1 { stroke: #b45309; } .line.s2, line.s2 { stroke: #6d28d9; } .line.s3, line.s3 { stroke: #047857; }
        .cat0 { fill: #1d4ed8; } .cat1 { fill: #f59e0b; } .cat2 { fill: #10b981; } .cat3 { fill: #8b5cf6; } .cat4 { fill: #ef4444; } .cat5 { fill: #14b8a6; } .cat6 { fill: #a3a3a3; }
        details.sql { margin: .2rem 0 1rem; } details.sql pre { background: #f6f7f9; padding: .6rem; overflow-x: auto; font-size: .8rem; white-space: pre-wrap; }
        .alerts { border-left: 4px solid var(--bad); padding: .3rem .8rem; background: #fff7ed; margin: .6rem 0; }
        .note { border-left: 4px solid var(--line); padding: .2rem .8rem; color: var(--muted); }
        th a { color: inherit; } th[aria-sort] a { font-weight: 700; }
        @media (max-width: 700px) { .spark { width: 80px; } th.optional, td.optional { display: none; } main { padding: 0 .5rem 1rem; } .table-scroll > table { min-width: 600px; } }
        """;

    /// <summary>A whole page: <paramref name="crumbs"/> are (text, href or null for the current page).</summary>
    public static string Page(string title, IReadOnlyList<(string Text, string? Href)> crumbs, string body, DateTimeOffset now)
    {
        var html = new StringBuilder(body.Length + 6_000);
        html.Append(CultureInfo.InvariantCulture, $"""
            <!doctype html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>{Html.Encode(title)} · ModelMonitor</title>
            <style>
            {Styles}
            </style>
            </head>
            <body>
            <a class="skip" href="#content">Skip to content</a>
            <header class="top"><a class="brand" href="/">ModelMonitor</a><nav class="crumbs" aria-label="Breadcrumb"><ol>
            """);
        foreach (var (text, href) in crumbs)
        {
            html.Append(href is null
                ? $"<li><span aria-current=\"page\">{Html.Encode(text)}</span></li>"
                : $"<li><a href=\"{href}\">{Html.Encode(text)}</a></li>");
        }
        html.Append("</ol></nav></header>\n<main id=\"content\">\n");
        html.Append(body);
        html.Append(CultureInfo.InvariantCulture, $"</main><footer><p class=\"muted\" style=\"padding:0 1rem\">Rendered {now.UtcDateTime:yyyy-MM-dd HH:mm:ss} UTC from Postgres. Times are UTC.</p></footer></body></html>");
        return html.ToString();
    }

    /// <summary>A page saying what was wrong with the request (the status is the caller's).</summary>
    public static string Message(string title, string message, DateTimeOffset now) =>
        Page(title, [("Overview", "/"), (title, null)], $"<h1>{Html.Encode(title)}</h1><p>{Html.Encode(message)}</p><p><a href=\"/\">Back to the overview</a></p>", now);

    /// <summary>"12 s ago", "5 min ago", "3 h ago", "2 d ago".</summary>
    public static string Ago(TimeSpan elapsed) =>
        elapsed < TimeSpan.Zero ? "just now"
        : elapsed < TimeSpan.FromMinutes(1) ? $"{(int)elapsed.TotalSeconds} s ago"
        : elapsed < TimeSpan.FromHours(1) ? $"{(int)elapsed.TotalMinutes} min ago"
        : elapsed < TimeSpan.FromDays(1) ? $"{(int)elapsed.TotalHours} h ago"
        : $"{(int)elapsed.TotalDays} d ago";

    public static string Time(DateTimeOffset at) => at.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture) + " UTC";

    /// <summary>The range and window selectors: a GET form (so the result is a URL to share), with the page's own keys.</summary>
    public static string Controls(string action, IReadOnlyList<(string Name, string Value)> keys, ConsoleRange range, int window, IReadOnlyList<int> windows, int? requestedWindowReplaced)
    {
        var html = new StringBuilder();
        html.Append(CultureInfo.InvariantCulture, $"<form class=\"controls\" method=\"get\" action=\"{action}\" aria-label=\"Time range and window size\">");
        foreach (var (name, value) in keys)
        {
            html.Append(CultureInfo.InvariantCulture, $"<input type=\"hidden\" name=\"{name}\" value=\"{Html.Encode(value)}\">");
        }
        html.Append("<label>Range<select name=\"range\">");
        foreach (var (name, _) in ConsoleRange.Ranges)
        {
            html.Append(CultureInfo.InvariantCulture, $"<option value=\"{name}\"{(name == range.RangeName ? " selected" : "")}>last {name}</option>");
        }
        html.Append("</select></label><label>Window size<select name=\"window\">");
        foreach (var seconds in windows.DefaultIfEmpty(window).Distinct())
        {
            html.Append(CultureInfo.InvariantCulture, $"<option value=\"{seconds}\"{(seconds == window ? " selected" : "")}>{Charts.TimeChart.Duration(TimeSpan.FromSeconds(seconds))}</option>");
        }
        html.Append("</select></label>");
        if (range.ToGiven)
        {
            html.Append(CultureInfo.InvariantCulture, $"<label>Ending<input name=\"to\" value=\"{range.To.UtcDateTime:yyyy-MM-ddTHH:mm:ssZ}\" size=\"20\"></label>");
        }
        html.Append("<button type=\"submit\">Show</button></form>");
        if (requestedWindowReplaced is { } replaced)
        {
            html.Append(CultureInfo.InvariantCulture,
                $"<p class=\"note\">Showing {Charts.TimeChart.Duration(TimeSpan.FromSeconds(window))} windows: {Charts.TimeChart.Duration(TimeSpan.FromSeconds(replaced))} windows are not stored for this range or would be more points than a chart draws.</p>");
        }
        if (range.Clamped)
        {
            html.Append(CultureInfo.InvariantCulture,
                $"<p class=\"note\">Showing the last {Charts.TimeChart.Duration(range.Range)} only: that is as many {Charts.TimeChart.Duration(TimeSpan.FromSeconds(window))} windows as a chart draws, and no larger window size is stored (Aggregator:Windows).</p>");
        }
        return html.ToString();
    }

    /// <summary>A ratio as a percentage, flagged (⚠ and words' colour) above <paramref name="threshold"/>; <paramref name="none"/>
    /// when there is none.</summary>
    public static string Ratio(double? ratio, double threshold, string none = "<span class=\"muted\">–</span>") => ratio is not { } r ? none
        : r > threshold ? $"<span class=\"problem\">⚠ {Charts.TimeChart.FormatValue(r, Charts.ValueFormat.Ratio)}</span>"
        : Charts.TimeChart.FormatValue(r, Charts.ValueFormat.Ratio);

    /// <summary>A chart's SQL, runnable in psql as shown (the page ran it with the same values as parameters).</summary>
    public static string Sql(string sql) =>
        $"<details class=\"sql\"><summary>SQL</summary><pre><code>{Html.Encode(sql)}</code></pre></details>";
}
