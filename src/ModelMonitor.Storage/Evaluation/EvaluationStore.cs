using Dapper;
using ModelMonitor.Core.Contracts;
using ModelMonitor.Core.Evaluation;
using ModelMonitor.Core.Windows;
using Npgsql;
using static ModelMonitor.Storage.PostgresValues;

namespace ModelMonitor.Storage.Evaluation;

/// <summary>One topic partition of the join's consumer.</summary>
public readonly record struct TopicPartitionKey(string Topic, int Partition);

/// <summary>What the join read since its last write: the next offset of each partition (and the one stored before, if
/// any: the compare-and-set), the predictions of evaluated predictors (first per (predictor, prediction_id, model)), the
/// outcomes (last per (predictor, prediction_id)) and the predictors their first outcome switches on.</summary>
public sealed record EvaluationBatch(
    IReadOnlyDictionary<TopicPartitionKey, long> NextOffsets,
    IReadOnlyDictionary<TopicPartitionKey, long> StoredOffsets,
    IReadOnlyList<PendingPrediction> Predictions,
    IReadOnlyList<Outcome> Outcomes,
    IReadOnlyList<EvaluatedPredictor> NewPredictors);

/// <summary>An evaluated predictor: its task, and whether it was configured or inferred from its first outcome.</summary>
public sealed record EvaluatedPredictor(string PredictorName, EvaluationTask Task, string Source);

/// <summary>What one write did.</summary>
public sealed record EvaluationWriteResult(
    bool Fenced,
    int PredictionsStored,
    int PredictionsRepeated,
    int OutcomesNew,
    int OutcomesReplaced,
    int OutcomesIdentical,
    long Pairs,
    long Retracted,
    long Unusable,
    int Rows)
{
    public static readonly EvaluationWriteResult FencedOut = new(true, 0, 0, 0, 0, 0, 0, 0, 0, 0);
}

/// <summary>A model's quality over its trailing 7 days (<see cref="EvaluationStore.ReadBaselinesAsync"/>).</summary>
public sealed record EvaluationBaseline(string PredictorName, string ModelId, EvaluationSummary Summary);

/// <summary>A row of evaluation_window_stats as the exporter reads it.</summary>
public sealed record EvaluationWindowRow(int WindowSeconds, DateTimeOffset WindowStart, string PredictorName, string ModelId, EvaluationSummary Summary);

/// <summary>
/// The evaluation tables (schema version 6): predictions waiting for outcomes, outcomes, evaluated predictors and model
/// quality per window. <see cref="WriteAsync"/> is one transaction per batch of the join, with the offsets of both topics
/// (compare-and-set: a consumer that lost its partitions fails there and rewinds), so nothing is joined twice or lost:
/// (1) offsets; (2) switched-on predictors; (3) new predictions (<c>ON CONFLICT DO NOTHING RETURNING</c>: a repeat is
/// ignored); (4) the stored outcome of each received one, to tell new, replaced and identical apart; (5) every stored
/// prediction of the touched prediction ids with its stored outcome, from which <see cref="EvaluationJoin"/> computes what
/// changes in which window; (6) the new and replaced outcomes written, marked matched when a prediction of their id is
/// stored (and an outcome that came first marked when its prediction comes); (7) the window rows created if missing,
/// locked and read in key order, merged and rewritten.
/// </summary>
public sealed class EvaluationStore(NpgsqlDataSource dataSource)
{
    /// <summary>Offsets of the join (consumer_offsets, window_seconds 0) for the given topics and partitions.</summary>
    public async Task<Dictionary<TopicPartitionKey, long>> LoadOffsetsAsync(string group, IReadOnlyCollection<TopicPartitionKey> partitions,
        CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var rows = await connection.QueryAsync<(string Topic, int Partition, long NextOffset)>(new CommandDefinition(
            """
            SELECT o.topic, o.partition, o.next_offset FROM consumer_offsets o
            JOIN unnest(@topics, @partitions) AS k(topic, partition) ON o.topic = k.topic AND o.partition = k.partition
            WHERE o.consumer_group = @group AND o.window_seconds = 0
            """,
            new { group, topics = partitions.Select(p => p.Topic).ToArray(), partitions = partitions.Select(p => p.Partition).ToArray() },
            cancellationToken: cancellationToken));
        return rows.ToDictionary(r => new TopicPartitionKey(r.Topic, r.Partition), r => r.NextOffset);
    }

