using System.Text.RegularExpressions;
using ModelMonitor.Core.Contracts;
using ModelMonitor.DemoTraffic.Scenarios;
using ModelMonitor.DemoTraffic.Sending;

namespace ModelMonitor.DemoTraffic.Tests;

public sealed partial class TrafficGeneratorTests
{
    [Fact]
    public void The_same_seed_gives_the_same_records()
    {
        var first = PredictionPayloadWriter.ToBytes(RecordSamples.Live(2000, seed: 11), PayloadFormat.Ndjson);
        var second = PredictionPayloadWriter.ToBytes(RecordSamples.Live(2000, seed: 11), PayloadFormat.Ndjson);
        var other = PredictionPayloadWriter.ToBytes(RecordSamples.Live(2000, seed: 12), PayloadFormat.Ndjson);

        Assert.Equal(first, second);
        Assert.NotEqual(first, other);
    }

    [Fact]
    public void Every_scenario_has_15_to_30_uniquely_named_features_and_valid_names()
    {
        Assert.Equal(3, DemoScenarios.All.Count);
        foreach (var scenario in DemoScenarios.All)
        {
            Assert.InRange(scenario.Features.Count, 15, 30);
            Assert.Equal(scenario.Features.Count, scenario.Features.Select(f => f.Name).Distinct().Count());
            Assert.All(scenario.Features, f => Assert.InRange(f.DefaultRate, 0, 0.03));
            Assert.Contains(scenario.Features, f => f.Name == "market");
            Assert.Contains(scenario.Features, f => f.Name == "platform");
        }
    }

    [Fact]
    public void Records_satisfy_the_api_contract()
    {
        var records = RecordSamples.Live(5000, incidents: new IncidentSchedule(TimeSpan.Zero, TimeSpan.Zero, TimeSpan.Zero, null));
        var scenarios = DemoScenarios.All.ToDictionary(s => s.PredictorName);

        Assert.Contains(records, r => r.PredictorName == DemoScenarios.EtaPredictor);
        Assert.Contains(records, r => r.PredictorName == DemoScenarios.FraudPredictor);
        Assert.Contains(records, r => r.PredictorName == DemoScenarios.PrepTimePredictor);
        foreach (var record in records)
        {
            Assert.Matches(SentAtFormat(), PredictionPayloadWriter.FormatSentAt(record.SentAt));
            Assert.InRange(record.PredictionId.Length, 1, 256);
            Assert.InRange(record.PredictorName.Length, 1, 200);
            Assert.InRange(record.ModelId.Length, 1, 200);
            Assert.Contains(record.ModelId, scenarios[record.PredictorName].ModelIds);
            Assert.Equal(record.Features.Count, record.Features.Select(f => f.Key).Distinct().Count());
            Assert.All(record.Features, f => Assert.InRange(f.Key.Length, 1, 200));
            Assert.All(record.Features, f => Assert.True(f.Value.IsNull || f.Value.Kind == FeatureValueKind.Number || f.Value.IsCategorical));
            Assert.True(double.IsFinite(record.PredictionResult));

            var specs = scenarios[record.PredictorName].Features.ToDictionary(f => f.Name);
            foreach (var name in record.DefaultValuesUsed)
            {
                // A default named in default_values_used is sent, with the feature's configured default value.
                var sent = RecordSamples.Feature(record, name);
                Assert.NotNull(sent);
                Assert.Equal(specs[name].Default, sent);
            }
        }
    }

