using System.Buffers;
using ModelMonitor.Core.Contracts;

namespace ModelMonitor.DemoTraffic.Sending;

/// <summary>Posts prediction logs to POST /v1/predictions; acknowledged records go to the ledger, if any.</summary>
public sealed class PredictionSender(HttpClient http, Uri baseUrl, PayloadFormat format, TrafficCounters counters, AcknowledgementLedger? ledger, SenderPolicy policy)
    : RecordSender<PredictionLog>(http, new Uri(baseUrl, "v1/predictions"), format, counters, policy, bytesPerRecord: 700)
{
    protected override void Write(IReadOnlyList<PredictionLog> records, PayloadFormat format, IBufferWriter<byte> output) =>
        PredictionPayloadWriter.Write(records, format, output);

    protected override void OnAcknowledged(IReadOnlyList<PredictionLog> records, Func<int, bool> acknowledged) =>
        ledger?.Append(records, acknowledged);
}
