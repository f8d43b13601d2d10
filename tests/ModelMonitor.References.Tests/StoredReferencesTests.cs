using Dapper;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using ModelMonitor.Core.Aggregation;
using ModelMonitor.Core.Contracts;
using ModelMonitor.Core.Drift;
using ModelMonitor.Core.References;
using ModelMonitor.Core.Windows;
using ModelMonitor.References.Production;
using ModelMonitor.Storage;
using ModelMonitor.Storage.References;
using ModelMonitor.Storage.Statistics;
using ModelMonitor.Testing.Postgres;

namespace ModelMonitor.References.Tests;

/// <summary>
/// Pinned and production references built from windows the aggregator's own store wrote (StatisticsStore, on the private
/// Postgres): their counts and moments equal those of the raw records, and each window size gets thresholds from its
/// windows in the period.
/// </summary>
public sealed class StoredReferencesTests(PostgresDatabaseFixture database) : IClassFixture<PostgresDatabaseFixture>
{
    private static readonly DateTimeOffset Hour0 = FloorHour(DateTimeOffset.UtcNow.AddDays(-1).AddHours(-11));

    private static DateTimeOffset FloorHour(DateTimeOffset t) => DateTimeOffset.FromUnixTimeSeconds(t.ToUnixTimeSeconds() / 3600 * 3600);

    /// <summary>Ten hours of one record a minute for (pred, model), written through the aggregator's store in 5m and 1h windows.</summary>
    private async Task<List<double>> WriteTenHoursAsync(string predictor, string model)
    {
        await database.MigrateAsync();
        var random = new Random(predictor.Length);
        var values = new List<double>();
        var logs = new List<PredictionLog>();
        for (var minute = 0; minute < 600; minute++)
        {
            var x = 10 + (2 * ((random.NextDouble() * 2) - 1));
            values.Add(x);
            logs.Add(new PredictionLog(Hour0.AddMinutes(minute), $"{predictor}-{minute}", predictor, model,
                [new("x", FeatureValue.FromNumber(x)), new("market", FeatureValue.FromString(minute % 3 == 0 ? "lyon" : "paris"))], x * 2, []));
        }

        var store = new StatisticsStore(database.DataSource, 50);
        foreach (var seconds in new[] { 300, 3600 })
        {
            var delta = new AggregationDelta([new WindowSize(seconds)], 50);
            logs.ForEach(delta.Add);
            delta.Advance(0, 600, 600);
            var (outcome, _) = await store.FlushAsync($"group-{predictor}", "topic", [new WindowFlush(seconds, delta, new Dictionary<int, long>())], CancellationToken.None);
            Assert.Equal(FlushOutcome.Committed, outcome);
        }

        return values;
    }

    [Fact]
    public async Task A_pinned_period_merges_the_windows_that_tile_it_and_derives_thresholds_for_each_size()
    {
        var values = await WriteTenHoursAsync("pin_pred", "m1");
        var built = await new WindowReferenceBuilder(new StoredWindowReader(database.DataSource))
            .BuildAsync("pin_pred", "m1", Hour0, Hour0.AddHours(10), CancellationToken.None);

        Assert.NotNull(built);
        Assert.Equal(3600, built.MergedWindowSeconds); // the largest size whose boundaries the period falls on
        Assert.Equal(10, built.MergedWindows);
        Assert.Equal(600, built.Profile.RowCount);
        var x = built.Profile.Features["x"];
        Assert.Equal(600, x.Numeric.Count);
        Assert.Equal(values.Average(), x.Numeric.Moments.Mean, 9);
        Assert.Equal(values.Min(), x.Numeric.Moments.Min);
        Assert.Equal(200, built.Profile.Features["market"].Categories.Top().Single(c => c.Key == "lyon").Value);
        Assert.Equal(600, built.Profile.Prediction.Result.Count);
        // 1h: all 10 windows; 5m: 120 in the period, 48 of them spread over it.
        Assert.Equal(10, built.Thresholds.First(t => t.WindowSeconds == 3600 && t.Threshold.Feature == "x").Threshold.Windows);
        Assert.Equal(48, built.Thresholds.First(t => t.WindowSeconds == 300 && t.Threshold.Feature == "x").Threshold.Windows);
        Assert.All(built.Thresholds, t => Assert.True(t.Threshold.Threshold >= t.Threshold.Method.Floor()));

        // Half a period off the hour: the 5m windows inside it.
        var half = await new WindowReferenceBuilder(new StoredWindowReader(database.DataSource))
            .BuildAsync("pin_pred", "m1", Hour0.AddMinutes(30), Hour0.AddMinutes(90), CancellationToken.None);
        Assert.Equal((300, 12, 60L), (half!.MergedWindowSeconds, half.MergedWindows, half.Profile.RowCount));

        Assert.Null(await new WindowReferenceBuilder(new StoredWindowReader(database.DataSource))
            .BuildAsync("pin_pred", "m1", Hour0.AddDays(-3), Hour0.AddDays(-2), CancellationToken.None));
    }