    [Fact]
    public void The_wire_form_of_every_record_has_the_contract_fields_and_types()
    {
        var records = RecordSamples.Live(300);
        var lines = System.Text.Encoding.UTF8.GetString(PredictionPayloadWriter.ToBytes(records, PayloadFormat.Ndjson)).Split('\n', StringSplitOptions.RemoveEmptyEntries);

        Assert.Equal(records.Count, lines.Length);
        foreach (var line in lines)
        {
            using var document = System.Text.Json.JsonDocument.Parse(line);
            var root = document.RootElement;
            Assert.Matches(SentAtFormat(), root.GetProperty("sent_at").GetString()!);
            Assert.Equal(System.Text.Json.JsonValueKind.String, root.GetProperty("prediction_id").ValueKind);
            Assert.Equal(System.Text.Json.JsonValueKind.Number, root.GetProperty("prediction_result").ValueKind);
            Assert.Equal(System.Text.Json.JsonValueKind.Array, root.GetProperty("default_values_used").ValueKind);
            foreach (var feature in root.GetProperty("features").EnumerateObject())
            {
                Assert.Contains(feature.Value.ValueKind, new[]
                {
                    System.Text.Json.JsonValueKind.Number, System.Text.Json.JsonValueKind.String, System.Text.Json.JsonValueKind.True,
                    System.Text.Json.JsonValueKind.False, System.Text.Json.JsonValueKind.Null,
                });
            }
        }
    }

    [Fact]
    public void Default_and_missing_rates_are_within_tolerance_over_10k_records()
    {
        var records = RecordSamples.Live(10_000).Where(r => r.ModelId != DemoScenarios.EtaShadowModel).ToList();
        long featureSlots = 0, missing = 0;
        foreach (var scenario in DemoScenarios.All)
        {
            var mine = records.Where(r => r.PredictorName == scenario.PredictorName).ToList();
            Assert.True(mine.Count > 1500, $"{scenario.PredictorName} has only {mine.Count} records");
            foreach (var feature in scenario.Features)
            {
                var defaulted = mine.Count(r => r.DefaultValuesUsed.Contains(feature.Name)) / (double)mine.Count;

                // Binomial: sd = sqrt(p/n) <= 0.0045 here, so ±0.015 is over 3 sd.
                Assert.InRange(defaulted, feature.DefaultRate - 0.015, feature.DefaultRate + 0.015);
                if (feature.DefaultRate > 0)
                {
                    Assert.True(defaulted > 0, $"{feature.Name} never defaulted");
                }
            }

            featureSlots += (long)mine.Count * scenario.Features.Count;
            missing += mine.Sum(r => scenario.Features.Count - r.Features.Count + r.Features.Count(f => f.Value.IsNull));
        }

        var missingRate = missing / (double)featureSlots;
        Assert.InRange(missingRate, TrafficGenerator.DefaultMissingRate * 0.8, TrafficGenerator.DefaultMissingRate * 1.2);
    }

    [Fact]
    public void Default_stuck_incident_defaults_every_prep_time_record_from_its_offset_and_not_before()
    {
        var schedule = IncidentSchedule.None with { DefaultStuckAt = TimeSpan.FromSeconds(30) };
        var before = PrepTime(RecordSamples.Live(3000, incidents: schedule, elapsed: TimeSpan.FromSeconds(29.9)));
        var after = PrepTime(RecordSamples.Live(3000, incidents: schedule, elapsed: TimeSpan.FromSeconds(30)));

        Assert.InRange(before.Count(r => r.DefaultValuesUsed.Contains(DemoScenarios.StuckDefaultFeature)) / (double)before.Count, 0, 0.06);
        Assert.All(after, r => Assert.Contains(DemoScenarios.StuckDefaultFeature, r.DefaultValuesUsed));
        Assert.All(after, r => Assert.Equal(FeatureValue.FromNumber(15), RecordSamples.Feature(r, DemoScenarios.StuckDefaultFeature)));

        static List<PredictionLog> PrepTime(List<PredictionLog> records) => records.Where(r => r.ModelId == DemoScenarios.PrepTimeModel).ToList();
    }

