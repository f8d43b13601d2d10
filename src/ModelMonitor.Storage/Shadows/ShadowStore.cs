using Dapper;
using ModelMonitor.Core.Shadows;
using ModelMonitor.Core.Windows;
using Npgsql;
using static ModelMonitor.Storage.PostgresValues;

namespace ModelMonitor.Storage.Shadows;

/// <summary>How the join treats one predictor's models.</summary>
/// <param name="Models">The models compared (at most Shadow:MaxModelsPerPredictor).</param>
/// <param name="Threshold">Binary predictors: the score threshold of the agreement ratio; null otherwise.</param>
/// <param name="Registered">Registered with a primary or shadows: always compared (others are on probation).</param>
public sealed record ShadowPredictor(string PredictorName, IReadOnlySet<string> Models, double? Threshold, bool Registered = true);

/// <summary>What one write of the shadow join did.</summary>
/// <param name="PerPredictor">New predictions and pairs per predictor (the join's probation of unregistered ones).</param>
public sealed record ShadowWriteResult(int Stored, int Repeated, long Pairs, int Completed, int Rows,
    IReadOnlyDictionary<string, (long Predictions, long Pairs)>? PerPredictor = null)
{
    public static readonly ShadowWriteResult Nothing = new(0, 0, 0, 0, 0);
}

/// <summary>A comparison row as the exporter reads it (the latest completed window of its size).</summary>
public sealed record ShadowWindowRow(int WindowSeconds, DateTimeOffset WindowStart, string PredictorName, string ModelA, string ModelB, ShadowSummary Summary);

