namespace ModelMonitor.WebConsole.Shared;

/// <summary>The console's URLs (names travel in the query string, so any text, '/' included, round-trips) and Grafana's.</summary>
public static class Links
{
    public const string ModelPath = "/model";
    public const string FeaturePath = "/feature";

    public static string Model(string predictor, string model, ConsoleRange? range = null, int? window = null, string? sort = null) =>
        ModelPath + Html.Query(("predictor", predictor), ("model", model), ("range", range?.RangeName),
            ("to", To(range)), ("window", window?.ToString(System.Globalization.CultureInfo.InvariantCulture)), ("sort", sort));

    public static string Feature(string predictor, string model, string feature, ConsoleRange? range = null, int? window = null) =>
        FeaturePath + Html.Query(("predictor", predictor), ("model", model), ("feature", feature), ("range", range?.RangeName),
            ("to", To(range)), ("window", window?.ToString(System.Globalization.CultureInfo.InvariantCulture)));

    /// <summary>A shared link keeps its end only when it was given (else it follows now).</summary>
    private static string? To(ConsoleRange? range) =>
        range is { ToGiven: true } ? range.To.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", System.Globalization.CultureInfo.InvariantCulture) : null;

    /// <summary>A Grafana dashboard of grafana-dashboards/ (by uid) with its variables set, or null without Console:GrafanaUrl.</summary>
    public static string? Grafana(Uri? grafana, string uid, params (string Variable, string Value)[] variables) =>
        grafana is null ? null
        : Html.Encode(new Uri(grafana, $"d/{uid}").ToString() + "?" + string.Join('&', variables.Select(v => $"var-{v.Variable}={Uri.EscapeDataString(v.Value)}")));
}
