using System.Text;
using ModelMonitor.Core.Contracts;
using ModelMonitor.Core.Ingestion;
using ModelMonitor.Core.Security;

namespace ModelMonitor.Core.Tests.Security;

/// <summary>A key limited to predictor patterns: a record of another predictor is rejected on its own, the rest proceed.</summary>
public sealed class ForbiddenRecordsTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 7, 12, 0, 0, TimeSpan.Zero);

    private static string Record(string predictor, string id) =>
        $$"""{"sent_at":"2026-12-07T11:59:00Z","prediction_id":"{{id}}","predictor_name":"{{predictor}}","model_id":"m","features":{"x":1},"prediction_result":1}""";

    [Fact]
    public void Predictions_of_predictors_outside_the_patterns_are_rejected_per_record()
    {
        var body = $"[{Record("eta_a", "1")},{Record("fraud", "2")},{Record("eta_b", "3")},{{\"bad\":1}}]";
        var batch = new PredictionBatchParser(new IngestionLimits()).Parse(Encoding.UTF8.GetBytes(body), BodyFormat.Json, Now,
            new PredictorPatterns(["eta_*"]), p => $"not for '{p}'");

        Assert.Equal(["1", "3"], batch.Accepted.Select(l => l.PredictionId));
        Assert.Equal([0, 2], batch.AcceptedIndexes);
        Assert.Equal(2, batch.RejectedCount);
        Assert.Equal(1, batch.RejectedFor(RejectReason.ForbiddenPredictor));
        var forbidden = Assert.Single(batch.Errors, e => e.Reason == RejectReason.ForbiddenPredictor);
        Assert.Equal(1, forbidden.Index);
        Assert.Equal("predictor_name", forbidden.Field);
        Assert.Equal("not for 'fraud'", forbidden.Message);
        Assert.Equal("forbidden_predictor", RejectReason.ForbiddenPredictor.ToLabel());
        // An invalid record is rejected for what is wrong with it, not for its predictor.
        Assert.Contains(batch.Errors, e => e.Index == 3 && e.Reason != RejectReason.ForbiddenPredictor);
    }

    [Fact]
    public void Outcomes_of_predictors_outside_the_patterns_are_rejected_per_record()
    {
        var body = """
            {"prediction_id":"1","predictor_name":"eta_a","actual":3.5,"observed_at":"2026-12-07T11:59:00Z"}
            {"prediction_id":"2","predictor_name":"fraud","actual":1,"observed_at":"2026-12-07T11:59:00Z"}
            """;
        var outcomes = new OutcomeBatchParser(IngestionLimits.Default, TimeSpan.FromDays(30)).Parse(Encoding.UTF8.GetBytes(body), BodyFormat.NdJson, Now,
            new PredictorPatterns(["eta_*"]));

        Assert.Equal(["1"], outcomes.Accepted.Select(o => o.PredictionId));
        var error = Assert.Single(outcomes.Errors);
        Assert.Equal((1, RejectReason.ForbiddenPredictor), (error.Index, error.Reason));
        Assert.Contains("'fraud'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Every_predictor_is_allowed_without_patterns_or_with_star()
    {
        var body = Encoding.UTF8.GetBytes($"[{Record("eta_a", "1")},{Record("fraud", "2")}]");
        var parser = new PredictionBatchParser(new IngestionLimits());
        Assert.Equal(2, parser.Parse(body, BodyFormat.Json, Now).Accepted.Count);
        Assert.Equal(2, parser.Parse(body, BodyFormat.Json, Now, PredictorPatterns.Any).Accepted.Count);
    }
}
