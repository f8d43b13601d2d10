using System.Text;
using ModelMonitor.Core.Contracts;
using ModelMonitor.Core.Ingestion;

namespace ModelMonitor.Core.Tests.Ingestion;

/// <summary>The cases the fuzzer found, and their neighbours: every field × every JSON token type, unstorable text.</summary>
public sealed class HostileRecordTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 22, 12, 0, 0, TimeSpan.Zero);
    private static readonly PredictionBatchParser Parser = new(new IngestionLimits());

    private static readonly Dictionary<string, string> ValidValues = new()
    {
        ["sent_at"] = "\"2026-11-22T11:59:00Z\"",
        ["prediction_id"] = "\"id-1\"",
        ["predictor_name"] = "\"eta\"",
        ["model_id"] = "\"eta_v1\"",
        ["features"] = "{\"x\":1}",
        ["prediction_result"] = "0.5",
        ["default_values_used"] = "[\"x\"]",
    };

    private static readonly Dictionary<string, string> Tokens = new()
    {
        ["a string"] = "\"text\"",
        ["a number"] = "12",
        ["a boolean"] = "true",
        ["null"] = "null",
        ["an array"] = "[1,[2],{\"a\":3}]",
        ["an empty array"] = "[]",
        ["an object"] = "{\"a\":[1],\"b\":{}}",
    };

    /// <summary>Which token kinds each field accepts (a valid value of that kind exists).</summary>
    private static bool Accepts(string field, string token) => (field, token) switch
    {
        ("prediction_id" or "predictor_name" or "model_id", "a string") => true, // "text" is no timestamp
        ("prediction_result", "a number") => true,
        ("features", "an object") => false, // {"a":[1]} holds a nested value: rejected, but naming features.a
        ("default_values_used", "null" or "an empty array") => true,
        _ => false,
    };

    private static string Record(string field, string value) =>
        "{" + string.Join(",", ValidValues.Select(f => $"\"{f.Key}\":{(f.Key == field ? value : f.Value)}")) + "}";

    public static TheoryData<string, string> FieldsAndTokens()
    {
        var data = new TheoryData<string, string>();
        foreach (var field in ValidValues.Keys)
        {
            foreach (var token in Tokens.Keys)
            {
                data.Add(field, token);
            }
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(FieldsAndTokens))]
    public void Every_field_given_every_token_type_is_accepted_or_rejected_naming_the_field(string field, string token)
    {
        var record = Record(field, Tokens[token]);
        // The record alone, first in a batch, last in a batch, and as NDJSON: the reader must land on the next record.
        foreach (var (body, format, index, records) in new[]
        {
            (record, BodyFormat.Json, 0, 1),
            ($"[{record},{Record("", "")}]", BodyFormat.Json, 0, 2),
            ($"[{Record("", "")},{record}]", BodyFormat.Json, 1, 2),
            ($"{Record("", "")}\n{record}\n{Record("", "")}", BodyFormat.NdJson, 1, 3),
        })
        {
            var batch = Parser.Parse(Encoding.UTF8.GetBytes(body), format, Now);

            Assert.Null(batch.MalformedMessage);
            Assert.Equal(records, batch.RecordCount);
            if (Accepts(field, token))
            {
                Assert.Empty(batch.Errors);
                continue;
            }
            var error = Assert.Single(batch.Errors);
            Assert.Equal(index, error.Index);
            Assert.StartsWith(field, error.Field, StringComparison.Ordinal);
            // A nested value inside features or default_values_used is named by what is inside.
            if ((field, token) is ("sent_at", "a string"))
            {
                Assert.Equal(RejectReason.InvalidTimestamp, error.Reason);
            }
            else if ((field, token) is not ("features", "an object") and not ("default_values_used", "an array"))
            {
                Assert.Contains($"got {(token == "an empty array" ? "an array" : token)}", error.Message, StringComparison.Ordinal);
            }
        }
    }

    public static TheoryData<string, string, string> UnstorableTexts => new()
    {
        { "features", "{\"c\":\"a\\u0000b\"}", "features.c" },
        { "features", "{\"a\\u0000b\":1}", "features" },
        { "features", "{\"c\":\"\\ud800\"}", "features.c" },
        { "features", "{\"c\":\"x\\udc00y\"}", "features.c" },
        { "features", "{\"c\":\"\\ud800\\u0041\"}", "features.c" },
        { "features", "{\"c\":\"\\ud800\\ud800\\udc00\"}", "features.c" },
        { "features", "{\"\\udfff\":true}", "features" },
        { "prediction_id", "\"id\\u0000\"", "prediction_id" },
        { "prediction_id", "\"id\\ud83d\"", "prediction_id" },
        { "predictor_name", "\"p\\ud83d\"", "predictor_name" },
        { "model_id", "\"\\udc00m\"", "model_id" },
        { "default_values_used", "[\"x\\u0000\"]", "default_values_used" },
        { "default_values_used", "[\"\\ud800\"]", "default_values_used" },
    };

    [Theory]
    [MemberData(nameof(UnstorableTexts))]
    public void Text_Postgres_cannot_store_is_rejected_per_record_naming_the_field(string field, string value, string expectedField)
    {
        var batch = Parser.Parse(Encoding.UTF8.GetBytes($"[{Record(field, value)},{Record("", "")}]"), BodyFormat.Json, Now);

        Assert.Null(batch.MalformedMessage);
        Assert.Single(batch.Accepted);
        var error = Assert.Single(batch.Errors);
        Assert.Equal(expectedField, error.Field);
        Assert.Equal(RejectReason.UnstorableText, error.Reason);
        Assert.Matches("U\\+0000|unpaired UTF-16 surrogate", error.Message);
    }

    [Fact]
    public void Surrogate_pairs_and_other_escapes_are_ordinary_text()
    {
        var batch = Parser.Parse(Encoding.UTF8.GetBytes(Record("features", "{\"emoji\\ud83d\\ude00\":\"\\ud83d\\ude00 \\u00e9\\n\\t\\\"\",\"c\":\"\\u0001\"}")),
            BodyFormat.Json, Now);

        var log = Assert.Single(batch.Accepted);
        Assert.Equal("emoji😀", log.Features[0].Key);
        Assert.Equal(FeatureValue.FromString("😀 é\n\t\""), log.Features[0].Value);
    }

    [Fact]
    public void An_unknown_field_with_unstorable_text_is_ignored_like_any_unknown_field()
    {
        var record = Record("", "").Insert(1, "\"tr\\ud800ce\":\"\\u0000\",");

        var batch = Parser.Parse(Encoding.UTF8.GetBytes(record), BodyFormat.Json, Now);

        Assert.Single(batch.Accepted);
    }

    [Fact]
    public void Every_missing_field_is_named_at_once()
    {
        var batch = Parser.Parse("{\"prediction_id\":\"a\",\"features\":{}}"u8.ToArray(), BodyFormat.Json, Now);

        var error = Assert.Single(batch.Errors);
        Assert.Equal("sent_at, predictor_name, model_id, prediction_result", error.Field);
        Assert.Equal("are required", error.Message);
        Assert.Equal(RejectReason.MissingField, error.Reason);
    }

    [Fact]
    public void A_too_long_feature_name_is_shown_by_its_first_40_characters()
    {
        var name = "customer_" + new string('x', 300);

        var batch = Parser.Parse(Encoding.UTF8.GetBytes(Record("features", $"{{\"{name}\":1}}")), BodyFormat.Json, Now);

        var error = Assert.Single(batch.Errors);
        Assert.Equal("features", error.Field);
        Assert.Contains($"\"{name[..40]}…\"", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(name[..41], error.Message, StringComparison.Ordinal);
    }
}
