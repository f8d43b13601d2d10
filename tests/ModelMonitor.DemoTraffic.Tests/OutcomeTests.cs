using System.Globalization;
using System.Text.Json;
using ModelMonitor.Core.Contracts;
using ModelMonitor.Core.Ingestion;
using ModelMonitor.DemoTraffic.Running;
using ModelMonitor.DemoTraffic.Scenarios;
using ModelMonitor.DemoTraffic.Sending;

namespace ModelMonitor.DemoTraffic.Tests;

public sealed class OutcomeTests
{
    // Designed: eta_v12 is off by a factor e^(0.15·z): MAE ≈ 12% of the mean ETA (~5 minutes of ~42); the quality drop
    // adds 40% in 54% of orders, which raises eta_v12's MAE ~2.3 times.
    private const double DesignedRelativeMae = 0.12;
    private const double DesignedQualityDropFactor = 2.3;

    [Fact]
    public async Task Backfilled_predictions_get_outcomes_at_v1_outcomes_with_the_contract_shape_coverage_and_error_designed()
    {
        await using var api = await FakeIngestionApi.StartAsync((_, ids) => Accept(ids));
        var started = DateTimeOffset.UtcNow;
        var (summary, output) = await RunAsync(new TrafficRunOptions
        {
            Url = api.Url,
            RunId = "bf",
            Rate = 20,
            Duration = TimeSpan.FromSeconds(3),
            Incidents = IncidentSchedule.None,
            BackfillHours = 1,
            BackfillPerHour = 3000,
            JsonSummary = true,
        });

        var predictions = Index(api.Predictions());
        var outcomes = api.OutcomeRequests.SelectMany(r => r.Records.Select(o => (Request: r, Outcome: o))).ToList();
        Assert.NotEmpty(outcomes);
        foreach (var (request, outcome) in outcomes)
        {
            Assert.Equal(["prediction_id", "predictor_name", "actual", "observed_at"], outcome.EnumerateObject().Select(p => p.Name));
            var predictor = outcome.GetProperty("predictor_name").GetString()!;
            var actual = outcome.GetProperty("actual").ValueKind;
            Assert.True(predictor == DemoScenarios.EtaPredictor ? actual == JsonValueKind.Number : predictor == DemoScenarios.FraudPredictor && actual is JsonValueKind.True or JsonValueKind.False, $"{predictor}: {actual}");
            var primary = predictor == DemoScenarios.EtaPredictor ? DemoScenarios.EtaPrimaryModel : DemoScenarios.FraudModel;
            var prediction = predictions[(outcome.GetProperty("prediction_id").GetString()!, primary)];
            var observedAt = Time(outcome.GetProperty("observed_at"));
            Assert.InRange(observedAt, prediction.SentAt, request.At);
        }

        // Coverage and error over the predictions of the backfill (older than the run); each has one outcome at most.
        var actuals = outcomes.ToDictionary(o => (o.Outcome.GetProperty("predictor_name").GetString()!, o.Outcome.GetProperty("prediction_id").GetString()!), o => o.Outcome);
        var backfilled = predictions.Values.Where(p => p.SentAt < started - TimeSpan.FromSeconds(5)).ToList();
        double Coverage(string model) =>
            backfilled.Where(p => p.Model == model).Average(p => actuals.ContainsKey((p.Predictor, p.Id)) ? 1.0 : 0.0);
        Assert.InRange(Coverage(DemoScenarios.EtaPrimaryModel), 0.93, 0.97);
        Assert.InRange(Coverage(DemoScenarios.FraudModel), 0.36, 0.44);
        Assert.DoesNotContain(actuals.Keys, k => k.Item1 == DemoScenarios.PrepTimePredictor);

        double RelativeMae(string model)
        {
            var labelled = backfilled.Where(p => p.Model == model && actuals.ContainsKey((p.Predictor, p.Id))).ToList();
            return labelled.Average(p => Math.Abs(p.Result - actuals[(p.Predictor, p.Id)].GetProperty("actual").GetDouble())) / labelled.Average(p => p.Result);
        }

        Assert.InRange(RelativeMae(DemoScenarios.EtaPrimaryModel), DesignedRelativeMae * 0.9, DesignedRelativeMae * 1.1);
        Assert.InRange(RelativeMae(DemoScenarios.EtaShadowModel), DesignedRelativeMae * 0.9, DesignedRelativeMae * 1.15);

        var fraud = backfilled.Where(p => p.Model == DemoScenarios.FraudModel && actuals.ContainsKey((p.Predictor, p.Id)))
            .Select(p => (Score: p.Result, Fraud: actuals[(p.Predictor, p.Id)].GetProperty("actual").GetBoolean())).ToList();
        Assert.InRange(fraud.Average(f => f.Fraud ? 1.0 : 0.0), 0.015, 0.06);
        Assert.InRange(RocAuc(fraud), 0.8, 0.94);

        // Label delays as designed, up to the cap at the start of the backfill.
        foreach (var (_, outcome) in outcomes)
        {
            var predictor = outcome.GetProperty("predictor_name").GetString()!;
            var primary = predictor == DemoScenarios.EtaPredictor ? DemoScenarios.EtaPrimaryModel : DemoScenarios.FraudModel;
            var prediction = predictions[(outcome.GetProperty("prediction_id").GetString()!, primary)];
            if (prediction.SentAt < started - TimeSpan.FromMinutes(4))
            {
                var delay = Time(outcome.GetProperty("observed_at")) - prediction.SentAt;
                Assert.InRange(delay.TotalSeconds, predictor == DemoScenarios.EtaPredictor ? 29.99 : 119.99, predictor == DemoScenarios.EtaPredictor ? 90 : 180);
            }
        }

        Assert.Equal(outcomes.Count, summary.Outcomes.Sent);
        Assert.Equal(outcomes.Count, summary.Outcomes.Accepted);
        Assert.Contains($" outcomes_accepted={outcomes.Count} ", output, StringComparison.Ordinal);
        using var json = JsonDocument.Parse(output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Last());
        Assert.Equal(outcomes.Count, json.RootElement.GetProperty("outcomes").GetProperty("accepted").GetInt64());
    }

