namespace ModelMonitor.Deploy.Tests;

/// <summary>The metric names the services publish (the catalogue in docs/exporter.md and the README).
/// Dashboards and rules may only use these, so a typo cannot produce a forever-empty panel or an
/// alert that can never fire.</summary>
internal static class MetricCatalogue
{
    private static readonly string[] Gauges =
    [
        "modelmonitor_feature_count", "modelmonitor_feature_mean", "modelmonitor_feature_stddev",
        "modelmonitor_feature_min", "modelmonitor_feature_max", "modelmonitor_feature_quantile",
        "modelmonitor_feature_default_ratio", "modelmonitor_feature_missing_ratio",
        "modelmonitor_feature_nonfinite_ratio", "modelmonitor_feature_type_mismatch_ratio", "modelmonitor_feature_category_ratio",
        "modelmonitor_prediction_count", "modelmonitor_prediction_mean", "modelmonitor_prediction_stddev",
        "modelmonitor_prediction_min", "modelmonitor_prediction_max", "modelmonitor_prediction_quantile",
        "modelmonitor_window_end_timestamp_seconds",
        "modelmonitor_model_first_seen_timestamp_seconds", "modelmonitor_model_last_seen_timestamp_seconds",
        "modelmonitor_exporter_refresh_duration_seconds", "modelmonitor_exporter_last_refresh_timestamp_seconds",
        "modelmonitor_exporter_series",
        "modelmonitor_kafka_producer_queue_messages", "modelmonitor_ingest_inflight_requests",
        "modelmonitor_aggregator_consumer_lag", "modelmonitor_aggregator_last_flush_timestamp_seconds",
        "modelmonitor_aggregator_open_window_rows",
        "process_resident_memory_bytes", "process_start_time_seconds", "dotnet_gc_heap_bytes",
    ];

    private static readonly string[] Counters =
    [
        "modelmonitor_exporter_dropped_series_total", "modelmonitor_http_requests_total",
        "modelmonitor_ingest_predictions_accepted_total", "modelmonitor_ingest_predictions_rejected_total",
        "modelmonitor_ingest_requests_rejected_total", "modelmonitor_kafka_delivery_errors_total",
        "modelmonitor_aggregator_records_consumed_total", "modelmonitor_aggregator_records_late_total",
        "modelmonitor_aggregator_records_poison_total", "modelmonitor_aggregator_flushes_total",
        "modelmonitor_aggregator_flush_errors_total", "modelmonitor_aggregator_rows_written_total",
        "process_cpu_seconds_total", "dotnet_gc_collections_total",
    ];

    private static readonly string[] Histograms =
    [
        "modelmonitor_http_request_duration_seconds", "modelmonitor_kafka_delivery_duration_seconds",
        "modelmonitor_aggregator_flush_duration_seconds",
    ];

    /// <summary>Every series name a scrape can contain (histograms as _bucket, _sum, _count).</summary>
    public static IReadOnlySet<string> SeriesNames { get; } = Gauges.Concat(Counters)
        .Concat(Histograms.SelectMany(h => new[] { h + "_bucket", h + "_sum", h + "_count" }))
        .ToHashSet(StringComparer.Ordinal);
}
