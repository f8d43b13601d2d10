namespace ModelMonitor.WebConsole;

/// <summary>The console's settings (section <c>Console</c>).</summary>
public sealed class ConsoleOptions
{
    public const string SectionName = "Console";

    /// <summary>Alertmanager's base URL (e.g. http://alertmanager:9093): the overview and the model page show the alerts
    /// firing for each model. Unset: no alerts are shown.</summary>
    public Uri? AlertmanagerUrl { get; set; }

    /// <summary>Grafana's base URL (e.g. http://localhost:3000): each page links to the matching dashboard. Unset: no
    /// links.</summary>
    public Uri? GrafanaUrl { get; set; }

    /// <summary>The most points a chart draws: a range that would need more windows of the chosen size is drawn with the
    /// smallest larger size that fits (the page says so).</summary>
    public int PointBudget { get; set; } = 500;
}
