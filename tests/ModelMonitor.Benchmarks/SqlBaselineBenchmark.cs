using System.Diagnostics;
using System.Globalization;
using Dapper;
using ModelMonitor.Core.Contracts;
using ModelMonitor.Core.Statistics;
using ModelMonitor.Kafka;
using Npgsql;
using NpgsqlTypes;

namespace ModelMonitor.Benchmarks;

/// <summary>
/// Scenario 3: what users would otherwise build (DoorDash's first release): every prediction logged raw
/// into Postgres and an hour's statistics computed by SQL. Same records (one hour of event time), same
/// server, same run, two raw layouts:
/// - jsonb: one row per prediction with the features as a jsonb column: the natural logging table
///   (one INSERT per prediction as it arrives, any model, any feature, no schema change);
/// - long: one row per (prediction, feature) with a double column: the natural layout for the SQL
///   statistics (no jsonb expansion), at the cost of ~20 rows per prediction.
/// Ours: the same records through Kafka and the aggregator (window 1h only, as compared) into its tables.
/// Quantile error: our stored p05..p95 against the exact lower nearest rank v[floor(q(n-1))] computed
/// here from the same values (the sketch's promise: 1% relative), and against percentile_disc/cont.
/// </summary>
internal static class SqlBaselineBenchmark
{
    private const int Predictions = 60_000;
    private static readonly double[] Qs = [0.05, 0.25, 0.5, 0.75, 0.95];

    private const string StatsJsonb = """
        SELECT predictor_name, model_id, f.key AS feature, count(*) AS n, avg(f.value::text::float8) AS mean, stddev(f.value::text::float8) AS sd,
               percentile_cont(ARRAY[0.05,0.25,0.5,0.75,0.95]) WITHIN GROUP (ORDER BY f.value::text::float8) AS cont,
               percentile_disc(ARRAY[0.05,0.25,0.5,0.75,0.95]) WITHIN GROUP (ORDER BY f.value::text::float8) AS disc
        FROM raw_predictions p, jsonb_each(p.features) f
        WHERE p.sent_at >= @from AND p.sent_at < @to AND jsonb_typeof(f.value) = 'number'
        GROUP BY 1, 2, 3
        """;

    private const string StatsLong = """
        SELECT predictor_name, model_id, feature, count(*) AS n, avg(value) AS mean, stddev(value) AS sd,
               percentile_cont(ARRAY[0.05,0.25,0.5,0.75,0.95]) WITHIN GROUP (ORDER BY value) AS cont,
               percentile_disc(ARRAY[0.05,0.25,0.5,0.75,0.95]) WITHIN GROUP (ORDER BY value) AS disc
        FROM raw_prediction_features
        WHERE sent_at >= @from AND sent_at < @to AND value IS NOT NULL
        GROUP BY 1, 2, 3
        """;

    private const string StatsOurs = """
        SELECT * FROM feature_stats WHERE window_seconds = 3600 AND window_start = @from
        """;