    [Fact]
    public void Type_mismatch_incident_sends_a_tenth_of_the_fraud_models_account_age_as_text_from_its_offset_and_not_before()
    {
        var schedule = IncidentSchedule.None with { TypeMismatchAt = TimeSpan.FromMinutes(5) };
        var before = RecordSamples.Live(5000, incidents: schedule, elapsed: TimeSpan.FromSeconds(299.99));
        var after = RecordSamples.Live(5000, incidents: schedule, elapsed: TimeSpan.FromMinutes(5));

        bool AsText(PredictionLog r) => RecordSamples.Feature(r, DemoScenarios.TypeMismatchFeature) is { Kind: FeatureValueKind.Text };
        Assert.DoesNotContain(before, AsText);
        var fraud = after.Where(r => r.ModelId == DemoScenarios.FraudModel).ToList();
        var withValue = fraud.Where(r => RecordSamples.Feature(r, DemoScenarios.TypeMismatchFeature) is { IsNull: false }).ToList();
        Assert.InRange(withValue.Count(AsText) / (double)withValue.Count, 0.07, 0.13);
        // The text is the number as a caller would write it.
        Assert.All(withValue.Where(AsText), r => Assert.True(double.TryParse(RecordSamples.Feature(r, DemoScenarios.TypeMismatchFeature)!.Value.Text,
            System.Globalization.CultureInfo.InvariantCulture, out _)));
        Assert.DoesNotContain(after.Where(r => r.ModelId != DemoScenarios.FraudModel), AsText);
    }

    [Fact]
    public void NaN_incident_puts_NaN_in_about_a_fifth_of_fraud_records_from_its_offset_and_not_before()
    {
        var schedule = IncidentSchedule.None with { NaNAt = TimeSpan.FromMinutes(2) };
        var before = RecordSamples.Live(5000, incidents: schedule, elapsed: TimeSpan.FromSeconds(119.99));
        var after = RecordSamples.Live(5000, incidents: schedule, elapsed: TimeSpan.FromMinutes(2));

        Assert.DoesNotContain(before, r => r.Features.Any(f => f.Value.Kind == FeatureValueKind.Number && double.IsNaN(f.Value.Number)));
        var fraud = after.Where(r => r.ModelId == DemoScenarios.FraudModel).ToList();
        var nanShare = fraud.Count(r => RecordSamples.Feature(r, DemoScenarios.NaNFeature) is { Kind: FeatureValueKind.Number } v && double.IsNaN(v.Number)) / (double)fraud.Count;
        Assert.InRange(nanShare, 0.16, 0.24);
        Assert.DoesNotContain(after.Where(r => r.ModelId != DemoScenarios.FraudModel), r => r.Features.Any(f => f.Value.Kind == FeatureValueKind.Number && double.IsNaN(f.Value.Number)));
    }

    [Fact]
    public void Shift_incident_multiplies_eta_v12_results_by_1_4_from_its_offset_and_leaves_the_shadow_alone()
    {
        var shifted = IncidentSchedule.None with { ShiftAt = TimeSpan.FromMinutes(3) };
        var beforeShift = RecordSamples.Live(2000, incidents: shifted, elapsed: TimeSpan.FromSeconds(179.9));
        var baselineBefore = RecordSamples.Live(2000, elapsed: TimeSpan.FromSeconds(179.9));
        var afterShift = RecordSamples.Live(2000, incidents: shifted, elapsed: TimeSpan.FromMinutes(3));
        var baselineAfter = RecordSamples.Live(2000, elapsed: TimeSpan.FromMinutes(3));

        Assert.Equal(baselineBefore.Select(r => r.PredictionResult), beforeShift.Select(r => r.PredictionResult));
        for (var i = 0; i < afterShift.Count; i++)
        {
            var expected = afterShift[i].ModelId == DemoScenarios.EtaPrimaryModel
                ? baselineAfter[i].PredictionResult * IncidentSchedule.ShiftFactor
                : baselineAfter[i].PredictionResult;
            Assert.Equal(expected, afterShift[i].PredictionResult, 0.002);
        }
    }