    [Fact]
    public async Task Live_outcomes_follow_their_predictions_and_the_quality_drop_doubles_eta_v12s_error_but_not_the_shadows()
    {
        await using var api = await FakeIngestionApi.StartAsync((_, ids) => Accept(ids));
        var dropAt = TimeSpan.FromSeconds(2);
        await RunAsync(new TrafficRunOptions
        {
            Url = api.Url,
            RunId = "lv",
            Rate = 2000,
            Duration = TimeSpan.FromSeconds(5),
            Incidents = IncidentSchedule.None with { QualityDropAt = dropAt },
            LabelDelayScale = 0.02, // ETA outcomes 0.6-1.8 s after their prediction, fraud 2.4-3.6 s
        });

        var predictions = Index(api.Predictions());
        var start = predictions.Values.Min(p => p.SentAt);
        var pairs = new List<(string Model, TimeSpan Elapsed, double Error)>();
        foreach (var request in api.OutcomeRequests)
        {
            foreach (var outcome in request.Records)
            {
                var id = outcome.GetProperty("prediction_id").GetString()!;
                var observedAt = Time(outcome.GetProperty("observed_at"));
                Assert.True(observedAt <= request.At, $"observed_at {observedAt:O} after its receipt {request.At:O}");
                if (outcome.GetProperty("predictor_name").GetString() == DemoScenarios.FraudPredictor)
                {
                    Assert.True(outcome.GetProperty("actual").ValueKind is JsonValueKind.True or JsonValueKind.False);
                    Assert.True(observedAt >= predictions[(id, DemoScenarios.FraudModel)].SentAt);
                    continue;
                }

                var actual = outcome.GetProperty("actual").GetDouble();
                foreach (var model in new[] { DemoScenarios.EtaPrimaryModel, DemoScenarios.EtaShadowModel })
                {
                    var prediction = predictions[(id, model)];
                    Assert.True(observedAt >= prediction.SentAt);
                    pairs.Add((model, prediction.SentAt - start, Math.Abs(prediction.Result - actual)));
                }
            }
        }

        double Ratio(string model)
        {
            var before = pairs.Where(p => p.Model == model && p.Elapsed < dropAt - TimeSpan.FromMilliseconds(200)).ToList();
            var after = pairs.Where(p => p.Model == model && p.Elapsed > dropAt + TimeSpan.FromMilliseconds(200)).ToList();
            Assert.True(before.Count > 200 && after.Count > 200, $"{model}: {before.Count} pairs before the drop, {after.Count} after");
            return after.Average(p => p.Error) / before.Average(p => p.Error);
        }

        Assert.InRange(Ratio(DemoScenarios.EtaPrimaryModel), DesignedQualityDropFactor * 0.8, DesignedQualityDropFactor * 1.2);
        Assert.InRange(Ratio(DemoScenarios.EtaShadowModel), 0.8, 1.2);
    }

