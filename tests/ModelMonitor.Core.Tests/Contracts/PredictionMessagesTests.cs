using System.Text;
using ModelMonitor.Core.Contracts;
using ModelMonitor.Core.Ingestion;

namespace ModelMonitor.Core.Tests.Contracts;

public sealed class PredictionMessagesTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 1, 10, 0, 0, TimeSpan.Zero);

    /// <summary>A parsed request of <paramref name="count"/> records; every third carries an extra field, so it is re-encoded.</summary>
    private static ParsedBatch Request(int count, int padding = 0)
    {
        var records = Enumerable.Range(0, count).Select(i =>
            $$"""{"sent_at":"2026-12-01T09:59:00Z","prediction_id":"p-{{i}}","predictor_name":"eta","model_id":"m1","features":{"x":{{i}},"s":"{{new string('a', padding)}}"},"prediction_result":1.5{{(i % 3 == 0 ? ",\"trace\":\"t\"" : "")}}}""");
        var batch = new PredictionBatchParser(new IngestionLimits()).Parse(
            Encoding.UTF8.GetBytes("[" + string.Join(",\n", records) + "]"), BodyFormat.Json, Now);
        Assert.Equal(count, batch.Accepted.Count);
        return batch;
    }

    private static List<PredictionLog> DecodeAll(PlannedMessage message)
    {
        var logs = new List<PredictionLog>();
        var errors = new List<string>();
        Assert.Equal(message.Records.Length, PredictionMessages.Decode(message.Value, logs, errors));
        Assert.Empty(errors);
        return logs;
    }

    [Fact]
    public void Each_partition_gets_its_records_in_request_order_and_every_record_is_sent_once()
    {
        var batch = Request(100);

        var plan = PredictionMessages.Plan(batch.Accepted, batch.AcceptedJson, partitionCount: 4, maxMessageBytes: 1_000_000);

        Assert.Empty(plan.TooLarge);
        Assert.Equal(4, plan.Messages.Count);
        Assert.Equal(4, plan.Messages.Select(m => m.Partition).Distinct().Count());
        Assert.Equal(Enumerable.Range(0, 100), plan.Messages.SelectMany(m => m.Records).Order());
        foreach (var message in plan.Messages)
        {
            Assert.Equal(message.Records.Order(), message.Records);
            var logs = DecodeAll(message);
            Assert.Equal(message.Records.Select(r => $"p-{r}"), logs.Select(l => l.PredictionId));
            Assert.All(logs, l => Assert.Equal(message.Partition, PredictionPartitioner.PartitionOf(l.PredictionId, 4)));
            Assert.Equal(message.Records.Select(r => (double)r), logs.Select(l => l.Features[0].Value.Number));
        }
    }

    [Fact]
    public void Records_are_lines_forwarded_as_sent_or_re_encoded_without_extra_fields()
    {
        var batch = Request(6);

        var plan = PredictionMessages.Plan(batch.Accepted, batch.AcceptedJson, partitionCount: 1, maxMessageBytes: 1_000_000);

        var lines = Encoding.UTF8.GetString(Assert.Single(plan.Messages).Value).Split('\n');
        Assert.Equal(6, lines.Length);
        for (var i = 0; i < 6; i++)
        {
            Assert.StartsWith("{\"v\":1,", lines[i], StringComparison.Ordinal);
            Assert.Equal(i % 3 == 0 ? PredictionLogCodec.Encode(batch.Accepted[i]) : PredictionLogCodec.EncodeVerbatim(batch.AcceptedJson[i].Span),
                Encoding.UTF8.GetBytes(lines[i]));
            Assert.DoesNotContain("trace", lines[i], StringComparison.Ordinal);
        }
    }

    [Fact]
    public void A_partition_whose_records_exceed_the_size_limit_is_split_into_several_messages()
    {
        var batch = Request(40, padding: 200);
        var oneRecord = PredictionLogCodec.ValueOf(batch.Accepted[1], batch.AcceptedJson[1]).Length;
        var limit = oneRecord * 3 + 10;

        var plan = PredictionMessages.Plan(batch.Accepted, batch.AcceptedJson, partitionCount: 2, maxMessageBytes: limit);

        Assert.True(plan.Messages.Count >= 14, $"{plan.Messages.Count} messages");
        Assert.All(plan.Messages, m => Assert.InRange(m.Value.Length, 1, limit));
        Assert.All(plan.Messages, m => Assert.InRange(m.Records.Length, 1, 3));
        Assert.Equal(Enumerable.Range(0, 40), plan.Messages.SelectMany(m => m.Records).Order());
        Assert.Equal(40, plan.Messages.Sum(m => DecodeAll(m).Count));
    }

    [Fact]
    public void A_record_larger_than_a_message_may_be_is_listed_with_its_size_and_the_others_are_sent()
    {
        var small = Request(3);
        var big = Request(1, padding: 1_000);
        var logs = small.Accepted.Append(big.Accepted[0]).ToList();
        var json = small.AcceptedJson.Append(big.AcceptedJson[0]).ToList();

        var plan = PredictionMessages.Plan(logs, json, partitionCount: 3, maxMessageBytes: 1_000);

        var (record, bytes) = Assert.Single(plan.TooLarge);
        Assert.Equal(3, record);
        Assert.Equal(PredictionLogCodec.ValueOf(big.Accepted[0], big.AcceptedJson[0]).Length, bytes);
        Assert.Equal([0, 1, 2], plan.Messages.SelectMany(m => m.Records).Order());
    }

    [Fact]
    public void Without_verbatim_JSON_every_record_is_encoded()
    {
        var batch = Request(5);

        var plan = PredictionMessages.Plan(batch.Accepted, verbatim: null, partitionCount: 1, maxMessageBytes: 1_000_000);

        Assert.Equal(string.Join('\n', batch.Accepted.Select(l => Encoding.UTF8.GetString(PredictionLogCodec.Encode(l)))),
            Encoding.UTF8.GetString(Assert.Single(plan.Messages).Value));
    }

    [Fact]
    public void Decoding_keeps_the_good_records_of_a_message_and_names_the_bad_ones()
    {
        var good = Encoding.UTF8.GetString(PredictionLogCodec.Encode(Request(1).Accepted[0]));
        var value = Encoding.UTF8.GetBytes($"{good}\nnot json\n{good}\n{{\"v\":9}}\n");
        var logs = new List<PredictionLog>();
        var errors = new List<string>();

        var records = PredictionMessages.Decode(value, logs, errors);

        Assert.Equal(4, records);
        Assert.Equal(2, logs.Count);
        Assert.Equal(2, errors.Count);
        Assert.StartsWith("record 1: malformed", errors[0], StringComparison.Ordinal);
        Assert.StartsWith("record 3: ", errors[1], StringComparison.Ordinal);
        Assert.Contains("version 9", errors[1], StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("", 1, 0)]
    [InlineData("\n\n", 1, 0)]
    [InlineData("   ", 1, 0)]
    public void An_empty_message_is_one_bad_record(string value, int records, int decoded)
    {
        var logs = new List<PredictionLog>();
        var errors = new List<string>();

        Assert.Equal(records, PredictionMessages.Decode(Encoding.UTF8.GetBytes(value), logs, errors));
        Assert.Equal(decoded, logs.Count);
        Assert.Equal("empty message", Assert.Single(errors));
    }

    [Fact]
    public void A_single_record_message_of_earlier_versions_still_decodes()
    {
        var logs = new List<PredictionLog>();
        var errors = new List<string>();

        Assert.Equal(1, PredictionMessages.Decode(PredictionLogCodec.Encode(Request(1).Accepted[0]), logs, errors));
        Assert.Equal("p-0", Assert.Single(logs).PredictionId);
        Assert.Empty(errors);
    }
}