    [Fact]
    public void Unit_change_incident_sends_eta_distances_in_metres_from_its_offset_and_not_before()
    {
        var schedule = IncidentSchedule.None with { UnitChangeAt = TimeSpan.FromMinutes(2) };
        var before = RecordSamples.Live(2000, incidents: schedule, elapsed: TimeSpan.FromSeconds(119.9));
        var baseline = RecordSamples.Live(2000, elapsed: TimeSpan.FromMinutes(2));
        var after = RecordSamples.Live(2000, incidents: schedule, elapsed: TimeSpan.FromMinutes(2));

        static double? Distance(PredictionLog r) =>
            RecordSamples.Feature(r, DemoScenarios.UnitChangeFeature) is { Kind: FeatureValueKind.Number } v ? v.Number : null;
        Assert.All(before.Where(r => r.PredictorName == DemoScenarios.EtaPredictor), r => Assert.True(Distance(r) is null or < 200));
        var changed = 0;
        for (var i = 0; i < after.Count; i++)
        {
            if (after[i].PredictorName == DemoScenarios.EtaPredictor && Distance(baseline[i]) is { } km && !baseline[i].DefaultValuesUsed.Contains(DemoScenarios.UnitChangeFeature))
            {
                Assert.Equal(Math.Round(km * IncidentSchedule.UnitFactor, 1), Distance(after[i]));
                changed++;
            }
        }

        Assert.True(changed > 500, $"{changed} ETA records in metres");
    }

    [Fact]
    public void Gradual_drift_incident_warms_eta_weather_by_2_degrees_a_minute_from_its_offset()
    {
        var schedule = IncidentSchedule.None with { GradualDriftAt = TimeSpan.FromMinutes(1) };
        Assert.Equal(0, schedule.GradualDriftOffset(TimeSpan.FromSeconds(59)));
        Assert.Equal(0, schedule.GradualDriftOffset(null));
        Assert.Equal(10, schedule.GradualDriftOffset(TimeSpan.FromMinutes(6)), 9);
        var baseline = RecordSamples.Live(2000, elapsed: TimeSpan.FromMinutes(6));
        var after = RecordSamples.Live(2000, incidents: schedule, elapsed: TimeSpan.FromMinutes(6));
        var warmed = 0;
        for (var i = 0; i < after.Count; i++)
        {
            if (after[i].PredictorName == DemoScenarios.EtaPredictor
                && RecordSamples.Feature(baseline[i], DemoScenarios.GradualDriftFeature) is { Kind: FeatureValueKind.Number } b
                && !baseline[i].DefaultValuesUsed.Contains(DemoScenarios.GradualDriftFeature))
            {
                Assert.Equal(Math.Round(b.Number + 10, 1), RecordSamples.Feature(after[i], DemoScenarios.GradualDriftFeature)!.Value.Number, 9);
                warmed++;
            }
        }

        Assert.True(warmed > 500, $"{warmed} ETA records warmed");
        Assert.DoesNotContain(after.Where(r => r.PredictorName != DemoScenarios.EtaPredictor), r => RecordSamples.Feature(r, DemoScenarios.GradualDriftFeature) is not null);
    }

    [Fact]
    public void The_training_reference_is_a_day_of_the_eta_primary_model_without_incidents()
    {
        var records = ModelMonitor.DemoTraffic.Running.TrainingReference.Generate(seed: 42);
        Assert.Equal(ModelMonitor.DemoTraffic.Running.TrainingReference.Records, records.Count);
        Assert.All(records, r => Assert.Equal(DemoScenarios.EtaPrimaryModel, r.ModelId));
        Assert.All(records, r => Assert.True(RecordSamples.Feature(r, DemoScenarios.UnitChangeFeature) is not { Kind: FeatureValueKind.Number } v || v.Number < 200));
        Assert.Equal(records.Select(r => r.PredictionResult), ModelMonitor.DemoTraffic.Running.TrainingReference.Generate(seed: 42).Select(r => r.PredictionResult));
    }

