using System.Text;
using ModelMonitor.Core.Contracts;
using ModelMonitor.Core.Ingestion;

namespace ModelMonitor.Core.Tests.Ingestion;

public sealed class PredictionBatchParserTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 22, 12, 0, 0, TimeSpan.Zero);
    private static readonly PredictionBatchParser Parser = new(new IngestionLimits());

    private static string Record(string? sentAt = "2026-11-22T11:59:00Z", string features = """{"x":1}""",
        string result = "0.5", string extra = "", string predictor = "\"eta\"", string model = "\"eta_v1\"", string id = "\"id-1\"")
    {
        var fields = new List<string>();
        if (sentAt is not null)
        {
            fields.Add($"\"sent_at\":\"{sentAt}\"");
        }
        fields.Add($"\"prediction_id\":{id}");
        fields.Add($"\"predictor_name\":{predictor}");
        fields.Add($"\"model_id\":{model}");
        fields.Add($"\"features\":{features}");
        fields.Add($"\"prediction_result\":{result}");
        if (extra.Length > 0)
        {
            fields.Add(extra);
        }
        return "{" + string.Join(",", fields) + "}";
    }

    private static ParsedBatch Parse(string body, BodyFormat format = BodyFormat.Json) =>
        Parser.Parse(Encoding.UTF8.GetBytes(body), format, Now);

    private static RecordError SingleError(string body)
    {
        var batch = Parse(body);
        Assert.Null(batch.MalformedMessage);
        Assert.Empty(batch.Accepted);
        return Assert.Single(batch.Errors);
    }

    [Fact]
    public void A_single_object_is_one_accepted_record_with_every_field()
    {
        var batch = Parse(Record(features: """{"d":3.5,"m":"paris","b":false,"n":null}""", extra: "\"default_values_used\":[\"d\",\"d\"]"));

        var log = Assert.Single(batch.Accepted);
        Assert.Equal(new DateTimeOffset(2026, 11, 22, 11, 59, 0, TimeSpan.Zero), log.SentAt);
        Assert.Equal("id-1", log.PredictionId);
        Assert.Equal("eta", log.PredictorName);
        Assert.Equal("eta_v1", log.ModelId);
        Assert.Equal(0.5, log.PredictionResult);
        Assert.Equal(["d"], log.DefaultValuesUsed); // duplicates collapse
        Assert.Equal(["d", "m", "b", "n"], log.Features.Select(f => f.Key));
        Assert.Equal(FeatureValue.FromNumber(3.5), log.Features[0].Value);
        Assert.Equal(FeatureValue.FromString("paris"), log.Features[1].Value);
        Assert.Equal("false", log.Features[2].Value.CategoryLabel);
        Assert.True(log.Features[3].Value.IsNull);
    }

    [Fact]
    public void Bare_NaN_and_Infinity_tokens_are_read_as_non_finite_numbers()
    {
        var batch = Parse(Record(features: """{"a":NaN,"b":Infinity,"c":-Infinity,"s":"NaN","t":"x NaN Infinity"}""", result: "NaN"));

        var log = Assert.Single(batch.Accepted);
        Assert.True(double.IsNaN(log.PredictionResult));
        Assert.True(double.IsNaN(log.Features[0].Value.Number));
        Assert.Equal(double.PositiveInfinity, log.Features[1].Value.Number);
        Assert.Equal(double.NegativeInfinity, log.Features[2].Value.Number);
        // Inside strings the same words are categorical text, untouched.
        Assert.Equal(FeatureValue.FromString("NaN"), log.Features[3].Value);
        Assert.Equal(FeatureValue.FromString("x NaN Infinity"), log.Features[4].Value);
    }

    [Fact]
    public void Strings_with_escaped_quotes_do_not_confuse_the_NaN_pre_pass()
    {
        var batch = Parse(Record(features: """{"q":"say \"NaN\" \\","n":NaN}"""));

        var log = Assert.Single(batch.Accepted);
        Assert.Equal("say \"NaN\" \\", log.Features[0].Value.Text);
        Assert.True(double.IsNaN(log.Features[1].Value.Number));
    }

    [Fact]
    public void An_array_accepts_valid_records_and_rejects_invalid_ones_by_index()
    {
        var body = $"[{Record()},{Record(sentAt: null)},{Record(model: "\"\"")},{Record()}]";

        var batch = Parse(body);

        Assert.Equal(4, batch.RecordCount);
        Assert.Equal([0, 3], batch.AcceptedIndexes);
        Assert.Equal(2, batch.RejectedCount);
        Assert.Equal((1, "sent_at", RejectReason.MissingField), (batch.Errors[0].Index, batch.Errors[0].Field, batch.Errors[0].Reason));
        Assert.Equal((2, "model_id", RejectReason.Empty), (batch.Errors[1].Index, batch.Errors[1].Field, batch.Errors[1].Reason));
    }

    [Theory]
    [InlineData("\"sent_at\"", RejectReason.MissingField)]
    [InlineData("\"prediction_id\"", RejectReason.MissingField)]
    [InlineData("\"predictor_name\"", RejectReason.MissingField)]
    [InlineData("\"features\"", RejectReason.MissingField)]
    [InlineData("\"prediction_result\"", RejectReason.MissingField)]
    public void Every_required_field_is_required(string field, RejectReason reason)
    {
        var name = field.Trim('"');
        var body = Record().Replace(field + ":", "\"renamed_" + name + "\":", StringComparison.Ordinal);

        var error = SingleError(body);

        Assert.Equal(name, error.Field);
        Assert.Equal(reason, error.Reason);
        Assert.Contains("required", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("2026-11-22T11:59:00", RejectReason.InvalidTimestamp)] // no offset
    [InlineData("22/11/2026", RejectReason.InvalidTimestamp)]
    [InlineData("2026-11-22T12:06:00Z", RejectReason.TimestampInFuture)]
    [InlineData("2026-11-15T11:59:00Z", RejectReason.TimestampTooOld)]
    public void Timestamps_must_have_an_offset_and_lie_within_the_accepted_window(string sentAt, RejectReason reason)
    {
        var error = SingleError(Record(sentAt: sentAt));

        Assert.Equal("sent_at", error.Field);
        Assert.Equal(reason, error.Reason);
    }

    [Fact]
    public void Timestamps_with_an_offset_are_normalized_to_UTC()
    {
        var log = Assert.Single(Parse(Record(sentAt: "2026-11-22T13:30:00+02:00")).Accepted);

        Assert.Equal(new DateTimeOffset(2026, 11, 22, 11, 30, 0, TimeSpan.Zero), log.SentAt);
        Assert.Equal(TimeSpan.Zero, log.SentAt.Offset);
    }

    [Theory]
    [InlineData("""{"x":{"nested":1}}""", "features.x", RejectReason.NestedValue)]
    [InlineData("""{"x":[1,2]}""", "features.x", RejectReason.NestedValue)]
    [InlineData("""{"x":1,"x":2}""", "features.x", RejectReason.DuplicateField)]
    [InlineData("""{"":1}""", "features", RejectReason.Empty)]
    [InlineData("""{"x":1e999}""", "features.x", RejectReason.NumberOutOfRange)]
    [InlineData("""[1,2]""", "features", RejectReason.WrongType)]
    public void Feature_values_must_be_flat_scalars_within_range(string features, string field, RejectReason reason)
    {
        var error = SingleError(Record(features: features));

        Assert.Equal(field, error.Field);
        Assert.Equal(reason, error.Reason);
    }

    [Theory]
    [InlineData("\"1\"", RejectReason.WrongType)]
    [InlineData("null", RejectReason.WrongType)]
    [InlineData("-1e400", RejectReason.NumberOutOfRange)]
    public void The_prediction_result_must_be_a_number(string result, RejectReason reason)
    {
        var error = SingleError(Record(result: result));

        Assert.Equal("prediction_result", error.Field);
        Assert.Equal(reason, error.Reason);
    }

    [Fact]
    public void Names_are_limited_in_length_and_free_of_control_characters()
    {
        Assert.Equal(RejectReason.TooLong, SingleError(Record(predictor: $"\"{new string('p', 201)}\"")).Reason);
        Assert.Single(Parse(Record(predictor: $"\"{new string('p', 200)}\"")).Accepted);
        Assert.Equal(RejectReason.ControlCharacters, SingleError(Record(model: "\"m\\n1\"")).Reason);
        Assert.Equal(RejectReason.ControlCharacters, SingleError(Record(predictor: "\"p\\u0007\"")).Reason);
        Assert.Equal(RejectReason.TooLong, SingleError(Record(id: $"\"{new string('i', 257)}\"")).Reason);
        Assert.Equal(RejectReason.WrongType, SingleError(Record(id: "17")).Reason);
    }

    [Fact]
    public void Feature_names_may_hold_any_text_up_to_the_limit()
    {
        var log = Assert.Single(Parse(Record(features: """{"a \"quoted\"\\name\nwith newline":1}""")).Accepted);

        Assert.Equal("a \"quoted\"\\name\nwith newline", log.Features[0].Key);
        Assert.Equal(RejectReason.TooLong, SingleError(Record(features: $$"""{"{{new string('f', 201)}}":1}""")).Reason);
    }

    [Fact]
    public void More_features_than_the_limit_reject_the_record()
    {
        var features = "{" + string.Join(",", Enumerable.Range(0, 2001).Select(i => $"\"f{i}\":{i}")) + "}";

        var error = SingleError(Record(features: features));

        Assert.Equal(RejectReason.TooManyFeatures, error.Reason);
        Assert.Single(Parse(Record(features: "{" + string.Join(",", Enumerable.Range(0, 2000).Select(i => $"\"f{i}\":{i}")) + "}")).Accepted);
    }

    [Fact]
    public void A_huge_string_value_is_rejected_without_being_materialized()
    {
        var error = SingleError(Record(features: $$"""{"s":"{{new string('x', 5_000_000)}}"}"""));

        Assert.Equal(RejectReason.TooLong, error.Reason);
        Assert.Equal("features.s", error.Field);
    }

    [Fact]
    public void Default_values_used_must_be_an_array_of_names()
    {
        Assert.Equal(RejectReason.WrongType, SingleError(Record(extra: "\"default_values_used\":\"x\"")).Reason);
        Assert.Equal(RejectReason.WrongType, SingleError(Record(extra: "\"default_values_used\":[1]")).Reason);
        Assert.Empty(Assert.Single(Parse(Record(extra: "\"default_values_used\":null")).Accepted).DefaultValuesUsed);
    }

    [Fact]
    public void Unknown_fields_are_ignored_and_duplicate_known_fields_rejected()
    {
        Assert.Single(Parse(Record(extra: "\"trace\":{\"deep\":[1,2,3]}")).Accepted);
        Assert.Equal(RejectReason.DuplicateField, SingleError(Record(extra: "\"model_id\":\"again\"")).Reason);
    }

    [Theory]
    [InlineData("[{\"sent_at\": ", "line 1")]
    [InlineData("{\"a\":1} {\"b\":2}", "line 1")]
    [InlineData("[1,\n2,\n@]", "line 3, byte 1")]
    [InlineData("", "no prediction log")]
    [InlineData("[]", "no prediction log")]
    public void Malformed_JSON_is_rejected_whole_and_says_where(string body, string where)
    {
        var batch = Parse(body);

        Assert.NotNull(batch.MalformedMessage);
        Assert.Contains(where, batch.MalformedMessage, StringComparison.Ordinal);
        Assert.Empty(batch.Accepted);
    }

    [Fact]
    public void Deep_nesting_is_malformed_rather_than_a_stack_overflow()
    {
        var body = new string('[', 100_000) + new string(']', 100_000);

        Assert.Contains("depth", Parse(body).MalformedMessage, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void Invalid_UTF8_is_rejected_with_its_byte_offset()
    {
        var bytes = Encoding.UTF8.GetBytes(Record()).ToList();
        bytes.Insert(10, 0xC3); // a lead byte without its continuation
        bytes.Insert(11, 0x28);

        var batch = Parser.Parse(bytes.ToArray(), BodyFormat.Json, Now);

        Assert.Equal("the body is not valid UTF-8 (byte offset 10)", batch.MalformedMessage);
    }

    [Fact]
    public void More_records_than_the_limit_reject_the_request()
    {
        var parser = new PredictionBatchParser(new IngestionLimits { MaxRecordsPerRequest = 3 });
        var body = "[" + string.Join(",", Enumerable.Repeat(Record(), 4)) + "]";

        Assert.Equal(3, parser.Parse(Encoding.UTF8.GetBytes(body), BodyFormat.Json, Now).TooManyRecordsLimit);
        Assert.Equal(3, parser.Parse(Encoding.UTF8.GetBytes(body[..^1][..body.LastIndexOf(",{", StringComparison.Ordinal)] + "]"), BodyFormat.Json, Now).Accepted.Count);
    }

    [Fact]
    public void NDJSON_reads_one_record_per_line_and_skips_blank_lines()
    {
        var body = Record() + "\n\n" + Record(model: "\"\"") + "\r\n" + Record() + "\n";

        var batch = Parse(body, BodyFormat.NdJson);

        Assert.Equal(3, batch.RecordCount);
        Assert.Equal([0, 2], batch.AcceptedIndexes);
        Assert.Equal(1, Assert.Single(batch.Errors).Index);
    }

    [Fact]
    public void NDJSON_reports_the_line_of_a_malformed_record()
    {
        var body = Record() + "\n" + Record() + "\n{\"broken\":\n";

        var batch = Parse(body, BodyFormat.NdJson);

        Assert.StartsWith("malformed JSON at line 3", batch.MalformedMessage, StringComparison.Ordinal);
    }

    [Fact]
    public void NDJSON_lines_must_hold_single_objects()
    {
        Assert.NotNull(Parse("[" + Record() + "]\n", BodyFormat.NdJson).MalformedMessage);
    }

    [Fact]
    public void Errors_are_capped_but_every_rejection_is_counted_by_reason()
    {
        var parser = new PredictionBatchParser(new IngestionLimits { MaxErrorsReported = 2 });
        var body = "[" + string.Join(",", Enumerable.Repeat(Record(sentAt: "2000-01-01T00:00:00Z"), 5)) + "]";

        var batch = parser.Parse(Encoding.UTF8.GetBytes(body), BodyFormat.Json, Now);

        Assert.Equal(2, batch.Errors.Count);
        Assert.Equal(5, batch.RejectedCount);
        Assert.Equal(5, batch.RejectedFor(RejectReason.TimestampTooOld));
    }

    [Fact]
    public void Each_accepted_record_keeps_its_own_bytes_for_forwarding_in_arrays_and_NDJSON()
    {
        var first = Record(id: "\"a\"", features: """{ "x" : NaN, "m":"caf\u00e9" }""");
        var second = Record(id: "\"b\"", sentAt: "2026-11-22T13:30:00+02:00");
        var array = Parse($"[ {first} ,\n{Record(sentAt: null)},{second}]");
        var ndjson = Parse($"{first}\n\n{second}\n", BodyFormat.NdJson);

        foreach (var batch in new[] { array, ndjson })
        {
            Assert.Equal([first, second], batch.AcceptedJson.Select(j => Encoding.UTF8.GetString(j.Span)));
        }
    }

    [Theory]
    [InlineData("\"trace\":{\"deep\":[1,2,3]}")]
    [InlineData("\"v\":7")]
    [InlineData("\"default_values_used\":[]", true)]
    public void A_record_with_fields_outside_the_contract_or_padded_beyond_the_verbatim_size_is_accepted_but_not_kept_verbatim(string extra, bool padded = false)
    {
        var field = padded ? extra + new string(' ', PredictionBatchParser.MaxVerbatimBytes) : extra;
        var batch = Parse($"[{Record(extra: field)},{Record()}]");

        Assert.Equal(2, batch.Accepted.Count);
        Assert.True(batch.AcceptedJson[0].IsEmpty);
        Assert.Equal(Record(), Encoding.UTF8.GetString(batch.AcceptedJson[1].Span));
    }

    [Fact]
    public void Names_that_look_alike_are_distinct_features_and_a_repeat_is_found_wherever_it_is()
    {
        // Same length and end characters (the cheap fingerprint collides), different names: all accepted.
        var alike = Parse(Record(features: """{"a1z":1,"a2z":2,"a3z":3,"b":4,"a\u0031z_":5}"""));
        Assert.Equal(["a1z", "a2z", "a3z", "b", "a1z_"], Assert.Single(alike.Accepted).Features.Select(f => f.Key));

        // A repeat far from its first appearance, below and above the size where a hash set takes over, and
        // one spelled with an escape.
        foreach (var count in new[] { 20, 40 })
        {
            var names = Enumerable.Range(0, count).Select(i => $"\"f{i}\":{i}").ToList();
            Assert.Equal("features.f3", SingleError(Record(features: "{" + string.Join(",", names) + ",\"f3\":0}")).Field);
            Assert.Equal("features.f1", SingleError(Record(features: "{" + string.Join(",", names) + ",\"f\u0031\":0}")).Field);
        }
    }

    [Fact]
    public void The_API_parser_validates_forwarded_records_in_full_but_keeps_features_only_for_records_it_re_encodes()
    {
        var forwarding = new PredictionBatchParser(new IngestionLimits(), omitForwardedFeatures: true);
        var body = "[" + string.Join(",",
            Record(features: """{"x":1,"m":"paris"}"""),
            Record(features: """{"x":2}""", extra: "\"trace\":1"),
            Record(features: """{"x":1,"x":2}"""),
            Record(features: """{"x":1e999}"""),
            Record(features: """{"x":NaN,"s":{"nested":1}}""")) + "]";

        var batch = forwarding.Parse(Encoding.UTF8.GetBytes(body), BodyFormat.Json, Now);

        // The same verdicts as the full parser: feature rules still apply to forwarded records.
        var full = Parser.Parse(Encoding.UTF8.GetBytes(body), BodyFormat.Json, Now);
        Assert.Equal(full.AcceptedIndexes, batch.AcceptedIndexes);
        Assert.Equal(full.Errors, batch.Errors);
        Assert.Equal([0, 1], batch.AcceptedIndexes);
        Assert.Equal(["features.x", "features.x", "features.s"], batch.Errors.Select(e => e.Field));
        // Forwarded as sent, without features; re-encoded (extra field), with them.
        Assert.False(batch.AcceptedJson[0].IsEmpty);
        Assert.Empty(batch.Accepted[0].Features);
        Assert.True(batch.AcceptedJson[1].IsEmpty);
        Assert.Equal([new("x", FeatureValue.FromNumber(2))], batch.Accepted[1].Features);
        Assert.Equal(full.Accepted[1].Features, batch.Accepted[1].Features);
        Assert.Equal("id-1", batch.Accepted[0].PredictionId);
    }
}
