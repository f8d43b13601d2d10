using System.Text;
using ModelMonitor.Core.Contracts;

namespace ModelMonitor.Core.Tests.Contracts;

public sealed class PredictionLogCodecTests
{
    private static readonly PredictionLog Sample = new(
        new DateTimeOffset(2026, 11, 22, 10, 15, 0, 123, TimeSpan.Zero), "d-1", "eta", "eta_v12",
        [
            new("distance_km", FeatureValue.FromNumber(3.25)),
            new("market", FeatureValue.FromString("paris \"nord\" é")),
            new("is_new", FeatureValue.FromBoolean(true)),
            new("promo", FeatureValue.Null),
            new("risk", FeatureValue.FromNumber(double.NaN)),
            new("lo", FeatureValue.FromNumber(double.NegativeInfinity)),
        ],
        double.PositiveInfinity, ["promo"]);

    [Fact]
    public void Encoding_writes_the_versioned_JSON_with_bare_non_finite_tokens()
    {
        var json = Encoding.UTF8.GetString(PredictionLogCodec.Encode(Sample));

        Assert.Equal(
            """{"v":1,"sent_at":"2026-11-22T10:15:00.123Z","prediction_id":"d-1","predictor_name":"eta","model_id":"eta_v12","prediction_result":Infinity,"default_values_used":["promo"],"features":{"distance_km":3.25,"market":"paris \"nord\" é","is_new":true,"promo":null,"risk":NaN,"lo":-Infinity}}""",
            json);
    }

    [Fact]
    public void A_record_within_raised_API_limits_decodes_in_the_aggregator()
    {
        // An operator may raise Ingestion:MaxFeatures (and the other limits) up to the ceiling; what the API then
        // acknowledges must not become poison downstream. The default limits are far below this record.
        var defaults = IngestionLimits.Default;
        var features = Enumerable.Range(0, defaults.MaxFeatures + 1)
            .Select(i => new KeyValuePair<string, FeatureValue>($"f{i}", FeatureValue.FromNumber(i)))
            .Append(new(new string('n', defaults.MaxFeatureNameLength + 1), FeatureValue.FromString(new string('v', defaults.MaxStringValueLength + 1))))
            .ToArray();
        var big = Sample with { PredictionId = new string('i', defaults.MaxPredictionIdLength + 1), Features = features };

        Assert.True(PredictionLogCodec.TryDecode(PredictionLogCodec.Encode(big), out var log, out var error), error);
        Assert.Equal(features.Length, log.Features.Count);
        Assert.Equal(big.PredictionId, log.PredictionId);
    }

    [Fact]
    public void Decoding_an_encoded_log_gives_it_back()
    {
        Assert.True(PredictionLogCodec.TryDecode(PredictionLogCodec.Encode(Sample), out var log, out var error), error);

        Assert.Equal(Sample.SentAt, log.SentAt);
        Assert.Equal(Sample.PredictionId, log.PredictionId);
        Assert.Equal(Sample.Features.Select(f => f.Key), log.Features.Select(f => f.Key));
        Assert.Equal(Sample.Features.Take(4).Select(f => f.Value), log.Features.Take(4).Select(f => f.Value));
        Assert.True(double.IsNaN(log.Features[4].Value.Number));
        Assert.Equal(double.PositiveInfinity, log.PredictionResult);
        Assert.Equal(Sample.DefaultValuesUsed, log.DefaultValuesUsed);
    }

    [Fact]
    public void Old_messages_decode_regardless_of_the_APIs_lateness_window()
    {
        var old = Sample with { SentAt = new DateTimeOffset(2001, 1, 1, 0, 0, 0, TimeSpan.Zero) };

        Assert.True(PredictionLogCodec.TryDecode(PredictionLogCodec.Encode(old), out var log, out _));
        Assert.Equal(old.SentAt, log.SentAt);
    }

    [Theory]
    [InlineData("", "empty")]
    [InlineData("not json", "malformed")]
    [InlineData("""{"sent_at":"2026-11-22T10:15:00Z","prediction_id":"x","predictor_name":"p","model_id":"m","features":{},"prediction_result":1}""", "schema version is missing")]
    [InlineData("""{"v":2,"sent_at":"2026-11-22T10:15:00Z","prediction_id":"x","predictor_name":"p","model_id":"m","features":{},"prediction_result":1}""", "version 2 is not supported")]
    [InlineData("""{"v":1,"sent_at":"2026-11-22T10:15:00Z"}""", "required")]
    [InlineData("""{"v":1,"sent_at":"2026-11-22T10:15:00Z","prediction_id":"x","predictor_name":"p","model_id":"m","features":{},"prediction_result":1} trailing""", "malformed")]
    public void Poison_messages_give_false_and_a_reason_instead_of_throwing(string message, string reason)
    {
        Assert.False(PredictionLogCodec.TryDecode(Encoding.UTF8.GetBytes(message), out var log, out var error));
        Assert.Null(log);
        Assert.Contains(reason, error, StringComparison.Ordinal);
    }

    [Fact]
    public void A_verbatim_record_gets_the_version_first_and_decodes_like_the_canonical_encoding()
    {
        var record = """{ "prediction_id":"d-1",""" + "\r\n" + """ "sent_at":"2026-11-22T12:15:00.123+02:00","predictor_name":"eta","model_id":"eta_v12","features":{"distance_km":3.25,"market":"paris \"nord\" \u00e9","is_new":true,"promo":null,"risk":NaN,"lo":-Infinity},"prediction_result":Infinity,"default_values_used":["promo","promo"]}""";

        var value = PredictionLogCodec.EncodeVerbatim(Encoding.UTF8.GetBytes(record));

        Assert.Equal("{\"v\":1, " + record[2..].Replace("\r\n", "  ", StringComparison.Ordinal), Encoding.UTF8.GetString(value));
        Assert.True(PredictionLogCodec.TryDecode(value, out var log, out var error), error);
        Assert.True(PredictionLogCodec.TryDecode(PredictionLogCodec.Encode(Sample), out var canonical, out _));
        Assert.Equal(canonical.SentAt, log.SentAt);
        Assert.Equal(TimeSpan.Zero, log.SentAt.Offset);
        Assert.Equal(canonical.PredictionId, log.PredictionId);
        Assert.Equal(canonical.Features.Select(f => f.Key), log.Features.Select(f => f.Key));
        Assert.Equal(canonical.Features.Take(4).Select(f => f.Value), log.Features.Take(4).Select(f => f.Value));
        Assert.True(double.IsNaN(log.Features[4].Value.Number));
        Assert.Equal(double.NegativeInfinity, log.Features[5].Value.Number);
        Assert.Equal(double.PositiveInfinity, log.PredictionResult);
        Assert.Equal(["promo"], log.DefaultValuesUsed);
    }

    [Theory]
    [InlineData("")]
    [InlineData("[1]")]
    [InlineData("{\"a\":1")]
    public void Verbatim_encoding_refuses_what_is_not_one_object(string record)
    {
        Assert.Throws<ArgumentException>(() => PredictionLogCodec.EncodeVerbatim(Encoding.UTF8.GetBytes(record)));
    }
}