    [Fact]
    public void Silence_incident_stops_prep_time_from_its_offset_and_not_before()
    {
        var schedule = IncidentSchedule.None with { SilenceAt = TimeSpan.FromMinutes(4) };
        var before = RecordSamples.Live(1000, incidents: schedule, elapsed: TimeSpan.FromSeconds(239.9));
        var after = RecordSamples.Live(1000, incidents: schedule, elapsed: TimeSpan.FromMinutes(4));

        Assert.Contains(before, r => r.PredictorName == DemoScenarios.PrepTimePredictor);
        Assert.DoesNotContain(after, r => r.PredictorName == DemoScenarios.PrepTimePredictor);
        Assert.Contains(after, r => r.PredictorName == DemoScenarios.FraudPredictor);
    }

    [Fact]
    public void The_shadow_shares_prediction_id_and_features_with_its_primary()
    {
        var records = RecordSamples.Live(500);
        var shadows = 0;
        for (var i = 0; i < records.Count; i++)
        {
            if (records[i].ModelId != DemoScenarios.EtaShadowModel)
            {
                continue;
            }

            shadows++;
            var primary = records[i - 1];
            Assert.Equal(DemoScenarios.EtaPrimaryModel, primary.ModelId);
            Assert.Equal(primary.PredictionId, records[i].PredictionId);
            Assert.Equal(primary.SentAt, records[i].SentAt);
            Assert.Equal(primary.Features, records[i].Features);
            Assert.Equal(primary.DefaultValuesUsed, records[i].DefaultValuesUsed);
            Assert.InRange(records[i].PredictionResult / primary.PredictionResult, 0.8, 1.2);
        }

        Assert.True(shadows > 100);
        Assert.Contains(records.Where(r => r.ModelId == DemoScenarios.EtaShadowModel), r => r.PredictionResult != records.First(p => p.PredictionId == r.PredictionId).PredictionResult);
    }

    [Fact]
    public void Prediction_ids_are_unique_per_prediction_and_carry_the_run_id()
    {
        var records = RecordSamples.Live(3000, runId: "run7");

        Assert.All(records, r => Assert.Contains("-run7-", r.PredictionId, StringComparison.Ordinal));
        Assert.Equal(records.Count, records.Select(r => (r.PredictionId, r.ModelId)).Distinct().Count());
        Assert.Equal(records.Count(r => r.ModelId != DemoScenarios.EtaShadowModel), records.Select(r => r.PredictionId).Distinct().Count());
    }

    [Fact]
    public void Backfill_timestamps_lie_within_the_window_and_never_in_the_future()
    {
        var now = RecordSamples.Now;
        var plan = new BackfillPlan(hours: 5, predictionsPerHour: 40);
        var generator = new TrafficGenerator(3, "bf", IncidentSchedule.Default);
        var records = plan.Records(generator, now, seed: 3).ToList();

        Assert.Equal(plan.TotalRecords(DemoScenarios.All), records.Count);
        Assert.All(records, r => Assert.InRange(r.SentAt, now - TimeSpan.FromHours(5), now - TimeSpan.FromTicks(1)));
        Assert.Equal(records.OrderBy(r => r.SentAt).Select(r => r.SentAt), records.Select(r => r.SentAt));
        foreach (var model in DemoScenarios.All.SelectMany(s => s.ModelIds))
        {
            var perHour = records.Where(r => r.ModelId == model).GroupBy(r => (int)((now - r.SentAt).TotalHours)).ToList();
            Assert.Equal(5, perHour.Count);
            Assert.All(perHour, hour => Assert.Equal(40, hour.Count()));
        }

        // History has no incidents even with the default schedule.
        var prep = records.Where(r => r.ModelId == DemoScenarios.PrepTimeModel).ToList();
        Assert.InRange(prep.Count(r => r.DefaultValuesUsed.Contains(DemoScenarios.StuckDefaultFeature)) / (double)prep.Count, 0, 0.08);
        Assert.Throws<ArgumentOutOfRangeException>(() => new BackfillPlan(BackfillPlan.MaxHours + 1, 10));
    }

    [GeneratedRegex(@"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")]
    private static partial Regex SentAtFormat();
}