/// <summary>
/// The shadow join's tables (schema version 7). <see cref="WriteAsync"/> runs inside the join's transaction (the one that
/// advances the offsets of the predictions topic, <c>EvaluationStore.WriteAsync</c>), so a pair is counted exactly once:
/// (0) ids whose every compared model is in the batch, none waiting in the table, pair in memory and are never stored;
/// (1) the other new predictions inserted (<c>ON CONFLICT DO NOTHING RETURNING</c>: the first of a (predictor,
/// prediction_id, model) counts); (2) every stored prediction of their ids read; (3) <see cref="ShadowJoin"/> forms the
/// pairs; (4) model counts added and comparison rows created, locked in key order, merged and rewritten; (5) ids every
/// compared model has predicted deleted.
/// </summary>
public sealed class ShadowStore(NpgsqlDataSource dataSource)
{
    /// <summary>The join of a flat list of predictions (grouped here; a repeat of a (predictor, id, model) counts as
    /// repeated). The worker hands its <see cref="ShadowBatch"/> as it read it.</summary>
    public static Task<ShadowWriteResult> WriteAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, IReadOnlyList<ShadowPrediction> predictions,
        IReadOnlyList<WindowSize> windows, TimeSpan joinWindow, IReadOnlyDictionary<string, ShadowPredictor> predictors, CancellationToken cancellationToken)
    {
        var batch = new ShadowBatch();
        foreach (var prediction in predictions)
        {
            batch.Add(prediction);
        }
        return WriteAsync(connection, transaction, batch, predictions.Count, windows, joinWindow, predictors, cancellationToken);
    }

    /// <param name="read">Predictions the batch read, its repeats included (those not counted are reported repeated).</param>
    public static async Task<ShadowWriteResult> WriteAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, ShadowBatch batch, int read,
        IReadOnlyList<WindowSize> windows, TimeSpan joinWindow, IReadOnlyDictionary<string, ShadowPredictor> predictors, CancellationToken cancellationToken)
    {
        if (batch.Predictions == 0)
        {
            return ShadowWriteResult.Nothing;
        }
        int ModelsOf(string predictor) => predictors.TryGetValue(predictor, out var p) ? p.Models.Count : int.MaxValue;

        // An id whose every compared model is in this batch (the usual case: a primary and its shadows score one request
        // within milliseconds) pairs here and is complete at once: it is never stored, unless a prediction of it already
        // waits (then it takes the stored path, whose ON CONFLICT ignores the repeat).
        var whole = new List<ShadowIdGroup>(batch.Groups.Count);
        var rest = new List<ShadowIdGroup>();
        foreach (var group in batch.Groups)
        {
            (group.Count == ModelsOf(group.PredictorName) ? whole : rest).Add(group);
        }
        if (whole.Count > 0)
        {
            var waiting = await WaitingAsync(connection, transaction, whole, cancellationToken);
            if (waiting.Count > 0)
            {
                var free = new List<ShadowIdGroup>(whole.Count);
                foreach (var group in whole)
                {
                    (waiting.Contains((group.PredictorName, group.PredictionId)) ? rest : free).Add(group);
                }
                whole = free;
            }
        }

        var (inserted, stored) = rest.Count > 0
            ? await StoreAndReadAsync(connection, transaction, rest, cancellationToken)
            : (0, new List<ShadowIdGroup>());
        var contributions = ShadowJoin.Contribute(stored.Concat(whole), windows, joinWindow, ModelsOf,
            predictor => predictors.TryGetValue(predictor, out var p) ? p.Threshold : null);

        await AddModelCountsAsync(connection, transaction, contributions.Predictions, cancellationToken);
        await MergePairsAsync(connection, transaction, contributions.Pairs, cancellationToken);
        var complete = contributions.Complete; // stored ids only: the whole ones were never stored
        if (complete.Count > 0)
        {
            await connection.ExecuteAsync(new CommandDefinition(
                """
                DELETE FROM shadow_predictions p USING unnest(@predictors, @ids) AS k(p, id)
                WHERE p.predictor_name = k.p AND p.prediction_id = k.id
                """,
                new { predictors = complete.Select(c => c.PredictorName).ToArray(), ids = complete.Select(c => c.PredictionId).ToArray() },
                transaction, cancellationToken: cancellationToken));
        }
        var counted = inserted + whole.Sum(g => g.Count);
        return new ShadowWriteResult(counted, read - counted, contributions.PairCount, complete.Count + whole.Count,
            contributions.Pairs.Count + contributions.Predictions.Count, contributions.PerPredictor);
    }

    /// <summary>The (predictor, id)s among <paramref name="ids"/> with a prediction waiting in the table. The waiting rows of
    /// their predictors are few when models score together (an id waits only while its models straddle two batches), so
    /// they are read whole, up to half as many as the ids; past that the ids are looked up one by one instead.</summary>
    private static async Task<HashSet<(string, string)>> WaitingAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, List<ShadowIdGroup> ids,
        CancellationToken cancellationToken)
    {
        var limit = (ids.Count / 2) + 1;
        var predictors = ids.Select(g => g.PredictorName).Distinct(StringComparer.Ordinal).ToArray();
        var rows = (await connection.QueryAsync<(string, string)>(new CommandDefinition(
            "SELECT predictor_name, prediction_id FROM shadow_predictions WHERE predictor_name = ANY(@predictors) LIMIT @limit",
            new { predictors, limit }, transaction, cancellationToken: cancellationToken))).AsList();
        if (rows.Count < limit)
        {
            return [.. rows];
        }
        return (await connection.QueryAsync<(string, string)>(new CommandDefinition(
            """
            SELECT DISTINCT k.p, k.id FROM unnest(@predictors, @ids) AS k(p, id)
            JOIN shadow_predictions s ON s.predictor_name = k.p AND s.prediction_id = k.id
            """,
            new { predictors = ids.Select(g => g.PredictorName).ToArray(), ids = ids.Select(g => g.PredictionId).ToArray() },
            transaction, cancellationToken: cancellationToken))).ToHashSet();
    }

    /// <summary>Inserts the new predictions of <paramref name="groups"/> in key order (<c>ON CONFLICT DO NOTHING</c>: the
    /// first of a (predictor, id, model) counts) and reads every stored prediction of the ids that gained one, grouped, each
    /// flagged inserted or not. Returns how many were inserted.</summary>
    private static async Task<(int Inserted, List<ShadowIdGroup> Stored)> StoreAndReadAsync(NpgsqlConnection connection, NpgsqlTransaction transaction,
        List<ShadowIdGroup> groups, CancellationToken cancellationToken)
    {
        var ordered = groups.SelectMany(g => g.Predictions)
            .OrderBy(p => p.PredictorName, StringComparer.Ordinal).ThenBy(p => p.PredictionId, StringComparer.Ordinal)
            .ThenBy(p => p.ModelId, StringComparer.Ordinal).ToList();
        var inserted = (await connection.QueryAsync<(string, string, string)>(new CommandDefinition(
            """
            INSERT INTO shadow_predictions (predictor_name, prediction_id, model_id, sent_at, prediction_result)
            SELECT * FROM unnest(@predictors, @ids, @models, @sentAt, @results)
            ON CONFLICT DO NOTHING
            RETURNING predictor_name, prediction_id, model_id
            """,
            new
            {
                predictors = ordered.Select(p => p.PredictorName).ToArray(),
                ids = ordered.Select(p => p.PredictionId).ToArray(),
                models = ordered.Select(p => p.ModelId).ToArray(),
                sentAt = ordered.Select(p => p.SentAt.UtcDateTime).ToArray(),
                results = ordered.Select(p => p.PredictionResult).ToArray(),
            },
            transaction, cancellationToken: cancellationToken))).ToHashSet();
        var touched = inserted.Select(k => (k.Item1, k.Item2)).Distinct().ToList();
        if (touched.Count == 0)
        {
            return (0, []);
        }
        var rows = await connection.QueryAsync<(string Predictor, string Id, string Model, DateTime SentAt, double Result)>(new CommandDefinition(
            """
            SELECT p.predictor_name, p.prediction_id, p.model_id, p.sent_at, p.prediction_result
            FROM unnest(@predictors, @ids) AS k(p, id)
            JOIN shadow_predictions p ON p.predictor_name = k.p AND p.prediction_id = k.id
            """,
            new { predictors = touched.Select(t => t.Item1).ToArray(), ids = touched.Select(t => t.Item2).ToArray() },
            transaction, cancellationToken: cancellationToken));
        var stored = new Dictionary<(string, string), ShadowIdGroup>();
        foreach (var row in rows)
        {
            if (!stored.TryGetValue((row.Predictor, row.Id), out var group))
            {
                stored[(row.Predictor, row.Id)] = group = new ShadowIdGroup(row.Predictor, row.Id, stored: true);
            }
            group.Add(new ShadowPrediction(row.Predictor, row.Id, row.Model, Utc(row.SentAt), row.Result), inserted.Contains((row.Predictor, row.Id, row.Model)));
        }
        return (inserted.Count, [.. stored.Values]);
    }

    private static async Task AddModelCountsAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, Dictionary<ShadowModelKey, long> counts,
        CancellationToken cancellationToken)
    {
        if (counts.Count == 0)
        {
            return;
        }
        var keys = counts.Keys.OrderBy(k => k.WindowSeconds).ThenBy(k => k.PredictorName, StringComparer.Ordinal)
            .ThenBy(k => k.ModelId, StringComparer.Ordinal).ThenBy(k => k.WindowStart).ToList();
        await connection.ExecuteAsync(new CommandDefinition(
            """
            INSERT INTO shadow_model_window_stats (window_seconds, window_start, predictor_name, model_id, prediction_count)
            SELECT * FROM unnest(@ws, @st, @p, @m, @n)
            ON CONFLICT (window_seconds, predictor_name, model_id, window_start)
            DO UPDATE SET prediction_count = shadow_model_window_stats.prediction_count + excluded.prediction_count
            """,
            new
            {
                ws = keys.Select(k => k.WindowSeconds).ToArray(),
                st = keys.Select(k => k.WindowStart.UtcDateTime).ToArray(),
                p = keys.Select(k => k.PredictorName).ToArray(),
                m = keys.Select(k => k.ModelId).ToArray(),
                n = keys.Select(k => counts[k]).ToArray(),
            },
            transaction, cancellationToken: cancellationToken));
    }

    /// <summary>Creates the missing rows, locks and reads every touched one in key order (instances writing the same
    /// predictor's windows cannot deadlock), merges and rewrites them with their computed columns.</summary>
    private static async Task MergePairsAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, Dictionary<ShadowPairKey, ShadowAccumulator> pairs,
        CancellationToken cancellationToken)
    {
        if (pairs.Count == 0)
        {
            return;
        }
        var keys = pairs.Keys.OrderBy(k => k.WindowSeconds).ThenBy(k => k.PredictorName, StringComparer.Ordinal).ThenBy(k => k.ModelA, StringComparer.Ordinal)
            .ThenBy(k => k.ModelB, StringComparer.Ordinal).ThenBy(k => k.WindowStart).ToList();
        var parameters = new
        {
            ws = keys.Select(k => k.WindowSeconds).ToArray(),
            st = keys.Select(k => k.WindowStart.UtcDateTime).ToArray(),
            p = keys.Select(k => k.PredictorName).ToArray(),
            a = keys.Select(k => k.ModelA).ToArray(),
            b = keys.Select(k => k.ModelB).ToArray(),
        };
        await connection.ExecuteAsync(new CommandDefinition(
            """
            INSERT INTO shadow_window_stats (window_seconds, window_start, predictor_name, model_a, model_b, pairs, state)
            SELECT ws, st, p, a, b, 0, '\x'::bytea FROM unnest(@ws, @st, @p, @a, @b) AS k(ws, st, p, a, b)
            ON CONFLICT DO NOTHING
            """, parameters, transaction, cancellationToken: cancellationToken));
        var stored = await connection.QueryAsync<(int Ws, DateTime St, string P, string A, string B, byte[] State)>(new CommandDefinition(
            """
            SELECT s.window_seconds, s.window_start, s.predictor_name, s.model_a, s.model_b, s.state
            FROM shadow_window_stats s JOIN unnest(@ws, @st, @p, @a, @b) AS k(ws, st, p, a, b)
              ON s.window_seconds = k.ws AND s.window_start = k.st AND s.predictor_name = k.p AND s.model_a = k.a AND s.model_b = k.b
            ORDER BY s.window_seconds, s.predictor_name, s.model_a, s.model_b, s.window_start
            FOR UPDATE OF s
            """, parameters, transaction, cancellationToken: cancellationToken));

        await using var batch = new NpgsqlBatch(connection, transaction);
        foreach (var row in stored)
        {
            var key = new ShadowPairKey(row.Ws, Utc(row.St), row.P, row.A, row.B);
            var merged = pairs[key];
            if (row.State.Length > 0)
            {
                var existing = ShadowAccumulator.Deserialize(row.State);
                existing.Merge(merged);
                merged = existing;
            }
            batch.BatchCommands.Add(UpdateRow(key, merged));
        }
        await batch.ExecuteNonQueryAsync(cancellationToken);
    }

    private static NpgsqlBatchCommand UpdateRow(ShadowPairKey key, ShadowAccumulator accumulator)
    {
        var s = accumulator.Summarize();
        var command = new NpgsqlBatchCommand(
            """
            UPDATE shadow_window_stats SET pairs = $6, diff_mean = $7, abs_diff_mean = $8, abs_diff_p50 = $9, abs_diff_p90 = $10,
                abs_diff_p95 = $11, abs_diff_p99 = $12, correlation = $13, agreement_ratio = $14, state = $15, updated_at = now()
            WHERE window_seconds = $1 AND window_start = $2 AND predictor_name = $3 AND model_a = $4 AND model_b = $5
            """);
        var p = command.Parameters;
        p.Add(new NpgsqlParameter<int> { TypedValue = key.WindowSeconds });
        p.Add(new NpgsqlParameter<DateTime> { TypedValue = key.WindowStart.UtcDateTime });
        p.Add(new NpgsqlParameter<string> { TypedValue = key.PredictorName });
        p.Add(new NpgsqlParameter<string> { TypedValue = key.ModelA });
        p.Add(new NpgsqlParameter<string> { TypedValue = key.ModelB });
        p.Add(new NpgsqlParameter<long> { TypedValue = s.Pairs });
        p.Add(FiniteOrNull(s.DiffMean));
        p.Add(FiniteOrNull(s.AbsDiffMean));
        foreach (var (_, value) in s.AbsDiffQuantiles)
        {
            p.Add(FiniteOrNull(value));
        }
        p.Add(FiniteOrNull(s.Correlation));
        p.Add(FiniteOrNull(s.AgreementRatio));
        p.Add(new NpgsqlParameter<byte[]> { TypedValue = accumulator.Serialize() });
        return command;
    }


    /// <summary>
    /// The predictors the join compares and their models: the registered primary and shadows first (in that order), then the
    /// models seen in traffic since <paramref name="since"/> and not retired, by first prediction; at most
    /// <paramref name="maxModels"/> per predictor; predictors with fewer than two left out.
    /// </summary>
    public async Task<IReadOnlyList<(string PredictorName, IReadOnlyList<string> Models, bool Registered)>> LoadComparedAsync(int maxModels, DateTimeOffset since,
        CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var rows = await connection.QueryAsync<(string Predictor, string Model, int Rank)>(new CommandDefinition(
            """
            SELECT predictor_name, model_id, rank FROM (
                SELECT p.predictor_name, m.model_id, 0 AS rank, m.ord::double precision AS position
                FROM predictors p, unnest(array_remove(ARRAY[p.primary_model_id], NULL) || p.shadow_model_ids) WITH ORDINALITY AS m(model_id, ord)
                UNION ALL
                SELECT m.predictor_name, m.model_id, 1, extract(epoch FROM m.first_seen)
                FROM models m
                WHERE m.last_seen >= @since
                  AND NOT EXISTS (SELECT 1 FROM retired_models r
                                  WHERE r.predictor_name = m.predictor_name AND r.model_id IN ('', m.model_id) AND r.retired_at >= m.last_seen)
            ) candidates
            ORDER BY predictor_name, rank, position, model_id
            """, new { since = since.UtcDateTime }, cancellationToken: cancellationToken));
        var result = new List<(string, IReadOnlyList<string>, bool)>();
        foreach (var group in rows.GroupBy(r => r.Predictor, StringComparer.Ordinal))
        {
            var models = group.Select(r => r.Model).Distinct(StringComparer.Ordinal).Take(maxModels).ToList();
            if (models.Count >= 2)
            {
                result.Add((group.Key, models, group.Count(r => r.Rank == 0) >= 2));
            }
        }
        return result;
    }

    /// <summary>Deletes waiting predictions older than <paramref name="before"/> (no partner can join them any more), at most
    /// <paramref name="batchSize"/> per call.</summary>
    /// <returns>How many were deleted.</returns>
    public async Task<int> ExpireAsync(DateTimeOffset before, int batchSize, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        return await connection.ExecuteAsync(new CommandDefinition(
            """
            DELETE FROM shadow_predictions WHERE ctid IN (SELECT ctid FROM shadow_predictions WHERE sent_at < @before LIMIT @batchSize)
            """, new { before = before.UtcDateTime, batchSize }, cancellationToken: cancellationToken));
    }

    /// <summary>The comparison rows of the latest completed window of each size, with the two models' prediction counts.</summary>
    public async Task<IReadOnlyList<(ShadowWindowRow Row, long CountA, long CountB)>> ReadLatestAsync(DateTimeOffset now, TimeSpan completionDelay,
        IReadOnlyList<int> windowSizes, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var result = new List<(ShadowWindowRow, long, long)>();
        foreach (var size in windowSizes)
        {
            var start = Statistics.StatisticsReader.LatestCompletedWindowStart(now, size, completionDelay);
            var rows = await connection.QueryAsync<(string P, string A, string B, byte[] State, long? CountA, long? CountB)>(new CommandDefinition(
                """
                SELECT s.predictor_name, s.model_a, s.model_b, s.state, ca.prediction_count, cb.prediction_count
                FROM shadow_window_stats s
                LEFT JOIN shadow_model_window_stats ca ON ca.window_seconds = s.window_seconds AND ca.window_start = s.window_start
                     AND ca.predictor_name = s.predictor_name AND ca.model_id = s.model_a
                LEFT JOIN shadow_model_window_stats cb ON cb.window_seconds = s.window_seconds AND cb.window_start = s.window_start
                     AND cb.predictor_name = s.predictor_name AND cb.model_id = s.model_b
                WHERE s.window_seconds = @size AND s.window_start = @start AND s.pairs > 0
                """, new { size, start = start.UtcDateTime }, cancellationToken: cancellationToken));
            foreach (var row in rows)
            {
                result.Add((new ShadowWindowRow(size, start, row.P, row.A, row.B, ShadowAccumulator.Deserialize(row.State).Summarize()),
                    row.CountA ?? 0, row.CountB ?? 0));
            }
        }
        return result;
    }

}
