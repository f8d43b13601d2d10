using ModelMonitor.Core.Contracts;
using ModelMonitor.Core.Ingestion;
using ModelMonitor.Hosting.Observability;
using Prometheus;

namespace ModelMonitor.Ingestion;

/// <summary>The ingestion API's own series (the HTTP ones come from the service defaults).</summary>
public sealed class IngestionMetrics
{
    private readonly Counter.Child[] _rejectedByReason;
    private readonly Counter.Child[] _outcomesRejectedByReason;

    public IngestionMetrics(IMetricFactory registry)
    {
        Accepted = registry.CreateCounter("modelmonitor_ingest_predictions_accepted_total",
            "Prediction logs acknowledged to callers: validated and durably written to Kafka.");
        var rejected = registry.CreateCounter("modelmonitor_ingest_predictions_rejected_total",
            "Prediction logs rejected by validation, by reason.", ["reason"]);
        _rejectedByReason = [.. RejectReasons.All.Select(r => rejected.WithLabels(r.ToLabel()))];
        OutcomesAccepted = registry.CreateCounter("modelmonitor_ingest_outcomes_accepted_total",
            "Actual outcomes acknowledged to callers: validated and durably written to Kafka.");
        var outcomesRejected = registry.CreateCounter("modelmonitor_ingest_outcomes_rejected_total",
            "Actual outcomes rejected by validation, by reason.", ["reason"]);
        _outcomesRejectedByReason = [.. RejectReasons.All.Select(r => outcomesRejected.WithLabels(r.ToLabel()))];
        RequestsRejected = registry.CreateCounter("modelmonitor_ingest_requests_rejected_total",
            "Whole requests rejected, by reason (malformed, too_large, too_many_records, unsupported_media_type, overloaded, kafka_unavailable).",
            ["reason"]);
        DeliveryDuration = registry.CreateHistogram("modelmonitor_kafka_delivery_duration_seconds",
            "Time from producing a request's records to Kafka's acknowledgement of all of them.",
            new HistogramConfiguration { Buckets = ServiceMetrics.LatencyBuckets });
        DeliveryErrors = registry.CreateCounter("modelmonitor_kafka_delivery_errors_total",
            "Prediction logs Kafka did not acknowledge, by librdkafka error code.", ["error"]);
        QueueMessages = registry.CreateGauge("modelmonitor_kafka_producer_queue_messages",
            "Kafka messages (each up to one request's records for one partition) waiting in the producer's queue (saturation).");
        InFlight = registry.CreateGauge("modelmonitor_ingest_inflight_requests",
            "POST /v1/predictions requests being received or processed.");
        BufferedBodyBytes = registry.CreateGauge("modelmonitor_ingest_buffered_body_bytes",
            "Bytes of request bodies held in memory (bounded by Ingestion:MaxBufferedBodyBytes).");
    }

    public Counter Accepted { get; }
    public Counter RequestsRejected { get; }
    public Histogram DeliveryDuration { get; }
    public Counter DeliveryErrors { get; }
    public Gauge QueueMessages { get; }
    public Gauge InFlight { get; }
    public Gauge BufferedBodyBytes { get; }

    public void CountRejected(RejectReason reason, int count) => _rejectedByReason[(int)reason].Inc(count);

    /// <summary>Outcomes rejected by validation (modelmonitor_ingest_outcomes_rejected_total).</summary>
    public void CountRejectedOutcomes(RejectReason reason, int count) => _outcomesRejectedByReason[(int)reason].Inc(count);

    public Counter OutcomesAccepted { get; }

    public void CountRejections(ParsedBatch batch)
    {
        if (batch.RejectedCount == 0)
        {
            return;
        }
        foreach (var reason in RejectReasons.All)
        {
            var count = batch.RejectedFor(reason);
            if (count > 0)
            {
                _rejectedByReason[(int)reason].Inc(count);
            }
        }
    }
}