    [Fact]
    public async Task The_production_reference_of_a_young_model_is_what_exists_and_is_rebuilt_only_when_due()
    {
        var values = await WriteTenHoursAsync("prod_pred", "m1");
        await using (var connection = await database.DataSource.OpenConnectionAsync())
        {
            // The models table as the aggregator keeps it (first and last seen).
            await connection.ExecuteAsync("UPDATE models SET first_seen = @first WHERE predictor_name = 'prod_pred'", new { first = Hour0.UtcDateTime });
        }

        var store = new ReferenceStore(database.DataSource);
        var settings = new ReferenceOptions();
        var worker = new ProductionReferenceWorker(null!, store, new StoredWindowReader(database.DataSource), Options.Create(settings),
            TimeProvider.System, NullLogger<ProductionReferenceWorker>.Instance);

        Assert.True(await worker.RunOnceAsync(settings, CancellationToken.None) >= 1);
        var listed = await store.ListAsync("prod_pred", "m1", CancellationToken.None);
        var production = Assert.Single(listed);
        Assert.Equal(("production", ReferenceKinds.Production, 600L), (production.Name, production.Kind, production.RowCount));
        Assert.Equal(Hour0, production.PeriodStart); // younger than 8 days: from its first hour
        var loaded = (await store.LoadAllAsync(CancellationToken.None)).Single(r => r.Key.PredictorName == "prod_pred");
        Assert.Equal(values.Average(), loaded.Profile.Features["x"].Numeric.Moments.Mean, 9);

        // Built a moment ago: not due again (a young model is rebuilt at most every check interval).
        Assert.Equal(0, await worker.RunOnceAsync(settings, CancellationToken.None));
    }

    [Fact]
    public async Task Concurrent_replacements_of_one_reference_all_succeed_and_leave_one_whole_reference()
    {
        await database.MigrateAsync();
        var store = new ReferenceStore(database.DataSource);
        var key = new ReferenceKey("race_pred", "m1", "training");
        var uploads = Enumerable.Range(1, 6).Select(rows => Task.Run(async () =>
        {
            var profile = new ReferenceProfile(ReferenceStore.CategoryCapacity);
            for (var i = 0; i < rows * 100; i++)
            {
                profile.Feature("x").Add(FeatureValue.FromNumber(i));
                profile.AddRow();
            }

            return await store.ReplaceAsync(key, ReferenceKinds.Uploaded, "text/csv", null, profile, [], CancellationToken.None);
        })).ToList();

        var summaries = await Task.WhenAll(uploads);
        Assert.Equal(6, summaries.Length);
        var stored = Assert.Single(await store.ListAsync("race_pred", "m1", CancellationToken.None));
        var loaded = (await store.LoadAllAsync(CancellationToken.None)).Single(r => r.Key == key);
        // Whichever committed last, its rows and its feature agree (never a mix of two uploads).
        Assert.Equal(stored.RowCount, loaded.Profile.Features["x"].ValueCount);
    }

    [Fact]
    public async Task A_reference_feature_without_numbers_stores_no_sketch_and_a_numeric_one_its_values()
    {
        // The statistics columns are reused from write to write and a row without values sends an empty sketch: every
        // statement storing them turns it into NULL, the reference's insert included.
        await database.MigrateAsync();
        var store = new ReferenceStore(database.DataSource);
        var key = new ReferenceKey("sketch_pred", "m1", "training");
        var profile = new ReferenceProfile(ReferenceStore.CategoryCapacity);
        for (var i = 0; i < 50; i++)
        {
            profile.Feature("market").Add(FeatureValue.FromString(i % 2 == 0 ? "lyon" : "paris"));
            profile.Feature("x").Add(FeatureValue.FromNumber(i));
            profile.AddRow();
        }

        await store.ReplaceAsync(key, ReferenceKinds.Uploaded, "text/csv", null, profile, [], CancellationToken.None);
        await using var connection = await database.DataSource.OpenConnectionAsync();
        var sketches = (await connection.QueryAsync<(string Feature, byte[]? Sketch)>(
            "SELECT f.feature, f.sketch FROM reference_features f JOIN reference_profiles r ON r.id = f.reference_id WHERE r.predictor_name = 'sketch_pred' AND f.subject = 'feature'"))
            .ToDictionary(r => r.Feature, r => r.Sketch);
        Assert.Null(sketches["market"]);
        Assert.Equal(50, Core.Statistics.DDSketch.Deserialize(sketches["x"]).Count);
    }

    [Theory]
    [InlineData(-30, false)] // first seen 30 days ago: the 7 days ending 1 day before now
    [InlineData(-3, true)]   // 3 days ago: the first half of its life (1.5 days)
    [InlineData(0, true)]    // 10 minutes ago: nothing yet (an empty period)
    public void The_production_period_is_the_trailing_week_or_what_a_young_model_has(int firstSeenDays, bool young)
    {
        var now = new DateTimeOffset(2026, 12, 2, 15, 20, 0, TimeSpan.Zero);
        var firstSeen = now.AddDays(firstSeenDays).AddMinutes(-10);
        var (from, to, isYoung) = ProductionPeriod.Of(firstSeen, now, TimeSpan.FromDays(7), TimeSpan.FromDays(1));
        Assert.Equal(young, isYoung);
        var end = new DateTimeOffset(2026, 12, 1, 15, 0, 0, TimeSpan.Zero);
        switch (firstSeenDays)
        {
            case -30:
                Assert.Equal((end.AddDays(-7), end), (from, to));
                break;
            case -3:
                // First seen 2026-11-29 15:10: from 15:00, to the hour of 15:10 + 1.5 days + 5 minutes.
                Assert.Equal((new DateTimeOffset(2026, 11, 29, 15, 0, 0, TimeSpan.Zero), new DateTimeOffset(2026, 12, 1, 3, 0, 0, TimeSpan.Zero)), (from, to));
                break;
            default:
                Assert.Equal((new DateTimeOffset(2026, 12, 2, 15, 0, 0, TimeSpan.Zero), new DateTimeOffset(2026, 12, 2, 15, 0, 0, TimeSpan.Zero)), (from, to));
                break;
        }

        Assert.True(ProductionPeriod.Due(null, young, now, TimeSpan.FromDays(1), TimeSpan.FromHours(1)));
        Assert.Equal(young, ProductionPeriod.Due(now.AddHours(-2), young, now, TimeSpan.FromDays(1), TimeSpan.FromHours(1)));
    }
}
