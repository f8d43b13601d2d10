using System.Text;
using ModelMonitor.Core.Contracts;

namespace ModelMonitor.Core.Tests.Contracts;

public sealed class PredictionKeysTests
{
    private static readonly string[] Lines =
    [
        // Canonical, verbatim with its own field order and spacing, bare NaN tokens in features and in the result.
        """{"v":1,"sent_at":"2026-12-07T10:00:00Z","prediction_id":"d-1","predictor_name":"eta","model_id":"eta_v1","features":{"a":1,"b":"x","c":NaN,"d":true},"prediction_result":12.5,"default_values_used":["a"]}""",
        """{"v":1,  "features":{"c":-Infinity},"prediction_result":NaN,"model_id":"eta_shadow","predictor_name":"eta","sent_at":"2026-12-07T12:00:00+02:00","prediction_id":"d-\u00e9"}""",
        """{"v":1,"sent_at":"2026-12-07T10:00:01Z","prediction_id":"f-1","predictor_name":"fraud","model_id":"gbm","features":{},"prediction_result":0.7}""",
        """{"v":1,"sent_at":"2026-12-07T10:00:02Z","prediction_id":"o-1","predictor_name":"other","model_id":"m","features":{"x":NaN},"prediction_result":3}""",
        // Features the byte scan must step over exactly: braces, brackets and escaped quotes inside strings, a feature named
        // "features", spaces around the colon; a result after them.
        """{"v":1,"sent_at":"2026-12-07T10:00:03Z","prediction_id":"t-1","predictor_name":"eta","model_id":"eta_v1","features" : {"s":"a}b{c[d]","q":"say \"}\" now\\","features":"x","n":null},"prediction_result":-4.25,"default_values_used":["features"]}""",
        // "features" first met as a value of default_values_used: the scan gives up, the reader steps over the object.
        """{"v":1,"sent_at":"2026-12-07T10:00:04Z","prediction_id":"t-2","predictor_name":"eta","model_id":"eta_v1","default_values_used":["features"],"features":{"a":"}"},"prediction_result":8}""",
    ];

    [Fact]
    public void The_keys_of_wanted_predictors_equal_what_the_full_decoder_reads_and_others_are_left_unread()
    {
        var message = Encoding.UTF8.GetBytes(string.Join('\n', Lines));
        var keys = new List<PredictionKey>();
        var errors = new List<string>();
        Assert.Equal(6, PredictionKeys.Decode(message, p => p is "eta" or "fraud", keys, errors));
        Assert.Empty(errors);

        var logs = new List<PredictionLog>();
        PredictionMessages.Decode(message, logs, errors);
        Assert.Empty(errors);
        var expected = logs.Where(l => l.PredictorName is "eta" or "fraud")
            .Select(l => new PredictionKey(l.PredictorName, l.PredictionId, l.ModelId, l.SentAt, l.PredictionResult)).ToList();
        Assert.Equal(expected, keys);
        Assert.True(double.IsNaN(keys[1].PredictionResult));
        Assert.Equal(new DateTimeOffset(2026, 12, 7, 10, 0, 0, TimeSpan.Zero), keys[1].SentAt);
        Assert.Equal(TimeSpan.Zero, keys[1].SentAt.Offset);
        Assert.Equal([-4.25, 8], keys.Skip(3).Select(k => k.PredictionResult));
    }

    [Theory]
    [InlineData("""{"v":1,"features":{"a":"}","b":1},"x":2}""", 18, 33)]
    [InlineData("""{"v":1,"features":{},"x":2}""", 18, 20)]
    [InlineData("""{"v":1,"features":{"a":{"nested":1}},"x":2}""", -1, -1)]
    [InlineData("""{"v":1,"default_values_used":["features"],"features":{}}""", -1, -1)]
    [InlineData("""{"v":1,"features":{"a":"unterminated""", -1, -1)]
    public void The_features_object_is_found_by_a_byte_scan_or_left_to_the_reader(string line, int start, int end)
    {
        Assert.Equal(start, PredictionKeys.FeaturesObject(Encoding.UTF8.GetBytes(line), out var found));
        Assert.Equal(end, found);
    }

    [Theory]
    [InlineData("""{"v":2,"sent_at":"2026-12-07T10:00:00Z","prediction_id":"d","predictor_name":"eta","model_id":"m","prediction_result":1}""", "schema version 2")]
    [InlineData("""{"sent_at":"2026-12-07T10:00:00Z","prediction_id":"d","predictor_name":"eta","model_id":"m","prediction_result":1}""", "schema version is missing")]
    [InlineData("""{"v":1,"sent_at":"2026-12-07T10:00:00Z","predictor_name":"eta","model_id":"m","prediction_result":1}""", "is missing")]
    [InlineData("""{"v":1,"sent_at":"yesterday","prediction_id":"d","predictor_name":"eta","model_id":"m","prediction_result":1}""", "malformed record")]
    [InlineData("""[1,2]""", "not a JSON object")]
    [InlineData("""{"v":1,"predictor_name":"eta",""", "malformed record")]
    public void A_record_the_join_cannot_read_is_reported_with_its_position_never_thrown(string line, string error)
    {
        var keys = new List<PredictionKey>();
        var errors = new List<string>();
        var message = Encoding.UTF8.GetBytes(Lines[2] + "\n" + line);
        Assert.Equal(2, PredictionKeys.Decode(message, _ => true, keys, errors));
        Assert.Single(keys);
        Assert.StartsWith("record 1: ", Assert.Single(errors), StringComparison.Ordinal);
        Assert.Contains(error, errors[0], StringComparison.Ordinal);
    }
}