    [Fact]
    public void The_quality_drop_raises_eta_v12s_MAE_by_the_designed_factor_even_with_the_shift_and_leaves_the_shadows_alone()
    {
        // The same records (same seed and time) without and with the incident.
        var drop = IncidentSchedule.None with { QualityDropAt = TimeSpan.FromMinutes(1) };
        var before = EtaMae(IncidentSchedule.None, TimeSpan.FromMinutes(1));
        var after = EtaMae(drop, TimeSpan.FromMinutes(1));
        var withShift = EtaMae(drop with { ShiftAt = TimeSpan.Zero }, TimeSpan.FromMinutes(1));

        Assert.InRange(before.Primary / before.MeanEta, DesignedRelativeMae * 0.95, DesignedRelativeMae * 1.05);
        Assert.InRange(after.Primary / before.Primary, DesignedQualityDropFactor * 0.95, DesignedQualityDropFactor * 1.05);
        Assert.Equal(before.Shadow, after.Shadow, 0.01);
        // The shift (eta_v12 × 1.4) does not undo it: the shortage hits only some markets.
        Assert.True(withShift.Primary / before.Primary > 1.8, $"MAE x{withShift.Primary / before.Primary:0.00} with the shift");
    }

    [Fact]
    public void Outcomes_are_deterministic_with_the_seed_and_cover_the_designed_share_of_predictions()
    {
        var records = RecordSamples.Live(20_000);
        var first = Outcomes(records, seed: 5);
        var other = Outcomes(records, seed: 6);

        Assert.Equal(first, Outcomes(records, seed: 5));
        Assert.NotEqual(first, other);
        // One outcome per prediction at most, so the share of a predictor's outcomes among its primary records is its coverage.
        double Coverage(string predictor, string primary) =>
            first.Count(o => o.PredictorName == predictor) / (double)records.Count(r => r.ModelId == primary);
        Assert.Equal(first.Count, first.DistinctBy(o => o.PredictionId).Count());
        Assert.InRange(Coverage(DemoScenarios.EtaPredictor, DemoScenarios.EtaPrimaryModel), OutcomeGenerator.EtaCoverage - 0.01, OutcomeGenerator.EtaCoverage + 0.01);
        Assert.InRange(Coverage(DemoScenarios.FraudPredictor, DemoScenarios.FraudModel), OutcomeGenerator.FraudCoverage - 0.02, OutcomeGenerator.FraudCoverage + 0.02);
        Assert.DoesNotContain(first, o => o.PredictorName == DemoScenarios.PrepTimePredictor);
        Assert.All(first.Where(o => o.PredictorName == DemoScenarios.FraudPredictor), o => Assert.Equal(ActualKind.Boolean, o.Actual.Kind));
        Assert.All(first.Where(o => o.PredictorName == DemoScenarios.EtaPredictor), o => Assert.Equal(ActualKind.Number, o.Actual.Kind));
    }

    [Fact]
    public async Task No_outcomes_sends_none()
    {
        await using var api = await FakeIngestionApi.StartAsync((_, ids) => Accept(ids));
        var (summary, _) = await RunAsync(new TrafficRunOptions
        {
            Url = api.Url,
            RunId = "no",
            Rate = 500,
            Duration = TimeSpan.FromSeconds(2),
            BackfillHours = 1,
            BackfillPerHour = 200,
            Outcomes = false,
        });

        Assert.NotEmpty(api.Requests);
        Assert.Empty(api.OutcomeRequests);
        Assert.Equal(default, summary.Outcomes);
    }

    [Fact]
    public void The_backlog_hands_out_due_outcomes_earliest_first_and_drops_what_does_not_fit()
    {
        var backlog = new OutcomeBacklog(capacity: 3);
        var t = RecordSamples.Now;
        Outcome At(string id, int seconds) => new(DemoScenarios.EtaPredictor, id, ActualValue.Of(1.0), t.AddSeconds(seconds));

        Assert.True(backlog.TryAdd(At("c", 30)));
        Assert.True(backlog.TryAdd(At("a", 10)));
        Assert.True(backlog.TryAdd(At("b", 20)));
        Assert.False(backlog.TryAdd(At("d", 5)));

        Assert.Equal(1, backlog.Dropped);
        Assert.Empty(backlog.TakeDue(t.AddSeconds(9), 10));
        Assert.Equal(["a", "b"], backlog.TakeDue(t.AddSeconds(30), 2).Select(o => o.PredictionId));
        Assert.Equal(["c"], backlog.TakeDue(t.AddSeconds(30), 2).Select(o => o.PredictionId));
        Assert.Equal(0, backlog.Count);
    }

    [Fact]
    public void The_wire_form_of_an_outcome_has_the_contract_fields()
    {
        Outcome[] outcomes =
        [
            new(DemoScenarios.EtaPredictor, "delivery-1", ActualValue.Of(23.5), RecordSamples.Now),
            new(DemoScenarios.FraudPredictor, "order-2", ActualValue.Of(true), RecordSamples.Now),
        ];

        var lines = System.Text.Encoding.UTF8.GetString(OutcomePayloadWriter.ToBytes(outcomes, PayloadFormat.Ndjson)).Split('\n', StringSplitOptions.RemoveEmptyEntries);

        Assert.Equal(
            [
                """{"prediction_id":"delivery-1","predictor_name":"eta_prediction","actual":23.5,"observed_at":"2026-11-22T03:04:05.123Z"}""",
                """{"prediction_id":"order-2","predictor_name":"fraud_score","actual":true,"observed_at":"2026-11-22T03:04:05.123Z"}""",
            ],
            lines);
    }