    public static async Task RunAsync(BenchmarkContext context)
    {
        var hour = DateTimeOffset.UtcNow.AddHours(-2);
        var from = new DateTimeOffset(hour.Year, hour.Month, hour.Day, hour.Hour, 0, 0, TimeSpan.Zero);
        var to = from.AddHours(1);
        var records = Workload.Records(Predictions, i => from.AddMilliseconds(i * (3_600_000.0 / Predictions)));
        var database = await context.NewDatabaseAsync("sqlbaseline");
        await using var db = NpgsqlDataSource.Create(database);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"data: {Predictions:N0} predictions in the hour {from:yyyy-MM-dd HH:mm}Z, {records.Sum(r => r.Features.Count):N0} feature values; private Postgres 15 (fsync off, shared_buffers 32MB, work_mem default)"));

        // Ours first: the aggregator writes the same records (window 1h).
        var (aggregateSeconds, ourMemory) = await AggregateOursAsync(context, database, records);
        var load = await LoadRawAsync(db, records);

        var parameters = new { from = from.UtcDateTime, to = to.UtcDateTime };
        var timings = new Dictionary<string, List<double>> { ["jsonb"] = [], ["long"] = [], ["ours"] = [] };
        long tempBefore = await TempBytesAsync(db);
        IReadOnlyList<dynamic> jsonbRows = [], longRows = [];
        for (var run = 0; run < context.Options.Runs; run++)
        {
            await using var connection = await db.OpenConnectionAsync();
            var watch = Stopwatch.StartNew();
            jsonbRows = (await connection.QueryAsync(new CommandDefinition(StatsJsonb, parameters, commandTimeout: 600))).ToList();
            timings["jsonb"].Add(watch.Elapsed.TotalMilliseconds);
            watch.Restart();
            longRows = (await connection.QueryAsync(new CommandDefinition(StatsLong, parameters, commandTimeout: 600))).ToList();
            timings["long"].Add(watch.Elapsed.TotalMilliseconds);
            watch.Restart();
            var ours = (await connection.QueryAsync(StatsOurs, parameters)).ToList();
            timings["ours"].Add(watch.Elapsed.TotalMilliseconds);
        }
        var tempBytes = (await TempBytesAsync(db) - tempBefore) / context.Options.Runs;
        await using (var connection = await db.OpenConnectionAsync())
        {
            var size = (string t) => connection.ExecuteScalar<long>($"SELECT pg_total_relation_size('{t}')");
            var workMem = await connection.ExecuteScalarAsync<string>("SHOW work_mem");
            Console.WriteLine("approach                      hour's statistics (median ms)  disk (table+indexes)   memory");
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"raw jsonb rows + SQL          {Stats.Median(timings["jsonb"]),-30:F0} {size("raw_predictions") / 1048576.0,8:F1} MB          query sorts every value: work_mem {workMem} per sort, {tempBytes / 1048576.0:F1} MB spilled to temp files per run (both queries)"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"raw long rows + SQL           {Stats.Median(timings["long"]),-30:F0} {size("raw_prediction_features") / 1048576.0,8:F1} MB"));
            var ourSize = size("feature_window_stats") + size("model_window_stats") + size("models");
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"ModelMonitor (1h window)      {Stats.Median(timings["ours"]),-30:F1} {ourSize / 1048576.0,8:F2} MB          the hour's accumulators: {ourMemory / 1048576.0:F1} MB of .NET heap (measured in this process); statistics computed while consuming ({aggregateSeconds:F1} s for the hour through Kafka + aggregator)"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"raw load time (binary COPY, incl. index): jsonb {load.Jsonb:F1} s, long {load.Long:F1} s"));
            var ourRows = (await connection.QueryAsync("SELECT predictor_name, model_id, feature, numeric_count, p05, p25, p50, p75, p95 FROM feature_window_stats WHERE window_seconds = 3600 AND window_start = @from AND numeric_count > 0", parameters)).ToList();
            CompareQuantiles(records, ourRows, longRows);
        }
    }

    private static async Task<(double Seconds, long Memory)> AggregateOursAsync(BenchmarkContext context, string database, List<PredictionLog> records)
    {
        // Memory of the hour's state, as the aggregator holds it between flushes (model + feature accumulators).
        var before = GC.GetTotalMemory(forceFullCollection: true);
        var state = new Dictionary<(string, string), (ModelAccumulator, Dictionary<string, FeatureAccumulator>)>();
        foreach (var r in records)
        {
            if (!state.TryGetValue((r.PredictorName, r.ModelId), out var e))
            {
                state[(r.PredictorName, r.ModelId)] = e = (new ModelAccumulator(), new Dictionary<string, FeatureAccumulator>(StringComparer.Ordinal));
            }
            e.Item1.Add(r.PredictionResult);
            foreach (var (name, value) in r.Features)
            {
                if (!e.Item2.TryGetValue(name, out var f))
                {
                    e.Item2[name] = f = new FeatureAccumulator();
                }
                f.Add(value);
            }
        }
        var memory = GC.GetTotalMemory(forceFullCollection: true) - before;
        GC.KeepAlive(state);

        using var cluster = new MockKafkaCluster();
        var topic = $"bench.sql.{Guid.NewGuid():N}";
        var messages = Workload.PerRecordMessages(records);
        var port = ChildProcess.FreePort();
        await using var aggregator = ChildProcess.Start("ModelMonitor.Aggregator", [], new Dictionary<string, string>
        {
            ["Urls"] = $"http://127.0.0.1:{port}",
            ["ConnectionStrings__Postgres"] = database,
            ["Kafka__BootstrapServers"] = cluster.BootstrapServers,
            ["Auth__Mode"] = "None",
            ["Kafka__Topic"] = topic,
            ["Aggregator__Windows"] = "1h",
            ["Aggregator__AllowedLateness"] = "2.00:00:00",
        }, context.Options.LogDirectory);
        await aggregator.WaitHttpOkAsync($"http://127.0.0.1:{port}/healthz", TimeSpan.FromSeconds(60));
        await using var db = NpgsqlDataSource.Create(database);
        using var producer = Workload.ApiLikeProducer(cluster.BootstrapServers);
        var watch = Stopwatch.StartNew();
        // Produced in slices of 20k, each once the previous one is committed: the mock keeps ~5 MB per partition.
        for (var start = 0; start < messages.Count; start += 20_000)
        {
            foreach (var message in messages.Skip(start).Take(20_000))
            {
                Workload.Produce(producer, topic, message, _ => { });
            }
            producer.Flush(TimeSpan.FromSeconds(30));
            var target = Math.Min(start + 20_000, messages.Count);
            while (await CommittedAsync(db) < target)
            {
                if (watch.Elapsed > TimeSpan.FromMinutes(3))
                {
                    throw new TimeoutException($"the aggregator did not commit {target} records in 3 minutes; see {aggregator.LogPath}");
                }
                await Task.Delay(100);
            }
        }
        return (watch.Elapsed.TotalSeconds, memory);
    }

    private static async Task<long> CommittedAsync(NpgsqlDataSource db)
    {
        try
        {
            await using var connection = await db.OpenConnectionAsync();
            return await connection.ExecuteScalarAsync<long?>("SELECT sum(next_offset)::bigint FROM consumer_offsets") ?? 0;
        }
        catch (PostgresException)
        {
            return 0;
        }
    }

    private static async Task<long> TempBytesAsync(NpgsqlDataSource db)
    {
        await using var connection = await db.OpenConnectionAsync();
        return await connection.ExecuteScalarAsync<long>("SELECT temp_bytes FROM pg_stat_database WHERE datname = current_database()");
    }

    private static async Task<(double Jsonb, double Long)> LoadRawAsync(NpgsqlDataSource db, List<PredictionLog> records)
    {
        await using var connection = await db.OpenConnectionAsync();
        await connection.ExecuteAsync("""
            CREATE TABLE raw_predictions (sent_at timestamptz NOT NULL, prediction_id text NOT NULL, predictor_name text NOT NULL,
                model_id text NOT NULL, features jsonb NOT NULL, prediction_result float8, default_values_used text[] NOT NULL);
            CREATE TABLE raw_prediction_features (sent_at timestamptz NOT NULL, prediction_id text NOT NULL, predictor_name text NOT NULL,
                model_id text NOT NULL, feature text NOT NULL, value float8, text_value text, is_default boolean NOT NULL);
            """);
        var watch = Stopwatch.StartNew();
        await using (var copy = await connection.BeginBinaryImportAsync("COPY raw_predictions FROM STDIN (FORMAT BINARY)"))
        {
            foreach (var r in records)
            {
                await copy.StartRowAsync();
                await copy.WriteAsync(r.SentAt.UtcDateTime, NpgsqlDbType.TimestampTz);
                await copy.WriteAsync(r.PredictionId, NpgsqlDbType.Text);
                await copy.WriteAsync(r.PredictorName, NpgsqlDbType.Text);
                await copy.WriteAsync(r.ModelId, NpgsqlDbType.Text);
                await copy.WriteAsync(FeaturesJson(r), NpgsqlDbType.Jsonb);
                await copy.WriteAsync(r.PredictionResult, NpgsqlDbType.Double);
                await copy.WriteAsync(r.DefaultValuesUsed.ToArray(), NpgsqlDbType.Array | NpgsqlDbType.Text);
            }
            await copy.CompleteAsync();
        }
        await connection.ExecuteAsync("CREATE INDEX ON raw_predictions (sent_at); ANALYZE raw_predictions");
        var jsonb = watch.Elapsed.TotalSeconds;
        watch.Restart();
        await using (var copy = await connection.BeginBinaryImportAsync("COPY raw_prediction_features FROM STDIN (FORMAT BINARY)"))
        {
            foreach (var r in records)
            {
                foreach (var (name, value) in r.Features)
                {
                    await copy.StartRowAsync();
                    await copy.WriteAsync(r.SentAt.UtcDateTime, NpgsqlDbType.TimestampTz);
                    await copy.WriteAsync(r.PredictionId, NpgsqlDbType.Text);
                    await copy.WriteAsync(r.PredictorName, NpgsqlDbType.Text);
                    await copy.WriteAsync(r.ModelId, NpgsqlDbType.Text);
                    await copy.WriteAsync(name, NpgsqlDbType.Text);
                    if (value.Kind == FeatureValueKind.Number && double.IsFinite(value.Number))
                    {
                        await copy.WriteAsync(value.Number, NpgsqlDbType.Double);
                    }
                    else
                    {
                        await copy.WriteNullAsync();
                    }
                    if (value.IsCategorical)
                    {
                        await copy.WriteAsync(value.CategoryLabel, NpgsqlDbType.Text);
                    }
                    else
                    {
                        await copy.WriteNullAsync();
                    }
                    await copy.WriteAsync(r.DefaultValuesUsed.Contains(name), NpgsqlDbType.Boolean);
                }
            }
            await copy.CompleteAsync();
        }
        await connection.ExecuteAsync("CREATE INDEX ON raw_prediction_features (sent_at); ANALYZE raw_prediction_features");
        return (jsonb, watch.Elapsed.TotalSeconds);
    }

    /// <summary>Max relative error of our quantiles vs the exact nearest rank, and how SQL's percentiles differ from it.</summary>
    private static void CompareQuantiles(List<PredictionLog> records, List<dynamic> ours, IReadOnlyList<dynamic> sqlRows)
    {
        var exact = records
            .SelectMany(r => r.Features.Where(f => f.Value.Kind == FeatureValueKind.Number && double.IsFinite(f.Value.Number)).Select(f => (r.PredictorName, r.ModelId, Feature: f.Key, f.Value.Number)))
            .GroupBy(x => (x.PredictorName, x.ModelId, x.Feature))
            .ToDictionary(g => g.Key, g => g.Select(x => x.Number).Order().ToList());
        var sql = sqlRows.ToDictionary(r => ((string)r.predictor_name, (string)r.model_id, (string)r.feature), r => ((double[])r.cont, (double[])r.disc));
        double worstOurs = 0, worstDisc = 0, worstCont = 0;
        string worstWhere = "";
        var compared = 0;
        var within = 0;
        foreach (var row in ours)
        {
            var key = ((string)row.predictor_name, (string)row.model_id, (string)row.feature);
            var values = exact[key];
            if ((long)row.numeric_count != values.Count)
            {
                Console.WriteLine($"   count mismatch for {key}: ours {row.numeric_count}, exact {values.Count}");
            }
            double?[] ourQ = [row.p05, row.p25, row.p50, row.p75, row.p95];
            for (var i = 0; i < Qs.Length; i++)
            {
                var truth = Stats.Quantile(values, Qs[i]);
                var error = RelativeError(ourQ[i]!.Value, truth);
                compared++;
                within += error <= 0.01 + 1e-12 ? 1 : 0;
                if (error > worstOurs)
                {
                    worstOurs = error;
                    worstWhere = $"{key.Item2}/{key.Item3} q{Qs[i]}: ours {ourQ[i]}, exact {truth}";
                }
                if (sql.TryGetValue(key, out var s))
                {
                    worstDisc = Math.Max(worstDisc, RelativeError(s.Item2[i], truth));
                    worstCont = Math.Max(worstCont, RelativeError(s.Item1[i], truth));
                }
            }
        }
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"quantiles: {compared} (model, feature, q) compared, {within} within 1% of the exact lower nearest rank; max relative error ours {worstOurs:P3} ({worstWhere})"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"   (definitions differ: percentile_disc vs nearest rank max {worstDisc:P3}, percentile_cont vs nearest rank max {worstCont:P3}: the SQL values themselves are not the promised definition)"));
    }

    /// <summary>The features object as the caller sent it (non-finite numbers as JSON null: jsonb has no NaN).</summary>
    private static string FeaturesJson(PredictionLog r)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(1024);
        using (var writer = new System.Text.Json.Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            foreach (var (name, value) in r.Features)
            {
                writer.WritePropertyName(name);
                switch (value.Kind)
                {
                    case FeatureValueKind.Number when double.IsFinite(value.Number):
                        writer.WriteNumberValue(value.Number);
                        break;
                    case FeatureValueKind.Text:
                        writer.WriteStringValue(value.Text);
                        break;
                    case FeatureValueKind.Logical:
                        writer.WriteBooleanValue(value.IsTrue);
                        break;
                    default:
                        writer.WriteNullValue();
                        break;
                }
            }
            writer.WriteEndObject();
        }
        return System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    private static double RelativeError(double value, double truth) =>
        truth == 0 ? Math.Abs(value) : Math.Abs(value - truth) / Math.Abs(truth);
}
