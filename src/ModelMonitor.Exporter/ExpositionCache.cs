using ModelMonitor.Exporter.Text;
using Prometheus;

namespace ModelMonitor.Exporter;

/// <summary>
/// The latest rendered statistics, swapped atomically by the refresh worker and served as-is by every scrape of
/// GET /metrics/statistics: a scrape costs one buffer copy, whatever the number of series, and the gzip form is
/// compressed once per refresh, not per scrape. Also owns the exporter's own metrics (in the process's registry,
/// served by /metrics).
/// </summary>
public sealed class ExpositionCache
{
    private readonly Gauge _refreshDuration;
    private readonly Gauge _lastRefresh;
    private readonly Gauge _series;
    private readonly Counter _dropped;
    private Published _current = new(Exposition.Empty, []);

    // The gzip form, where a segment unchanged since the last refresh keeps its compressed bytes (Publish is called by the
    // refresh worker only).
    private readonly SegmentedGzip _gzip = new();

    public ExpositionCache(IMetricFactory registry)
    {
        _refreshDuration = registry.CreateGauge("modelmonitor_exporter_refresh_duration_seconds", "Duration of the last refresh: read Postgres and render the statistics.");
        _lastRefresh = registry.CreateGauge("modelmonitor_exporter_last_refresh_timestamp_seconds", "Unix time of the last successful refresh (0 before the first).");
        _series = registry.CreateGauge("modelmonitor_exporter_series", "Statistics series in the current exposition.");
        _dropped = registry.CreateCounter("modelmonitor_exporter_dropped_series_total", "Series left out by the cardinality caps, summed over refreshes (grows at every refresh while a cap is hit).", ["reason"]);
        foreach (var reason in DropReasons.All)
        {
            _dropped.WithLabels(reason).Inc(0);
        }
    }

    /// <summary>The current exposition (never null; empty before the first refresh).</summary>
    public Exposition Current => Volatile.Read(ref _current).Exposition;

    /// <summary>The current exposition gzip-compressed.</summary>
    public byte[] CurrentGzip => Volatile.Read(ref _current).Gzip;

    /// <summary>True once a refresh has succeeded.</summary>
    public bool HasRefreshed { get; private set; }

    public void Publish(Exposition exposition, TimeSpan duration, DateTimeOffset now)
    {
        Volatile.Write(ref _current, new Published(exposition, _gzip.Compress(exposition.Segments)));
        HasRefreshed = true;
        _refreshDuration.Set(duration.TotalSeconds);
        _lastRefresh.Set(now.ToUnixTimeMilliseconds() / 1000.0);
        _series.Set(exposition.Series);
        foreach (var (reason, count) in exposition.Dropped)
        {
            _dropped.WithLabels(reason).Inc(count);
        }
    }

    private sealed record Published(Exposition Exposition, byte[] Gzip);
}
