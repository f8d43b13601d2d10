using System.Text;
using ModelMonitor.Core.Contracts;
using ModelMonitor.Core.Ingestion;

namespace ModelMonitor.Core.Tests.Contracts;

public sealed class OutcomeContractTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 7, 12, 0, 0, TimeSpan.Zero);
    private static readonly OutcomeBatchParser Parser = new(IngestionLimits.Default, TimeSpan.FromDays(30));

    private static ParsedOutcomes Parse(string body, BodyFormat format = BodyFormat.Json) => Parser.Parse(Encoding.UTF8.GetBytes(body), format, Now);

    [Fact]
    public void Numbers_labels_and_booleans_are_read_with_their_kind_and_observed_at_in_utc()
    {
        var parsed = Parse("""
            [{"prediction_id":"d-1","predictor_name":"eta","actual":23.5,"observed_at":"2026-12-07T13:00:00+02:00","extra":[1]},
             {"prediction_id":"d-2","predictor_name":"fraud","actual":true,"observed_at":"2026-12-07T11:00:00Z"},
             {"prediction_id":"d-3","predictor_name":"kind","actual":"fraud","observed_at":"2026-12-07T11:00:00Z"}]
            """);
        Assert.Equal(0, parsed.RejectedCount);
        Assert.Equal([ActualValue.Of(23.5), ActualValue.Of(true), ActualValue.Of("fraud")], parsed.Accepted.Select(o => o.Actual));
        Assert.Equal(new DateTimeOffset(2026, 12, 7, 11, 0, 0, TimeSpan.Zero), parsed.Accepted[0].ObservedAt);
        Assert.Equal(TimeSpan.Zero, parsed.Accepted[0].ObservedAt.Offset);
    }

    [Theory]
    [InlineData("""{"prediction_id":"a","predictor_name":"p","actual":NaN,"observed_at":"2026-12-07T11:00:00Z"}""", "actual", RejectReason.NumberOutOfRange)]
    [InlineData("""{"prediction_id":"a","predictor_name":"p","actual":1e999,"observed_at":"2026-12-07T11:00:00Z"}""", "actual", RejectReason.NumberOutOfRange)]
    [InlineData("""{"prediction_id":"a","predictor_name":"p","actual":null,"observed_at":"2026-12-07T11:00:00Z"}""", "actual", RejectReason.WrongType)]
    [InlineData("""{"prediction_id":"a","predictor_name":"p","actual":[1],"observed_at":"2026-12-07T11:00:00Z"}""", "actual", RejectReason.WrongType)]
    [InlineData("""{"prediction_id":"a","predictor_name":"p","actual":"","observed_at":"2026-12-07T11:00:00Z"}""", "actual", RejectReason.Empty)]
    [InlineData("""{"prediction_id":"a","predictor_name":"p\u0007","actual":1,"observed_at":"2026-12-07T11:00:00Z"}""", "predictor_name", RejectReason.ControlCharacters)]
    [InlineData("""{"prediction_id":"a\u0000","predictor_name":"p","actual":1,"observed_at":"2026-12-07T11:00:00Z"}""", "prediction_id", RejectReason.UnstorableText)]
    [InlineData("""{"prediction_id":"a","predictor_name":"p","actual":1,"observed_at":"2026-12-07T12:10:00Z"}""", "observed_at", RejectReason.TimestampInFuture)]
    [InlineData("""{"prediction_id":"a","predictor_name":"p","actual":1,"observed_at":"2026-11-01T12:00:00Z"}""", "observed_at", RejectReason.TimestampTooOld)]
    [InlineData("""{"prediction_id":"a","predictor_name":"p","actual":1,"observed_at":"2026-12-07T11:00:00"}""", "observed_at", RejectReason.InvalidTimestamp)]
    [InlineData("""{"prediction_id":"a","actual":1,"actual":2,"predictor_name":"p","observed_at":"2026-12-07T11:00:00Z"}""", "actual", RejectReason.DuplicateField)]
    [InlineData("""{"actual":1}""", "prediction_id, predictor_name, observed_at", RejectReason.MissingField)]
    [InlineData("""[1]""", "", RejectReason.WrongType)]
    public void A_bad_outcome_is_rejected_naming_its_field(string record, string field, RejectReason reason)
    {
        var parsed = Parse(record.StartsWith('[') ? record : $"[{record},{{\"prediction_id\":\"ok\",\"predictor_name\":\"p\",\"actual\":1,\"observed_at\":\"2026-12-07T11:00:00Z\"}}]");
        Assert.Null(parsed.MalformedMessage);
        var error = Assert.Single(parsed.Errors);
        Assert.Equal((0, field, reason), (error.Index, error.Field, error.Reason));
        Assert.Equal(record.StartsWith('[') ? 0 : 1, parsed.Accepted.Count);
    }

    [Fact]
    public void A_malformed_body_or_one_over_the_record_limit_is_refused_whole()
    {
        Assert.Equal("malformed JSON at line 2, byte 1: 'x' is an invalid start of a value",
            Parse("{\"prediction_id\":\"a\",\"predictor_name\":\"p\",\"actual\":1,\"observed_at\":\"2026-12-07T11:00:00Z\"}\nx", BodyFormat.NdJson).MalformedMessage);
        Assert.Equal("the body holds no outcome", Parse("  ").MalformedMessage);
        var small = new OutcomeBatchParser(IngestionLimits.Default with { MaxRecordsPerRequest = 2 }, TimeSpan.FromDays(30));
        Assert.Equal(2, small.Parse(Encoding.UTF8.GetBytes("[{},{},{}]"), BodyFormat.Json, Now).TooManyRecordsLimit);
    }

    [Fact]
    public void Messages_round_trip_and_an_outcome_lands_in_the_partition_of_its_predictions()
    {
        Outcome[] outcomes =
        [
            new("eta", "delivery-1", ActualValue.Of(12.25), Now),
            new("fraud", "order-é-2", ActualValue.Of(false), Now.AddSeconds(1)),
            new("kind", "x\"y", ActualValue.Of("a \"quoted\" label"), Now.AddSeconds(2)),
        ];
        var plan = OutcomeMessages.Plan(outcomes, partitionCount: 12, maxMessageBytes: 900_000);
        var decoded = new List<Outcome>();
        var errors = new List<string>();
        foreach (var message in plan.Messages)
        {
            OutcomeMessages.Decode(message.Value, decoded, errors);
            foreach (var record in message.Records)
            {
                // Co-partitioning: the partition a prediction of the same prediction_id gets.
                Assert.Equal(PredictionPartitioner.PartitionOf(outcomes[record].PredictionId, 12), message.Partition);
            }
        }
        Assert.Empty(errors);
        Assert.Equal(outcomes.OrderBy(o => o.PredictionId, StringComparer.Ordinal), decoded.OrderBy(o => o.PredictionId, StringComparer.Ordinal));

        var broken = new List<string>();
        Assert.Equal(2, OutcomeMessages.Decode("{\"v\":2,\"prediction_id\":\"a\"}\nnot json"u8, decoded, broken));
        Assert.Equal(2, broken.Count);
    }
}
