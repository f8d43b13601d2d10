using System.Text;
using ModelMonitor.Core.Contracts;
using ModelMonitor.DemoTraffic.Sending;

namespace ModelMonitor.DemoTraffic.Tests;

public sealed class PredictionPayloadWriterTests
{
    private static readonly PredictionLog Record = new(
        new DateTimeOffset(2026, 11, 22, 4, 4, 5, 123, TimeSpan.FromHours(1)),
        "order-r1-000000001",
        "fraud_score",
        "fraud_gbm_2026_10",
        [
            new("merchant_risk_ratio", FeatureValue.FromNumber(double.NaN)),
            new("up", FeatureValue.FromNumber(double.PositiveInfinity)),
            new("down", FeatureValue.FromNumber(double.NegativeInfinity)),
            new("amount", FeatureValue.FromNumber(12.5)),
            new("market", FeatureValue.FromString("new_york")),
            new("is_new_customer", FeatureValue.FromBoolean(true)),
            new("ip_country_matches", FeatureValue.FromBoolean(false)),
            new("card_type", FeatureValue.Null),
        ],
        0.125,
        ["amount"]);

    // Non-finite numbers are bare tokens, as Python's json.dumps writes them; sent_at is converted to UTC.
    private const string ExpectedRecord =
        """{"sent_at":"2026-11-22T03:04:05.123Z","prediction_id":"order-r1-000000001","predictor_name":"fraud_score","model_id":"fraud_gbm_2026_10","features":{"merchant_risk_ratio":NaN,"up":Infinity,"down":-Infinity,"amount":12.5,"market":"new_york","is_new_customer":true,"ip_country_matches":false,"card_type":null},"prediction_result":0.125,"default_values_used":["amount"]}""";

    [Fact]
    public void Json_batches_are_an_array_of_records_with_bare_non_finite_numbers()
    {
        var text = Encoding.UTF8.GetString(PredictionPayloadWriter.ToBytes([Record, Record], PayloadFormat.Json));

        Assert.Equal($"[{ExpectedRecord},{ExpectedRecord}]", text);
    }

    [Fact]
    public void Ndjson_batches_are_one_record_per_line()
    {
        var text = Encoding.UTF8.GetString(PredictionPayloadWriter.ToBytes([Record, Record], PayloadFormat.Ndjson));

        Assert.Equal($"{ExpectedRecord}\n{ExpectedRecord}\n", text);
    }

    [Fact]
    public void Content_types_match_the_formats()
    {
        Assert.Equal("application/json", PredictionPayloadWriter.ContentType(PayloadFormat.Json));
        Assert.Equal("application/x-ndjson", PredictionPayloadWriter.ContentType(PayloadFormat.Ndjson));
    }
}