    [Theory]
    [InlineData(PayloadFormat.Json, BodyFormat.Json)]
    [InlineData(PayloadFormat.Ndjson, BodyFormat.NdJson)]
    public void The_apis_own_parser_accepts_every_generated_outcome_as_generated(PayloadFormat format, BodyFormat bodyFormat)
    {
        var outcomes = Outcomes(RecordSamples.Live(3000), seed: 8);
        var body = OutcomePayloadWriter.ToBytes(outcomes, format);

        var parsed = new OutcomeBatchParser(IngestionLimits.Default, TimeSpan.FromDays(30)).Parse(body, bodyFormat, RecordSamples.Now.AddMinutes(5));

        Assert.Empty(parsed.Errors);
        Assert.Null(parsed.MalformedMessage);
        Assert.Equal(outcomes.Count, parsed.Accepted.Count);
        for (var i = 0; i < outcomes.Count; i++)
        {
            Assert.Equal(outcomes[i] with { ObservedAt = default }, parsed.Accepted[i] with { ObservedAt = default });
            Assert.Equal(outcomes[i].ObservedAt.ToUnixTimeMilliseconds(), parsed.Accepted[i].ObservedAt.ToUnixTimeMilliseconds());
        }
    }

    private static (double Primary, double Shadow, double MeanEta) EtaMae(IncidentSchedule incidents, TimeSpan elapsed)
    {
        var records = RecordSamples.Live(20_000, incidents: incidents, elapsed: elapsed);
        var actuals = Outcomes(records, seed: 3, incidents, elapsed).ToDictionary(o => o.PredictionId, o => o.Actual.Number);
        double Mae(string model) => records.Where(r => r.ModelId == model && actuals.ContainsKey(r.PredictionId))
            .Average(r => Math.Abs(r.PredictionResult - actuals[r.PredictionId]));
        return (Mae(DemoScenarios.EtaPrimaryModel), Mae(DemoScenarios.EtaShadowModel), records.Where(r => r.ModelId == DemoScenarios.EtaPrimaryModel).Average(r => r.PredictionResult));
    }

    private static List<Outcome> Outcomes(IEnumerable<PredictionLog> records, int seed, IncidentSchedule? incidents = null, TimeSpan? elapsed = null)
    {
        var generator = new OutcomeGenerator(seed, incidents ?? IncidentSchedule.None);
        return [.. records.Select(r => generator.Next(r, elapsed ?? TimeSpan.Zero)).OfType<Outcome>()];
    }

    private static async Task<(TrafficSummary Summary, string Output)> RunAsync(TrafficRunOptions options)
    {
        using var writer = new StringWriter(CultureInfo.InvariantCulture);
        using var output = TextWriter.Synchronized(writer);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var summary = await new TrafficRun(options with { StatusInterval = TimeSpan.FromSeconds(1) }, output).RunAsync(timeout.Token);
        return (summary, writer.ToString());
    }

    private static Microsoft.AspNetCore.Http.IResult Accept(IReadOnlyList<string> ids) =>
        Microsoft.AspNetCore.Http.Results.Json(new { accepted = ids.Count, rejected = 0, errors = Array.Empty<object>() }, statusCode: 202);

    private sealed record Prediction(string Predictor, string Id, string Model, DateTimeOffset SentAt, double Result);

    /// <summary>Predictions received, by (prediction_id, model_id).</summary>
    private static Dictionary<(string Id, string Model), Prediction> Index(IEnumerable<JsonElement> records) =>
        records.Select(r => new Prediction(
                r.GetProperty("predictor_name").GetString()!, r.GetProperty("prediction_id").GetString()!, r.GetProperty("model_id").GetString()!,
                Time(r.GetProperty("sent_at")), r.GetProperty("prediction_result").GetDouble()))
            .ToDictionary(p => (p.Id, p.Model));

    private static DateTimeOffset Time(JsonElement value) => DateTimeOffset.Parse(value.GetString()!, CultureInfo.InvariantCulture);

    /// <summary>ROC AUC as the Mann-Whitney statistic: the chance a fraud scores above a non-fraud (ties count half).</summary>
    private static double RocAuc(IReadOnlyList<(double Score, bool Fraud)> labelled)
    {
        var frauds = labelled.Where(l => l.Fraud).Select(l => l.Score).ToList();
        var others = labelled.Where(l => !l.Fraud).Select(l => l.Score).ToList();
        var wins = frauds.Sum(f => others.Sum(o => f > o ? 1.0 : f == o ? 0.5 : 0));
        return wins / ((double)frauds.Count * others.Count);
    }
}
