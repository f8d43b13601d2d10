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
    ];

    [Fact]
    public void The_keys_of_wanted_predictors_equal_what_the_full_decoder_reads_and_others_are_left_unread()
    {
        var message = Encoding.UTF8.GetBytes(string.Join('\n', Lines));
        var keys = new List<PredictionKey>();
        var errors = new List<string>();
        Assert.Equal(4, PredictionKeys.Decode(message, p => p is "eta" or "fraud", keys, errors));
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