    /// <summary>Every evaluated predictor (configured ones are written by the join when it first sees them).</summary>
    public async Task<IReadOnlyList<EvaluatedPredictor>> LoadPredictorsAsync(CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var rows = await connection.QueryAsync<(string Name, string Task, string Source)>(new CommandDefinition(
            "SELECT predictor_name, task, source FROM evaluation_predictors", cancellationToken: cancellationToken));
        return [.. rows.Select(r => new EvaluatedPredictor(r.Name, EvaluationOptions.ParseTask(r.Task) ?? EvaluationTask.Regression, r.Source))];
    }

    /// <param name="alsoInTransaction">More of the join's writes (the shadow comparison) made in the same transaction, after
    /// the offsets' compare-and-set succeeded and before the commit.</param>
    public async Task<EvaluationWriteResult> WriteAsync(string group, EvaluationBatch batch, IReadOnlyList<WindowSize> windows,
        Func<string, PredictorEvaluation> settingsOf, Func<string, TimeSpan> horizonOf, CancellationToken cancellationToken,
        Func<NpgsqlConnection, NpgsqlTransaction, CancellationToken, Task>? alsoInTransaction = null)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        if (!await AdvanceOffsetsAsync(connection, transaction, group, batch, cancellationToken))
        {
            await transaction.RollbackAsync(cancellationToken);
            return EvaluationWriteResult.FencedOut;
        }

        if (batch.NewPredictors.Count > 0)
        {
            await connection.ExecuteAsync(new CommandDefinition(
                """
                INSERT INTO evaluation_predictors (predictor_name, task, source)
                SELECT * FROM unnest(@names, @tasks, @sources) ON CONFLICT DO NOTHING
                """,
                new
                {
                    names = batch.NewPredictors.Select(p => p.PredictorName).ToArray(),
                    tasks = batch.NewPredictors.Select(p => EvaluationOptions.TaskName(p.Task)).ToArray(),
                    sources = batch.NewPredictors.Select(p => p.Source).ToArray(),
                },
                transaction, cancellationToken: cancellationToken));
        }

        var inserted = await InsertPredictionsAsync(connection, transaction, batch.Predictions, horizonOf, cancellationToken);
        var (previous, changed, identical) = await CompareOutcomesAsync(connection, transaction, batch.Outcomes, cancellationToken);

        // Every stored prediction of the touched ids (new predictions, new or replaced outcomes), with the outcome stored
        // before this batch: the current one unless this batch changes it.
        var changedByKey = changed.ToDictionary(o => (o.PredictorName, o.PredictionId));
        var touched = inserted.Select(k => (k.Predictor, k.PredictionId)).Concat(changedByKey.Keys).Distinct().ToList();
        var joined = await ReadJoinedAsync(connection, transaction, touched, cancellationToken);
        var rows = new List<JoinRow>(joined.Count);
        var predicted = new HashSet<(string, string)>();
        var newlyMatched = new HashSet<(string, string)>();
        foreach (var (prediction, stored, storedMatched) in joined)
        {
            var id = (prediction.PredictorName, prediction.PredictionId);
            predicted.Add(id);
            var isNew = inserted.Contains((prediction.PredictorName, prediction.PredictionId, prediction.ModelId));
            var isChanged = changedByKey.TryGetValue(id, out var replacement);
            if (!isNew && !isChanged)
            {
                continue; // another model's prediction of a touched id that nothing changed for
            }
            var current = isChanged ? new StoredOutcome(replacement!.Actual, replacement.ObservedAt) : stored;
            rows.Add(new JoinRow(prediction, isNew, isNew ? null : previous.GetValueOrDefault(id), current));
            if (stored is not null && !storedMatched && !isChanged)
            {
                newlyMatched.Add(id); // an outcome that came first met its prediction
            }
        }

        // The outcomes, written once with `matched` already known (no update of the rows just written: the planner,
        // seeing nearly every stored outcome matched, could pick a plan quadratic in the batch for it; BENCHMARKS.md §13).
        await WriteOutcomesAsync(connection, transaction, changed, predicted, horizonOf, cancellationToken);
        if (newlyMatched.Count > 0)
        {
            await connection.ExecuteAsync(new CommandDefinition(
                """
                UPDATE evaluation_outcomes o SET matched = true
                FROM unnest(@predictors, @ids) AS k(p, id)
                WHERE o.predictor_name = k.p AND o.prediction_id = k.id
                """,
                new { predictors = newlyMatched.Select(m => m.Item1).ToArray(), ids = newlyMatched.Select(m => m.Item2).ToArray() },
                transaction, cancellationToken: cancellationToken));
        }

