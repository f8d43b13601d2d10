namespace ModelMonitor.DemoTraffic.Sending;

public enum PayloadFormat
{
    /// <summary>application/json: a batch is a JSON array of records.</summary>
    Json,

    /// <summary>application/x-ndjson: one record per line.</summary>
    Ndjson,
}
