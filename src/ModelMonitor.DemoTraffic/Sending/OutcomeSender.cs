using System.Buffers;
using ModelMonitor.Core.Contracts;

namespace ModelMonitor.DemoTraffic.Sending;

/// <summary>Posts actual outcomes to POST /v1/outcomes, with the same retries as predictions.</summary>
public sealed class OutcomeSender(HttpClient http, Uri baseUrl, PayloadFormat format, TrafficCounters counters, SenderPolicy policy)
    : RecordSender<Outcome>(http, new Uri(baseUrl, "v1/outcomes"), format, counters, policy, bytesPerRecord: 160)
{
    protected override void Write(IReadOnlyList<Outcome> records, PayloadFormat format, IBufferWriter<byte> output) =>
        OutcomePayloadWriter.Write(records, format, output);
}
