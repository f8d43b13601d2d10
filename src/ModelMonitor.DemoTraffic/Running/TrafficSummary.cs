using System.Globalization;
using System.Text;
using System.Text.Json;
using ModelMonitor.DemoTraffic.Sending;

namespace ModelMonitor.DemoTraffic.Running;

/// <summary>The figures of a run, printed on exit as text and, with --json-summary, as one JSON line.</summary>
public sealed record TrafficSummary(
    string RunId,
    TimeSpan LiveElapsed,
    long Sent,
    long Acknowledged,
    long LiveAcknowledged,
    long Rejected,
    long GaveUp,
    long Requests,
    long Retries,
    long Throttled,
    long TransientFailures,
    double? P50Ms,
    double? P90Ms,
    double? P99Ms,
    double MaxMs,
    int BatchSize,
    int Concurrency,
    OutcomeFigures Outcomes)
{
    /// <summary>Acknowledged records per second of the live phase (the backfill is not in it).</summary>
    public double AcknowledgedPerSecond => LiveElapsed > TimeSpan.Zero ? LiveAcknowledged / LiveElapsed.TotalSeconds : 0;

    public static TrafficSummary From(TrafficCounters counters, long acknowledgedBeforeLive, string runId, TimeSpan elapsed, TrafficRunOptions options, OutcomeFigures outcomes) => new(
        runId, elapsed, counters.Sent, counters.Acknowledged, counters.Acknowledged - acknowledgedBeforeLive, counters.Rejected, counters.GaveUp, counters.Requests,
        counters.Retries, counters.Throttled, counters.TransientFailures,
        counters.Latency.QuantileMilliseconds(0.5), counters.Latency.QuantileMilliseconds(0.9), counters.Latency.QuantileMilliseconds(0.99),
        counters.Latency.Max.TotalMilliseconds, options.BatchSize, options.Concurrency, outcomes);

    public string ToText() => string.Create(
        CultureInfo.InvariantCulture,
        $"summary: run {RunId} live={LiveElapsed.TotalSeconds:0.0}s sent={Sent} acknowledged={Acknowledged} rejected={Rejected} " +
        $"gave_up={GaveUp} requests={Requests} retried={Retries} throttled={Throttled} transient_failures={TransientFailures} " +
        $"live_acknowledged={LiveAcknowledged} achieved={AcknowledgedPerSecond:0.0} predictions/s latency p50={StatusReporter.Format(P50Ms)} p90={StatusReporter.Format(P90Ms)} " +
        $"p99={StatusReporter.Format(P99Ms)} max={MaxMs:0.0}ms (batch {BatchSize}, concurrency {Concurrency}) " +
        $"outcomes_sent={Outcomes.Sent} outcomes_accepted={Outcomes.Accepted} outcomes_rejected={Outcomes.Rejected} outcomes_gave_up={Outcomes.GaveUp} " +
        $"outcomes_dropped={Outcomes.Dropped} outcomes_pending={Outcomes.Pending}");

    public string ToJson()
    {
        using var stream = new MemoryStream();
        using (var writer = new Utf8JsonWriter(stream))
        {
            writer.WriteStartObject();
            writer.WriteString("run_id", RunId);
            writer.WriteNumber("live_seconds", Math.Round(LiveElapsed.TotalSeconds, 3));
            writer.WriteNumber("sent", Sent);
            writer.WriteNumber("acknowledged", Acknowledged);
            writer.WriteNumber("live_acknowledged", LiveAcknowledged);
            writer.WriteNumber("rejected", Rejected);
            writer.WriteNumber("gave_up", GaveUp);
            writer.WriteNumber("requests", Requests);
            writer.WriteNumber("retried", Retries);
            writer.WriteNumber("throttled", Throttled);
            writer.WriteNumber("transient_failures", TransientFailures);
            writer.WriteNumber("predictions_per_second", Math.Round(AcknowledgedPerSecond, 1));
            writer.WriteStartObject("latency_ms");
            WriteOptional(writer, "p50", P50Ms);
            WriteOptional(writer, "p90", P90Ms);
            WriteOptional(writer, "p99", P99Ms);
            writer.WriteNumber("max", Math.Round(MaxMs, 3));
            writer.WriteEndObject();
            writer.WriteNumber("batch_size", BatchSize);
            writer.WriteNumber("concurrency", Concurrency);
            writer.WriteStartObject("outcomes");
            writer.WriteNumber("sent", Outcomes.Sent);
            writer.WriteNumber("accepted", Outcomes.Accepted);
            writer.WriteNumber("rejected", Outcomes.Rejected);
            writer.WriteNumber("gave_up", Outcomes.GaveUp);
            writer.WriteNumber("dropped", Outcomes.Dropped);
            writer.WriteNumber("pending", Outcomes.Pending);
            writer.WriteEndObject();
            writer.WriteEndObject();
        }

        return Encoding.UTF8.GetString(stream.ToArray());
    }

    private static void WriteOptional(Utf8JsonWriter writer, string name, double? value)
    {
        if (value is { } v)
        {
            writer.WriteNumber(name, Math.Round(v, 3));
        }
        else
        {
            writer.WriteNull(name);
        }
    }
}
