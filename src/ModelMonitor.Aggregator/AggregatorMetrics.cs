using System.Globalization;
using Prometheus;

namespace ModelMonitor.Aggregator;

/// <summary>The aggregator's operational metrics (names are fixed: dashboards and alerts use them).</summary>
internal sealed class AggregatorMetrics
{
    private readonly Gauge _lag;
    private readonly HashSet<int> _lagPartitions = [];

    public AggregatorMetrics(IMetricFactory registry)
    {
        MessagesConsumed = registry.CreateCounter("modelmonitor_aggregator_messages_consumed_total", "Kafka messages consumed (each holds one or more prediction logs).");
        RecordsConsumed = registry.CreateCounter("modelmonitor_aggregator_records_consumed_total", "Prediction logs consumed (valid, late and poison).");
        RecordsLate = registry.CreateCounter("modelmonitor_aggregator_records_late_total", "Records older than the allowed lateness, skipped.");
        MessagesLost = registry.CreateCounter("modelmonitor_aggregator_messages_lost_total",
            "Kafka messages deleted (retention) before the aggregator read them: offsets it expected and never got, counted once.");
        RecordsPoison = registry.CreateCounter("modelmonitor_aggregator_records_poison_total", "Malformed or unknown-version prediction logs, skipped.");
        Flushes = registry.CreateCounter("modelmonitor_aggregator_flushes_total", "Successful flushes of windowed statistics and offsets to Postgres.");
        FlushErrors = registry.CreateCounter("modelmonitor_aggregator_flush_errors_total", "Flushes that failed (Postgres errors and fenced offsets).");
        FlushDuration = registry.CreateHistogram(
            "modelmonitor_aggregator_flush_duration_seconds",
            "Duration of successful flush transactions.",
            new HistogramConfiguration { Buckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] });
        RowsWritten = registry.CreateCounter("modelmonitor_aggregator_rows_written_total", "Window rows (model and feature) written to Postgres.");
        RowsReused = registry.CreateCounter("modelmonitor_aggregator_rows_reused_total",
            "Feature rows of the shortest window size updated from the aggregator's copy of what it last wrote, without reading them back (Aggregator:ReuseWrittenRows).");
        RowsStale = registry.CreateCounter("modelmonitor_aggregator_rows_stale_total",
            "Feature rows whose copy another writer had changed since (another instance, retention): read back and written after all.");
        LastFlush = registry.CreateGauge("modelmonitor_aggregator_last_flush_timestamp_seconds", "Unix time of the last successful flush.");
        DeltaBytes = registry.CreateGauge("modelmonitor_aggregator_delta_bytes",
            "Estimated memory of the window rows held, not yet flushed (bounded by Aggregator:MaxDeltaBytes).");
        OpenWindowRows = registry.CreateGauge("modelmonitor_aggregator_open_window_rows", "Window rows held in memory, not yet flushed.");
        _lag = registry.CreateGauge("modelmonitor_aggregator_consumer_lag",
            "Messages between the consumer position and the high watermark, per assigned partition.", ["partition"]);
    }

    public Counter MessagesConsumed { get; }

    public Counter RecordsConsumed { get; }

    public Counter RecordsLate { get; }

    public Counter RecordsPoison { get; }

    public Counter MessagesLost { get; }

    public Counter Flushes { get; }

    public Counter FlushErrors { get; }

    public Histogram FlushDuration { get; }

    public Counter RowsWritten { get; }

    public Counter RowsReused { get; }

    public Counter RowsStale { get; }

    public Gauge LastFlush { get; }

    public Gauge OpenWindowRows { get; }

    public Gauge DeltaBytes { get; }

    /// <summary>Replaces the lag of every assigned partition (messages between position and high watermark);
    /// partitions no longer assigned leave the metric.</summary>
    public void SetLag(IReadOnlyDictionary<int, long> lagByPartition)
    {
        lock (_lagPartitions)
        {
            foreach (var partition in _lagPartitions.Where(p => !lagByPartition.ContainsKey(p)).ToList())
            {
                _lag.RemoveLabelled(partition.ToString(CultureInfo.InvariantCulture));
                _lagPartitions.Remove(partition);
            }

            foreach (var (partition, lag) in lagByPartition)
            {
                _lag.WithLabels(partition.ToString(CultureInfo.InvariantCulture)).Set(lag);
                _lagPartitions.Add(partition);
            }
        }
    }
}
