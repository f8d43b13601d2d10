using System.Text.Json;
using Dapper;
using ModelMonitor.Core.Aggregation;
using ModelMonitor.Core.Statistics;
using Npgsql;
using NpgsqlTypes;

namespace ModelMonitor.Storage.Statistics;

/// <summary>How a flush ended.</summary>
public enum FlushOutcome
{
    Committed,

    /// <summary>An offset compare-and-set failed: another consumer advanced the partition. Nothing was written.</summary>
    Fenced,
}

/// <summary>
/// Writes a delta and the offsets it consumed to Postgres in ONE transaction (exactly once):
/// 1. compare-and-set every partition's next_offset (fencing: a consumer that lost its partition fails here);
/// 2. lock the touched window rows, creating missing ones, in primary-key order (so instances flushing
///    the same hot model from different partitions cannot deadlock) and read them back;
/// 3. merge the delta into them in C# (counts add, Chan's formula, sketch merge, top-K) and update them;
/// 4. widen models.first_seen / last_seen.
/// Every step is one round trip over arrays (unnest), whatever the number of rows.
/// </summary>
public sealed class StatisticsStore(NpgsqlDataSource dataSource, int categoryCapacity)
{
    private static readonly IReadOnlyList<double> Quantiles = NumericDistribution.ReportedQuantiles;

    /// <summary>The stored next offsets of <paramref name="partitions"/> (absent: never flushed).</summary>
    public async Task<Dictionary<int, long>> LoadOffsetsAsync(string group, string topic, IReadOnlyCollection<int> partitions, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var rows = await connection.QueryAsync<(int Partition, long NextOffset)>(new CommandDefinition(
            """
            SELECT partition, next_offset FROM consumer_offsets
            WHERE consumer_group = @group AND topic = @topic AND partition = ANY(@partitions)
            """,
            new { group, topic, partitions = partitions.ToArray() },
            cancellationToken: cancellationToken));
        return rows.ToDictionary(r => r.Partition, r => r.NextOffset);
    }

    /// <summary>
    /// Writes <paramref name="delta"/>. <paramref name="expectedOffsets"/> holds, per partition, the
    /// next_offset this consumer believes is stored (absent: no row yet).
    /// </summary>
    public async Task<(FlushOutcome Outcome, int Rows)> FlushAsync(
        string group,
        string topic,
        AggregationDelta delta,
        IReadOnlyDictionary<int, long> expectedOffsets,
        CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);

        if (!await AdvanceOffsetsAsync(connection, transaction, group, topic, delta.NextOffsets, expectedOffsets, cancellationToken))
        {
            await transaction.RollbackAsync(cancellationToken);
            return (FlushOutcome.Fenced, 0);
        }

        var rows = await WriteStatisticsAsync(connection, transaction, delta, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return (FlushOutcome.Committed, rows);
    }

    /// <summary>
    /// Writes the statistics of <paramref name="delta"/> (no offsets) in a transaction that is then rolled back:
    /// whether Postgres accepts these values. Throws what the write throws (see <see cref="PoisonReplay"/>).
    /// </summary>
    public async Task TryWriteAsync(AggregationDelta delta, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await WriteStatisticsAsync(connection, transaction, delta, cancellationToken);
        await transaction.RollbackAsync(cancellationToken);
    }