        var contributions = EvaluationJoin.Contribute(rows, windows, settingsOf);
        await MergeWindowsAsync(connection, transaction, contributions.Rows, cancellationToken);
        if (alsoInTransaction is not null)
        {
            await alsoInTransaction(connection, transaction, cancellationToken);
        }
        await transaction.CommitAsync(cancellationToken);
        return new EvaluationWriteResult(false, inserted.Count, batch.Predictions.Count - inserted.Count,
            changed.Count - previous.Count, previous.Count, identical, contributions.Pairs, contributions.Retracted, contributions.Unusable,
            contributions.Rows.Count);
    }

    private static async Task<bool> AdvanceOffsetsAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string group,
        EvaluationBatch batch, CancellationToken cancellationToken)
    {
        if (batch.NextOffsets.Count == 0)
        {
            return true;
        }
        await using var command = new NpgsqlBatch(connection, transaction);
        foreach (var (key, next) in batch.NextOffsets.OrderBy(p => p.Key.Topic, StringComparer.Ordinal).ThenBy(p => p.Key.Partition))
        {
            var stored = batch.StoredOffsets.TryGetValue(key, out var expected);
            var statement = new NpgsqlBatchCommand(stored
                ? """
                  UPDATE consumer_offsets SET next_offset = $4, updated_at = now()
                  WHERE consumer_group = $1 AND topic = $2 AND partition = $3 AND window_seconds = 0 AND next_offset = $5
                  """
                : """
                  INSERT INTO consumer_offsets (consumer_group, topic, partition, window_seconds, next_offset)
                  VALUES ($1, $2, $3, 0, $4) ON CONFLICT DO NOTHING
                  """);
            statement.Parameters.Add(new NpgsqlParameter<string> { TypedValue = group });
            statement.Parameters.Add(new NpgsqlParameter<string> { TypedValue = key.Topic });
            statement.Parameters.Add(new NpgsqlParameter<int> { TypedValue = key.Partition });
            statement.Parameters.Add(new NpgsqlParameter<long> { TypedValue = next });
            if (stored)
            {
                statement.Parameters.Add(new NpgsqlParameter<long> { TypedValue = expected });
            }
            command.BatchCommands.Add(statement);
        }
        await command.ExecuteNonQueryAsync(cancellationToken);
        return Enumerable.All<NpgsqlBatchCommand>(command.BatchCommands, c => c.RecordsAffected == 1);
    }

    private static async Task<HashSet<(string Predictor, string PredictionId, string Model)>> InsertPredictionsAsync(NpgsqlConnection connection,
        NpgsqlTransaction transaction, IReadOnlyList<PendingPrediction> predictions, Func<string, TimeSpan> horizonOf, CancellationToken cancellationToken)
    {
        if (predictions.Count == 0)
        {
            return [];
        }
        // In key order: index locality (a prediction_id has one partition, so no other instance writes these keys).
        var ordered = predictions.OrderBy(p => p.PredictorName, StringComparer.Ordinal).ThenBy(p => p.PredictionId, StringComparer.Ordinal)
            .ThenBy(p => p.ModelId, StringComparer.Ordinal).ToList();
        var rows = await connection.QueryAsync<(string, string, string)>(new CommandDefinition(
            """
            INSERT INTO evaluation_predictions (predictor_name, prediction_id, model_id, sent_at, prediction_result, expires_at)
            SELECT * FROM unnest(@predictors, @ids, @models, @sentAt, @results, @expires)
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
                expires = ordered.Select(p => (p.SentAt + horizonOf(p.PredictorName)).UtcDateTime).ToArray(),
            },
            transaction, cancellationToken: cancellationToken));
        return [.. rows];
    }

    /// <returns>The previous outcome of each replaced one; the new and replaced outcomes (to write); how many were identical
    /// to what was stored (ignored).</returns>
    /// <remarks>Not locked: only the owner of a prediction_id's partition writes its outcome, and a consumer that lost the
    /// partition fails the offsets' compare-and-set, which this transaction made first.</remarks>
    private static async Task<(Dictionary<(string, string), StoredOutcome> Previous, List<Outcome> Changed, int Identical)> CompareOutcomesAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, IReadOnlyList<Outcome> outcomes, CancellationToken cancellationToken)
    {
        if (outcomes.Count == 0)
        {
            return ([], [], 0);
        }
        var ordered = outcomes.OrderBy(o => o.PredictorName, StringComparer.Ordinal).ThenBy(o => o.PredictionId, StringComparer.Ordinal).ToList();
        var stored = await connection.QueryAsync<(string Predictor, string Id, string Kind, double? Number, string? Label, DateTime ObservedAt)>(
            new CommandDefinition(
                """
                SELECT o.predictor_name, o.prediction_id, o.actual_kind, o.actual_number, o.actual_label, o.observed_at
                FROM evaluation_outcomes o JOIN unnest(@predictors, @ids) AS k(p, id) ON o.predictor_name = k.p AND o.prediction_id = k.id
                """,
                new { predictors = ordered.Select(o => o.PredictorName).ToArray(), ids = ordered.Select(o => o.PredictionId).ToArray() },
                transaction, cancellationToken: cancellationToken));
        var before = stored.ToDictionary(s => (s.Predictor, s.Id), s => new StoredOutcome(ActualOf(s.Kind, s.Number, s.Label), Utc(s.ObservedAt)));

        var previous = new Dictionary<(string, string), StoredOutcome>();
        var changed = new List<Outcome>();
        var identical = 0;
        foreach (var outcome in ordered)
        {
            var key = (outcome.PredictorName, outcome.PredictionId);
            if (before.TryGetValue(key, out var old))
            {
                // The value decides: the same actual again (a retry, a re-sent file) is ignored, even with another observed_at.
                if (old.Actual == outcome.Actual)
                {
                    identical++;
                    continue;
                }
                previous[key] = old;
            }
            changed.Add(outcome);
        }
        return (previous, changed, identical);
    }

    /// <summary>Writes new and replaced outcomes, matched when a prediction of their id is stored.</summary>
    private static async Task WriteOutcomesAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, List<Outcome> changed,
        HashSet<(string, string)> predicted, Func<string, TimeSpan> horizonOf, CancellationToken cancellationToken)
    {
        if (changed.Count == 0)
        {
            return;
        }
        await connection.ExecuteAsync(new CommandDefinition(
            """
            INSERT INTO evaluation_outcomes (predictor_name, prediction_id, actual_kind, actual_number, actual_label, observed_at, matched, expires_at)
            SELECT * FROM unnest(@predictors, @ids, @kinds, @numbers, @labels, @observedAt, @matched, @expires)
            ON CONFLICT (predictor_name, prediction_id) DO UPDATE SET
                actual_kind = excluded.actual_kind, actual_number = excluded.actual_number, actual_label = excluded.actual_label,
                observed_at = excluded.observed_at, matched = excluded.matched OR evaluation_outcomes.matched, expires_at = excluded.expires_at
            """,
            new
            {
                predictors = changed.Select(o => o.PredictorName).ToArray(),
                ids = changed.Select(o => o.PredictionId).ToArray(),
                kinds = changed.Select(o => KindName(o.Actual.Kind)).ToArray(),
                numbers = changed.Select(o => o.Actual.Kind == ActualKind.Label ? (double?)null : o.Actual.Number).ToArray(),
                labels = changed.Select(o => o.Actual.Label).ToArray(),
                observedAt = changed.Select(o => o.ObservedAt.UtcDateTime).ToArray(),
                matched = changed.Select(o => predicted.Contains((o.PredictorName, o.PredictionId))).ToArray(),
                expires = changed.Select(o => (o.ObservedAt + horizonOf(o.PredictorName)).UtcDateTime).ToArray(),
            },
            transaction, cancellationToken: cancellationToken));
    }

    /// <summary>Every stored prediction of the given (predictor, prediction_id)s, with the outcome stored before this batch's
    /// and whether it was matched.</summary>
    private static async Task<List<(PendingPrediction Prediction, StoredOutcome? Outcome, bool Matched)>> ReadJoinedAsync(NpgsqlConnection connection,
        NpgsqlTransaction transaction, List<(string Predictor, string PredictionId)> ids, CancellationToken cancellationToken)
    {
        if (ids.Count == 0)
        {
            return [];
        }
        var rows = await connection.QueryAsync<(string Predictor, string Id, string Model, DateTime SentAt, double Result,
            string? Kind, double? Number, string? Label, DateTime? ObservedAt, bool? Matched)>(new CommandDefinition(
            """
            SELECT p.predictor_name, p.prediction_id, p.model_id, p.sent_at, p.prediction_result,
                   o.actual_kind, o.actual_number, o.actual_label, o.observed_at, o.matched
            FROM unnest(@predictors, @ids) AS k(p, id)
            JOIN evaluation_predictions p ON p.predictor_name = k.p AND p.prediction_id = k.id
            LEFT JOIN evaluation_outcomes o ON o.predictor_name = k.p AND o.prediction_id = k.id
            """,
            new { predictors = ids.Select(i => i.Predictor).ToArray(), ids = ids.Select(i => i.PredictionId).ToArray() },
            transaction, cancellationToken: cancellationToken));
        return [.. rows.Select(r => (
            new PendingPrediction(r.Predictor, r.Id, r.Model, Utc(r.SentAt), r.Result),
            r.Kind is null ? null : new StoredOutcome(ActualOf(r.Kind, r.Number, r.Label), Utc(r.ObservedAt!.Value)),
            r.Matched ?? false))];
    }

    /// <summary>Creates the missing window rows, locks and reads every touched one in key order (instances writing the same
    /// model's windows cannot deadlock), merges the contributions and rewrites them with their computed columns.</summary>
    private static async Task MergeWindowsAsync(NpgsqlConnection connection, NpgsqlTransaction transaction,
        Dictionary<EvaluationKey, EvaluationAccumulator> contributions, CancellationToken cancellationToken)
    {
        if (contributions.Count == 0)
        {
            return;
        }
        var keys = contributions.Keys.OrderBy(k => k.WindowSeconds).ThenBy(k => k.PredictorName, StringComparer.Ordinal)
            .ThenBy(k => k.ModelId, StringComparer.Ordinal).ThenBy(k => k.WindowStart).ToList();
        var parameters = new
        {
            ws = keys.Select(k => k.WindowSeconds).ToArray(),
            st = keys.Select(k => k.WindowStart.UtcDateTime).ToArray(),
            p = keys.Select(k => k.PredictorName).ToArray(),
            m = keys.Select(k => k.ModelId).ToArray(),
            task = keys.Select(k => EvaluationOptions.TaskName(contributions[k].Task)).ToArray(),
        };
        await connection.ExecuteAsync(new CommandDefinition(
            """
            INSERT INTO evaluation_window_stats (window_seconds, window_start, predictor_name, model_id, task, prediction_count, labelled_count, state)
            SELECT ws, st, p, m, task, 0, 0, '\x'::bytea FROM unnest(@ws, @st, @p, @m, @task) AS k(ws, st, p, m, task)
            ON CONFLICT DO NOTHING
            """, parameters, transaction, cancellationToken: cancellationToken));
        var stored = await connection.QueryAsync<(int Ws, DateTime St, string P, string M, byte[] State)>(new CommandDefinition(
            """
            SELECT s.window_seconds, s.window_start, s.predictor_name, s.model_id, s.state
            FROM evaluation_window_stats s JOIN unnest(@ws, @st, @p, @m) AS k(ws, st, p, m)
              ON s.window_seconds = k.ws AND s.window_start = k.st AND s.predictor_name = k.p AND s.model_id = k.m
            ORDER BY s.window_seconds, s.predictor_name, s.model_id, s.window_start
            FOR UPDATE OF s
            """, parameters, transaction, cancellationToken: cancellationToken));

        await using var batch = new NpgsqlBatch(connection, transaction);
        foreach (var row in stored)
        {
            var key = new EvaluationKey(row.Ws, Utc(row.St), row.P, row.M);
            var merged = contributions[key];
            if (row.State.Length > 0)
            {
                var existing = EvaluationAccumulator.Deserialize(row.State);
                if (existing.Task == merged.Task && existing.Threshold.Equals(merged.Threshold))
                {
                    existing.Merge(merged);
                    merged = existing;
                }
                // else: the predictor's task or threshold was reconfigured: the window starts over with the new settings.
            }
            batch.BatchCommands.Add(UpdateWindow(key, merged));
        }
        await batch.ExecuteNonQueryAsync(cancellationToken);
    }

    private static NpgsqlBatchCommand UpdateWindow(EvaluationKey key, EvaluationAccumulator accumulator)
    {
        var s = accumulator.Summarize();
        var command = new NpgsqlBatchCommand(
            """
            UPDATE evaluation_window_stats SET task = $5, prediction_count = $6, labelled_count = $7, label_coverage = $8,
                mae = $9, rmse = $10, mean_error = $11, mape = $12, r2 = $13,
                abs_error_p50 = $14, abs_error_p90 = $15, abs_error_p95 = $16, abs_error_p99 = $17,
                accuracy = $18, precision = $19, recall = $20, f1 = $21, log_loss = $22, brier = $23, roc_auc = $24,
                label_delay_p50 = $25, label_delay_p90 = $26, label_delay_p99 = $27, state = $28, updated_at = now()
            WHERE window_seconds = $1 AND window_start = $2 AND predictor_name = $3 AND model_id = $4
            """);
        var p = command.Parameters;
        p.Add(new NpgsqlParameter<int> { TypedValue = key.WindowSeconds });
        p.Add(new NpgsqlParameter<DateTime> { TypedValue = key.WindowStart.UtcDateTime });
        p.Add(new NpgsqlParameter<string> { TypedValue = key.PredictorName });
        p.Add(new NpgsqlParameter<string> { TypedValue = key.ModelId });
        p.Add(new NpgsqlParameter<string> { TypedValue = EvaluationOptions.TaskName(accumulator.Task) });
        p.Add(new NpgsqlParameter<long> { TypedValue = s.PredictionCount });
        p.Add(new NpgsqlParameter<long> { TypedValue = s.LabelledCount });
        foreach (var value in (double?[])[s.LabelCoverage, s.Mae, s.Rmse, s.MeanError, s.Mape, s.R2])
        {
            p.Add(FiniteOrNull(value));
        }
        foreach (var q in EvaluationQuantiles.AbsError)
        {
            p.Add(FiniteOrNull(QuantileOf(s.AbsErrorQuantiles, q)));
        }
        foreach (var value in (double?[])[s.Accuracy, s.Precision, s.Recall, s.F1, s.LogLoss, s.Brier, s.RocAuc])
        {
            p.Add(FiniteOrNull(value));
        }
        foreach (var q in EvaluationQuantiles.LabelDelay)
        {
            p.Add(FiniteOrNull(QuantileOf(s.LabelDelayQuantiles, q)));
        }
        p.Add(new NpgsqlParameter<byte[]> { TypedValue = accumulator.Serialize() });
        return command;
    }


    private static double? QuantileOf(IReadOnlyList<(double Quantile, double Value)> quantiles, double q)
    {
        foreach (var (quantile, value) in quantiles)
        {
            if (quantile.Equals(q))
            {
                return value;
            }
        }
        return null;
    }

    /// <summary>Deletes predictions and outcomes past their horizon, at most <paramref name="batchSize"/> of each per call.</summary>
    /// <returns>Deleted predictions that never got an outcome, and deleted outcomes that never matched a prediction.</returns>
    public async Task<(int PredictionsUnlabelled, int OutcomesUnmatched, int Deleted)> ExpireAsync(DateTimeOffset now, int batchSize,
        CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var predictions = (await connection.QueryAsync<bool>(new CommandDefinition(
            """
            DELETE FROM evaluation_predictions p WHERE ctid IN (
                SELECT ctid FROM evaluation_predictions WHERE expires_at < @now LIMIT @batchSize)
            RETURNING NOT EXISTS (SELECT 1 FROM evaluation_outcomes o
                                  WHERE o.predictor_name = p.predictor_name AND o.prediction_id = p.prediction_id)
            """,
            new { now = now.UtcDateTime, batchSize }, cancellationToken: cancellationToken))).ToList();
        var outcomes = (await connection.QueryAsync<bool>(new CommandDefinition(
            """
            DELETE FROM evaluation_outcomes WHERE ctid IN (
                SELECT ctid FROM evaluation_outcomes WHERE expires_at < @now LIMIT @batchSize)
            RETURNING NOT matched
            """,
            new { now = now.UtcDateTime, batchSize }, cancellationToken: cancellationToken))).ToList();
        return (predictions.Count(u => u), outcomes.Count(u => u), predictions.Count + outcomes.Count);
    }

    /// <summary>For each (window size, predictor, model), the latest window with at least <paramref name="minLabelled"/>
    /// labelled predictions (the exporter publishes it: labels arrive late, so the newest windows have few).</summary>
    /// <param name="since">Windows starting before it are not looked at (older than any label horizon).</param>
    public async Task<IReadOnlyList<EvaluationWindowRow>> ReadLatestLabelledAsync(int minLabelled, DateTimeOffset since, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var rows = await connection.QueryAsync<(int Ws, DateTime St, string P, string M, byte[] State)>(new CommandDefinition(
            """
            SELECT DISTINCT ON (e.window_seconds, e.predictor_name, e.model_id) e.window_seconds, e.window_start, e.predictor_name, e.model_id, e.state
            FROM evaluation_window_stats e
            WHERE e.labelled_count >= @minLabelled AND e.window_start >= @since
              -- A model retired by an operator and silent since is not exported, as its statistics are not.
              AND NOT EXISTS (SELECT 1 FROM retired_models r JOIN models m ON m.predictor_name = r.predictor_name AND r.model_id IN ('', m.model_id)
                              WHERE m.predictor_name = e.predictor_name AND m.model_id = e.model_id AND r.retired_at >= m.last_seen)
            ORDER BY e.window_seconds, e.predictor_name, e.model_id, e.window_start DESC
            """,
            new { minLabelled, since = since.UtcDateTime }, cancellationToken: cancellationToken));
        return [.. rows.Select(r => new EvaluationWindowRow(r.Ws, Utc(r.St), r.P, r.M, EvaluationAccumulator.Deserialize(r.State).Summarize()))];
    }

    /// <summary>
    /// Each model's quality over the 7 days before its current window of the largest size it has (the windows of that
    /// size starting in [current start − 7 days, current start)), pooled exactly: the states merged, so the MAE is that of
    /// every pair of the period, not an average of averages. What ModelMonitorEvaluationRegression compares with.
    /// </summary>
    public async Task<IReadOnlyList<EvaluationBaseline>> ReadBaselinesAsync(DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var rows = await connection.QueryAsync<(string P, string M, int Ws, byte[] State)>(new CommandDefinition(
            """
            WITH sizes AS (
                SELECT predictor_name, model_id, max(window_seconds) AS ws,
                       to_timestamp(floor(extract(epoch FROM @now::timestamptz) / max(window_seconds)) * max(window_seconds)) AS current_start
                FROM evaluation_window_stats
                WHERE window_start >= @now::timestamptz - interval '8 days'
                GROUP BY predictor_name, model_id)
            SELECT s.predictor_name, s.model_id, s.window_seconds, s.state
            FROM evaluation_window_stats s
            JOIN sizes z ON s.predictor_name = z.predictor_name AND s.model_id = z.model_id AND s.window_seconds = z.ws
            WHERE s.window_start >= z.current_start - interval '7 days' AND s.window_start < z.current_start AND s.labelled_count > 0
              AND NOT EXISTS (SELECT 1 FROM retired_models r JOIN models m ON m.predictor_name = r.predictor_name AND r.model_id IN ('', m.model_id)
                              WHERE m.predictor_name = s.predictor_name AND m.model_id = s.model_id AND r.retired_at >= m.last_seen)
            """,
            new { now = now.UtcDateTime }, cancellationToken: cancellationToken));
        var merged = new Dictionary<(string, string), EvaluationAccumulator>();
        foreach (var row in rows)
        {
            var state = EvaluationAccumulator.Deserialize(row.State);
            if (!merged.TryGetValue((row.P, row.M), out var total))
            {
                merged[(row.P, row.M)] = state;
            }
            else if (total.Task == state.Task && total.Threshold.Equals(state.Threshold))
            {
                total.Merge(state);
            }
        }
        return [.. merged.Select(m => new EvaluationBaseline(m.Key.Item1, m.Key.Item2, m.Value.Summarize()))];
    }

    private static ActualValue ActualOf(string kind, double? number, string? label) => kind switch
    {
        "label" => ActualValue.Of(label!),
        "boolean" => ActualValue.Of(number == 1),
        _ => ActualValue.Of(number ?? double.NaN),
    };

    private static string KindName(ActualKind kind) => kind switch
    {
        ActualKind.Label => "label",
        ActualKind.Boolean => "boolean",
        _ => "number",
    };

}