    private async Task<int> WriteStatisticsAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, AggregationDelta delta,
        CancellationToken cancellationToken)
    {
        var models = delta.Windows.Keys.ToArray();
        var features = delta.Windows.SelectMany(w => w.Value.Features.Keys.Select(f => (Model: w.Key, Feature: f))).ToArray();
        if (models.Length > 0)
        {
            await WriteModelRowsAsync(connection, transaction, delta, models, cancellationToken);
        }

        if (features.Length > 0)
        {
            await WriteFeatureRowsAsync(connection, transaction, delta, features, cancellationToken);
        }

        if (delta.Seen.Count > 0)
        {
            await WriteModelsSeenAsync(connection, transaction, delta, cancellationToken);
        }

        return models.Length + features.Length;
    }

    /// <summary>Deletes up to <paramref name="batchSize"/> rows of windows older than the cutoff; returns rows deleted.</summary>
    public async Task<int> DeleteExpiredAsync(string table, int windowSeconds, DateTimeOffset cutoff, int batchSize, CancellationToken cancellationToken)
    {
        if (table is not ("feature_window_stats" or "model_window_stats"))
        {
            throw new ArgumentException($"Not a window table: {table}", nameof(table));
        }

        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        // ctid batches: short statements, short locks, no long-running delete against the flushes.
        return await connection.ExecuteAsync(new CommandDefinition(
            $"""
            DELETE FROM {table} WHERE ctid IN (
                SELECT ctid FROM {table}
                WHERE window_seconds = @windowSeconds AND window_start < @cutoff
                LIMIT @batchSize)
            """,
            new { windowSeconds, cutoff = cutoff.UtcDateTime, batchSize },
            cancellationToken: cancellationToken));
    }

    private static async Task<bool> AdvanceOffsetsAsync(
        NpgsqlConnection connection,
        NpgsqlTransaction transaction,
        string group,
        string topic,
        Dictionary<int, long> nextOffsets,
        IReadOnlyDictionary<int, long> expectedOffsets,
        CancellationToken cancellationToken)
    {
        if (nextOffsets.Count == 0)
        {
            return true;
        }

        await using var batch = new NpgsqlBatch(connection, transaction);
        foreach (var (partition, next) in nextOffsets.OrderBy(p => p.Key))
        {
            var command = expectedOffsets.TryGetValue(partition, out var expected)
                ? new NpgsqlBatchCommand(
                    """
                    UPDATE consumer_offsets SET next_offset = $4, updated_at = now()
                    WHERE consumer_group = $1 AND topic = $2 AND partition = $3 AND next_offset = $5
                    """)
                : new NpgsqlBatchCommand(
                    """
                    INSERT INTO consumer_offsets (consumer_group, topic, partition, next_offset)
                    VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING
                    """);
            command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = group });
            command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = topic });
            command.Parameters.Add(new NpgsqlParameter<int> { TypedValue = partition });
            command.Parameters.Add(new NpgsqlParameter<long> { TypedValue = next });
            if (expectedOffsets.ContainsKey(partition))
            {
                command.Parameters.Add(new NpgsqlParameter<long> { TypedValue = expected });
            }

            batch.BatchCommands.Add(command);
        }

        await batch.ExecuteNonQueryAsync(cancellationToken);
        for (var i = 0; i < batch.BatchCommands.Count; i++)
        {
            if (batch.BatchCommands[i].RecordsAffected != 1)
            {
                return false;
            }
        }

        return true;
    }

    private static async Task WriteModelRowsAsync(
        NpgsqlConnection connection,
        NpgsqlTransaction transaction,
        AggregationDelta delta,
        ModelWindowKey[] keys,
        CancellationToken cancellationToken)
    {
        // Lock (creating placeholders for new keys) and read, in primary-key order.
        var stored = new Dictionary<ModelWindowKey, ModelAccumulator>();
        await using (var command = new NpgsqlCommand(
            """
            INSERT INTO model_window_stats AS t (window_seconds, window_start, predictor_name, model_id, prediction_count, nonfinite_count, numeric_count)
            SELECT k.ws, k.st, k.p, k.m, 0, 0, 0
            FROM unnest(@ws, @st, @p, @m) AS k(ws, st, p, m)
            ORDER BY k.ws, k.p COLLATE "C", k.m COLLATE "C", k.st
            ON CONFLICT (window_seconds, predictor_name, model_id, window_start) DO UPDATE SET updated_at = now()
            RETURNING window_seconds, window_start, predictor_name, model_id,
                      prediction_count, nonfinite_count, numeric_count, mean, m2, min, max, sketch, m2_scale
            """,
            connection,
            transaction))
        {
            AddKeyParameters(command, keys);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                var key = ReadKey(reader);
                stored[key] = ModelAccumulator.FromParts(reader.GetInt64(4), reader.GetInt64(5), ReadDistribution(reader, countOrdinal: 6, scaleOrdinal: 12));
            }
        }

        var n = keys.Length;
        var predictionCount = new long[n];
        var nonFinite = new long[n];
        var numeric = new NumericColumns(n);
        for (var i = 0; i < n; i++)
        {
            var merged = stored[keys[i]];
            merged.Merge(delta.Windows[keys[i]].Model);
            predictionCount[i] = merged.PredictionCount;
            nonFinite[i] = merged.NonFiniteCount;
            numeric.Set(i, merged.Result);
        }

        await using var update = new NpgsqlCommand(
            """
            UPDATE model_window_stats AS t
            SET prediction_count = u.pc, nonfinite_count = u.nf, numeric_count = u.nc,
                mean = u.mean, m2 = u.m2, m2_scale = u.m2s, stddev = u.sd, min = u.mn, max = u.mx,
                p05 = u.p05, p25 = u.p25, p50 = u.p50, p75 = u.p75, p95 = u.p95,
                sketch = u.sk, updated_at = now()
            FROM unnest(@ws, @st, @p, @m, @pc, @nf, @nc, @mean, @m2, @m2s, @sd, @mn, @mx, @p05, @p25, @p50, @p75, @p95, @sk)
                 AS u(ws, st, p, m, pc, nf, nc, mean, m2, m2s, sd, mn, mx, p05, p25, p50, p75, p95, sk)
            WHERE t.window_seconds = u.ws AND t.window_start = u.st AND t.predictor_name = u.p AND t.model_id = u.m
            """,
            connection,
            transaction);
        AddKeyParameters(update, keys);
        update.Parameters.Add(new NpgsqlParameter<long[]>("pc", predictionCount));
        update.Parameters.Add(new NpgsqlParameter<long[]>("nf", nonFinite));
        numeric.AddParameters(update);
        await update.ExecuteNonQueryAsync(cancellationToken);
    }

    private async Task WriteFeatureRowsAsync(
        NpgsqlConnection connection,
        NpgsqlTransaction transaction,
        AggregationDelta delta,
        (ModelWindowKey Model, string Feature)[] keys,
        CancellationToken cancellationToken)
    {
        var stored = new Dictionary<(ModelWindowKey, string), FeatureAccumulator>();
        await using (var command = new NpgsqlCommand(
            """
            INSERT INTO feature_window_stats AS t (window_seconds, window_start, predictor_name, model_id, feature,
                value_count, null_count, default_count, nonfinite_count, numeric_count, categorical_count)
            SELECT k.ws, k.st, k.p, k.m, k.f, 0, 0, 0, 0, 0, 0
            FROM unnest(@ws, @st, @p, @m, @f) AS k(ws, st, p, m, f)
            ORDER BY k.ws, k.p COLLATE "C", k.m COLLATE "C", k.f COLLATE "C", k.st
            ON CONFLICT (window_seconds, predictor_name, model_id, feature, window_start) DO UPDATE SET updated_at = now()
            RETURNING window_seconds, window_start, predictor_name, model_id,
                      value_count, null_count, default_count, nonfinite_count,
                      numeric_count, mean, m2, min, max, sketch, categories::text, feature, m2_scale, boolean_count
            """,
            connection,
            transaction))
        {
            AddKeyParameters(command, keys.Select(k => k.Model).ToArray());
            command.Parameters.Add(new NpgsqlParameter<string[]>("f", keys.Select(k => k.Feature).ToArray()));
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                var key = (ReadKey(reader), reader.GetString(15));
                stored[key] = FeatureAccumulator.FromParts(
                    valueCount: reader.GetInt64(4),
                    nullCount: reader.GetInt64(5),
                    defaultCount: reader.GetInt64(6),
                    nonFiniteCount: reader.GetInt64(7),
                    numeric: ReadDistribution(reader, countOrdinal: 8, scaleOrdinal: 16),
                    categories: ParseCategories(reader.GetString(14)),
                    categoryCapacity,
                    booleanCount: reader.GetInt64(17));
            }
        }

        var n = keys.Length;
        var valueCount = new long[n];
        var nullCount = new long[n];
        var defaultCount = new long[n];
        var nonFinite = new long[n];
        var categoricalCount = new long[n];
        var booleanCount = new long[n];
        var categories = new string[n];
        var numeric = new NumericColumns(n);
        for (var i = 0; i < n; i++)
        {
            var merged = stored[(keys[i].Model, keys[i].Feature)];
            merged.Merge(delta.Windows[keys[i].Model].Features[keys[i].Feature]);
            valueCount[i] = merged.ValueCount;
            nullCount[i] = merged.NullCount;
            defaultCount[i] = merged.DefaultCount;
            nonFinite[i] = merged.NonFiniteCount;
            categoricalCount[i] = merged.CategoricalCount;
            booleanCount[i] = merged.BooleanCount;
            categories[i] = FormatCategories(merged.Categories.Top());
            numeric.Set(i, merged.Numeric);
        }

        await using var update = new NpgsqlCommand(
            """
            UPDATE feature_window_stats AS t
            SET value_count = u.vc, null_count = u.nu, default_count = u.dc, nonfinite_count = u.nf, numeric_count = u.nc,
                mean = u.mean, m2 = u.m2, m2_scale = u.m2s, stddev = u.sd, min = u.mn, max = u.mx,
                p05 = u.p05, p25 = u.p25, p50 = u.p50, p75 = u.p75, p95 = u.p95,
                sketch = u.sk, categorical_count = u.cc, boolean_count = u.bc, categories = u.cat::jsonb, updated_at = now()
            FROM unnest(@ws, @st, @p, @m, @f, @vc, @nu, @dc, @nf, @nc, @mean, @m2, @m2s, @sd, @mn, @mx, @p05, @p25, @p50, @p75, @p95, @sk, @cc, @bc, @cat)
                 AS u(ws, st, p, m, f, vc, nu, dc, nf, nc, mean, m2, m2s, sd, mn, mx, p05, p25, p50, p75, p95, sk, cc, bc, cat)
            WHERE t.window_seconds = u.ws AND t.window_start = u.st AND t.predictor_name = u.p AND t.model_id = u.m AND t.feature = u.f
            """,
            connection,
            transaction);
        AddKeyParameters(update, keys.Select(k => k.Model).ToArray());
        update.Parameters.Add(new NpgsqlParameter<string[]>("f", keys.Select(k => k.Feature).ToArray()));
        update.Parameters.Add(new NpgsqlParameter<long[]>("vc", valueCount));
        update.Parameters.Add(new NpgsqlParameter<long[]>("nu", nullCount));
        update.Parameters.Add(new NpgsqlParameter<long[]>("dc", defaultCount));
        update.Parameters.Add(new NpgsqlParameter<long[]>("nf", nonFinite));
        update.Parameters.Add(new NpgsqlParameter<long[]>("cc", categoricalCount));
        update.Parameters.Add(new NpgsqlParameter<long[]>("bc", booleanCount));
        update.Parameters.Add(new NpgsqlParameter<string[]>("cat", categories));
        numeric.AddParameters(update);
        await update.ExecuteNonQueryAsync(cancellationToken);
    }

    private static async Task WriteModelsSeenAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, AggregationDelta delta, CancellationToken cancellationToken)
    {
        var seen = delta.Seen.ToArray();
        await using var command = new NpgsqlCommand(
            """
            INSERT INTO models AS t (predictor_name, model_id, first_seen, last_seen)
            SELECT u.p, u.m, u.f, u.l FROM unnest(@p, @m, @f, @l) AS u(p, m, f, l)
            ORDER BY u.p COLLATE "C", u.m COLLATE "C"
            ON CONFLICT (predictor_name, model_id) DO UPDATE
            SET first_seen = LEAST(t.first_seen, excluded.first_seen), last_seen = GREATEST(t.last_seen, excluded.last_seen)
            """,
            connection,
            transaction);
        command.Parameters.Add(new NpgsqlParameter<string[]>("p", seen.Select(s => s.Key.PredictorName).ToArray()));
        command.Parameters.Add(new NpgsqlParameter<string[]>("m", seen.Select(s => s.Key.ModelId).ToArray()));
        command.Parameters.Add(new NpgsqlParameter<DateTime[]>("f", seen.Select(s => s.Value.First.UtcDateTime).ToArray()));
        command.Parameters.Add(new NpgsqlParameter<DateTime[]>("l", seen.Select(s => s.Value.Last.UtcDateTime).ToArray()));
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private static void AddKeyParameters(NpgsqlCommand command, ModelWindowKey[] keys)
    {
        command.Parameters.Add(new NpgsqlParameter<int[]>("ws", keys.Select(k => k.WindowSeconds).ToArray()));
        command.Parameters.Add(new NpgsqlParameter<DateTime[]>("st", keys.Select(k => DateTime.UnixEpoch.AddSeconds(k.WindowStart)).ToArray())
        {
            NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.TimestampTz,
        });
        command.Parameters.Add(new NpgsqlParameter<string[]>("p", keys.Select(k => k.PredictorName).ToArray()));
        command.Parameters.Add(new NpgsqlParameter<string[]>("m", keys.Select(k => k.ModelId).ToArray()));
    }

    private static ModelWindowKey ReadKey(NpgsqlDataReader reader) => new(
        reader.GetInt32(0),
        (long)(reader.GetFieldValue<DateTime>(1) - DateTime.UnixEpoch).TotalSeconds,
        reader.GetString(2),
        reader.GetString(3));

    // Columns from countOrdinal: numeric_count, mean, m2, min, max, sketch; m2_scale at scaleOrdinal.
    private static NumericDistribution ReadDistribution(NpgsqlDataReader reader, int countOrdinal, int scaleOrdinal)
    {
        var count = reader.GetInt64(countOrdinal);
        if (count == 0)
        {
            return new NumericDistribution();
        }

        var moments = RunningMoments.FromParts(
            count,
            reader.GetDouble(countOrdinal + 1),
            reader.GetDouble(countOrdinal + 2),
            reader.GetDouble(countOrdinal + 3),
            reader.GetDouble(countOrdinal + 4),
            reader.GetInt32(scaleOrdinal));
        var sketch = DDSketch.Deserialize(reader.GetFieldValue<byte[]>(countOrdinal + 5));
        return NumericDistribution.FromParts(moments, sketch);
    }

    private static List<KeyValuePair<string, long>> ParseCategories(string json)
    {
        using var document = JsonDocument.Parse(json);
        return document.RootElement.EnumerateObject().Select(p => new KeyValuePair<string, long>(p.Name, p.Value.GetInt64())).ToList();
    }

    private static string FormatCategories(IReadOnlyList<KeyValuePair<string, long>> top)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            foreach (var (label, count) in top)
            {
                writer.WriteNumber(label, count);
            }

            writer.WriteEndObject();
        }

        return System.Text.Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
    }

    /// <summary>The numeric statistics columns shared by model and feature rows, as parameter arrays.</summary>
    private sealed class NumericColumns(int n)
    {
        private readonly long[] _count = new long[n];
        private readonly double?[] _mean = new double?[n];
        private readonly double[] _m2 = new double[n];
        private readonly int[] _m2Scale = new int[n];
        private readonly double?[] _stddev = new double?[n];
        private readonly double?[] _min = new double?[n];
        private readonly double?[] _max = new double?[n];
        private readonly double?[][] _quantiles = [.. Quantiles.Select(_ => new double?[n])];
        private readonly byte[]?[] _sketch = new byte[]?[n];

        public void Set(int i, NumericDistribution distribution)
        {
            _count[i] = distribution.Count;
            // M2 / 4^m2_scale: M2 itself leaves the double range for values near it (see RunningMoments).
            _m2[i] = distribution.Moments.ScaledM2;
            _m2Scale[i] = distribution.Moments.ScaleExponent;
            if (distribution.Count == 0)
            {
                return;
            }

            _mean[i] = distribution.Moments.Mean;
            _stddev[i] = distribution.Moments.SampleStdDev;
            _min[i] = distribution.Moments.Min;
            _max[i] = distribution.Moments.Max;
            for (var q = 0; q < Quantiles.Count; q++)
            {
                _quantiles[q][i] = distribution.Quantile(Quantiles[q]);
            }

            _sketch[i] = distribution.Sketch.Serialize();
        }

        public void AddParameters(NpgsqlCommand command)
        {
            command.Parameters.Add(new NpgsqlParameter<long[]>("nc", _count));
            command.Parameters.Add(new NpgsqlParameter<double?[]>("mean", _mean));
            command.Parameters.Add(new NpgsqlParameter<double[]>("m2", _m2));
            command.Parameters.Add(new NpgsqlParameter<int[]>("m2s", _m2Scale));
            command.Parameters.Add(new NpgsqlParameter<double?[]>("sd", _stddev));
            command.Parameters.Add(new NpgsqlParameter<double?[]>("mn", _min));
            command.Parameters.Add(new NpgsqlParameter<double?[]>("mx", _max));
            string[] names = ["p05", "p25", "p50", "p75", "p95"];
            for (var q = 0; q < names.Length; q++)
            {
                command.Parameters.Add(new NpgsqlParameter<double?[]>(names[q], _quantiles[q]));
            }

            command.Parameters.Add(new NpgsqlParameter<byte[]?[]>("sk", _sketch) { NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Bytea });
        }
    }
}
