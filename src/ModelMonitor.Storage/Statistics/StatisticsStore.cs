using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using System.Text.Json;
using Dapper;
using Microsoft.Extensions.Logging;
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

/// <summary>One window size's part of a flush: what it gained since its own last flush, and the next offsets Postgres
/// holds in that window size's own offset rows (absent partition: no row yet). <paramref name="ReuseWrittenRows"/>: keep
/// the feature rows this flush writes and update them in the size's next flush without reading them back
/// (<see cref="WrittenRowCache"/>); for the size written most often, by a sole writer.</summary>
public sealed record WindowFlush(int WindowSeconds, AggregationDelta Delta, IReadOnlyDictionary<int, long> ExpectedOffsets, bool ReuseWrittenRows = false);

/// <summary>A stored next offset of one partition for one window size. <see cref="LegacyWindowSeconds"/> (0) is a row
/// written before each window size kept its own (schema version 3): it stands for every size without a row of its own.</summary>
public readonly record struct StoredOffset(int Partition, int WindowSeconds, long NextOffset)
{
    public const int LegacyWindowSeconds = 0;
}

/// <summary>
/// Writes deltas and the offsets they consumed to Postgres in ONE transaction (exactly once). Each window size keeps
/// its own offsets (consumer_offsets.window_seconds), so sizes are written on their own cadence: a 1h row need not be
/// rewritten at the rate of the 1m rows, and each size still counts every record exactly once.
/// 1. compare-and-set every (partition, window size)'s next_offset (fencing: a consumer that lost its partition fails here);
/// 2. create the missing window rows (ON CONFLICT DO NOTHING), then lock and read back the touched rows (SELECT … FOR
///    UPDATE), both in primary-key order, so instances flushing the same hot model from different partitions cannot
///    deadlock; a row is rewritten once per flush (an upsert that locked by updating wrote every row twice);
/// 3. merge the delta into them in C# (counts add, Chan's formula, sketch merge, top-K) and update them;
/// 4. widen models.first_seen / last_seen.
/// Every step is one round trip over arrays (unnest), whatever the number of rows. Feature rows of a size flushed with
/// <see cref="WindowFlush.ReuseWrittenRows"/> skip step 2 when the row is still as this store last wrote it
/// (<see cref="WrittenRowCache"/>: the update checks the row's xmin; a row that changed is read back as above).
/// </summary>
public sealed class StatisticsStore(NpgsqlDataSource dataSource, int categoryCapacity, ILogger<StatisticsStore>? logger = null)
{
    /// <summary>Flushes a size's reuse stays off for after most of its cached rows turned out changed by another writer.</summary>
    internal const int ReuseSuspensionFlushes = 120;

    private static readonly IReadOnlyList<double> Quantiles = NumericDistribution.ReportedQuantiles;

    // Per window size, the feature rows the last committed flush of that size wrote: they exist, so the next flush of
    // the size (mostly the same open windows) does not send them to the INSERT … ON CONFLICT DO NOTHING that creates
    // missing rows. A row deleted since (retention, by hand) is found missing by the locking SELECT and created then.
    private readonly Dictionary<int, HashSet<(ModelWindowKey Model, string Feature)>> _existingFeatureRows = [];
    private readonly Lock _existingLock = new();

    // Per window size flushed with ReuseWrittenRows: the rows its last committed flush wrote, as written; taken out of the
    // dictionary for the flush that uses it (one at a time). Under _existingLock.
    private readonly Dictionary<int, WrittenRowCache> _caches = [];
    private readonly Dictionary<int, int> _reuseSuspended = [];
    private long _rowsReused;
    private long _rowsStale;

    /// <summary>Feature rows updated from this store's copy, without being read back (since start).</summary>
    public long RowsReused => Interlocked.Read(ref _rowsReused);

    /// <summary>Feature rows whose copy turned out changed by another writer and were read back after all (since start).</summary>
    public long RowsStale => Interlocked.Read(ref _rowsStale);

    /// <summary>The stored next offsets of <paramref name="partitions"/>, every window size's (none: never flushed).</summary>
    public async Task<List<StoredOffset>> LoadOffsetsAsync(string group, string topic, IReadOnlyCollection<int> partitions, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var rows = await connection.QueryAsync<(int Partition, int WindowSeconds, long NextOffset)>(new CommandDefinition(
            """
            SELECT partition, window_seconds, next_offset FROM consumer_offsets
            WHERE consumer_group = @group AND topic = @topic AND partition = ANY(@partitions)
            """,
            new { group, topic, partitions = partitions.ToArray() },
            cancellationToken: cancellationToken));
        return [.. rows.Select(r => new StoredOffset(r.Partition, r.WindowSeconds, r.NextOffset))];
    }

    /// <summary>Writes every <paramref name="flushes"/> item and advances its window size's offsets, in one transaction.</summary>
    public async Task<(FlushOutcome Outcome, int Rows)> FlushAsync(
        string group,
        string topic,
        IReadOnlyList<WindowFlush> flushes,
        CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var context = new FlushContext(TakeCaches(flushes));
        try
        {
            if (!await AdvanceOffsetsAsync(connection, transaction, group, topic, flushes, cancellationToken))
            {
                await transaction.RollbackAsync(cancellationToken);
                return (FlushOutcome.Fenced, 0);
            }

            var rows = await WriteStatisticsAsync(connection, transaction, [.. flushes.Select(f => f.Delta)], context, cancellationToken);
            await transaction.CommitAsync(cancellationToken);
            context.Committed = true;
            lock (_existingLock)
            {
                foreach (var (windowSeconds, keys) in context.Written)
                {
                    _existingFeatureRows[windowSeconds] = keys;
                }
            }

            return (FlushOutcome.Committed, rows);
        }
        finally
        {
            ReturnCaches(context);
        }
    }

    /// <summary>The caches of the sizes in <paramref name="flushes"/> that reuse their rows, taken out for this flush; a size
    /// that no longer asks for reuse loses its cache.</summary>
    private Dictionary<int, WrittenRowCache> TakeCaches(IReadOnlyList<WindowFlush> flushes)
    {
        var taken = new Dictionary<int, WrittenRowCache>();
        lock (_existingLock)
        {
            foreach (var flush in flushes)
            {
                _caches.Remove(flush.WindowSeconds, out var cache);
                if (!flush.ReuseWrittenRows)
                {
                    continue;
                }

                if (_reuseSuspended.TryGetValue(flush.WindowSeconds, out var left) && left > 0)
                {
                    _reuseSuspended[flush.WindowSeconds] = left - 1;
                    continue;
                }

                taken[flush.WindowSeconds] = cache ?? new WrittenRowCache(categoryCapacity);
            }
        }

        return taken;
    }

    private void ReturnCaches(FlushContext context)
    {
        foreach (var (windowSeconds, cache) in context.Caches)
        {
            if (context.Committed && context.Xmin is { } xmin)
            {
                cache.Committed(xmin);
            }
            else if (context.Committed)
            {
                cache.Committed(0); // no feature row written: none is cached
            }
            else
            {
                cache.Abandoned();
            }

            var (reused, stale) = context.Reuse.GetValueOrDefault(windowSeconds);
            lock (_existingLock)
            {
                // Most of the copies changed under us: another writer (an instance sharing the topic) updates these rows,
                // so every flush would pay an update for nothing and read them back anyway. Stop trying for a while.
                if (stale >= 100 && stale * 4 >= reused + stale)
                {
                    _reuseSuspended[windowSeconds] = ReuseSuspensionFlushes;
                    logger?.LogInformation(
                        "{Stale} of {Rows} cached rows of {Window} s windows were changed by another writer: reading them back for the next {Flushes} flushes",
                        stale,
                        reused + stale,
                        windowSeconds,
                        ReuseSuspensionFlushes);
                    continue;
                }

                _caches[windowSeconds] = cache;
            }
        }
    }

    /// <summary>What one flush carries between its steps: the caches it uses, the rows it wrote, the transaction's id.</summary>
    private sealed class FlushContext(Dictionary<int, WrittenRowCache> caches)
    {
        public Dictionary<int, WrittenRowCache> Caches { get; } = caches;

        /// <summary>The feature rows written per window size, for <see cref="_existingFeatureRows"/> once committed.</summary>
        public Dictionary<int, HashSet<(ModelWindowKey Model, string Feature)>> Written { get; } = [];

        /// <summary>Per window size: rows updated from the cache, rows whose copy was stale.</summary>
        public Dictionary<int, (int Reused, int Stale)> Reuse { get; } = [];

        /// <summary>The writing transaction's id, as the rows it updated carry it (xmin).</summary>
        public uint? Xmin { get; set; }

        public bool Committed { get; set; }
    }

    /// <summary>
    /// Writes the statistics of <paramref name="deltas"/> (no offsets) in a transaction that is then rolled back:
    /// whether Postgres accepts these values. Throws what the write throws (see <see cref="PoisonReplay"/>).
    /// </summary>
    public async Task TryWriteAsync(IReadOnlyList<AggregationDelta> deltas, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await WriteStatisticsAsync(connection, transaction, deltas, context: null, cancellationToken);
        await transaction.RollbackAsync(cancellationToken);
    }

    /// <summary>The window rows of every delta, then the models' first and last seen of all of them in one statement (each
    /// window size's delta saw the same models). <paramref name="context"/>: null for a trial write (rolled back).</summary>
    private async Task<int> WriteStatisticsAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, IReadOnlyList<AggregationDelta> deltas,
        FlushContext? context, CancellationToken cancellationToken)
    {
        var rows = 0;
        var seen = new Dictionary<(string PredictorName, string ModelId), (DateTimeOffset First, DateTimeOffset Last)>();
        foreach (var delta in deltas)
        {
            var models = delta.Windows.Keys.ToArray();
            var features = delta.Windows.SelectMany(w => w.Value.Features.Keys.Select(f => (Model: w.Key, Feature: f))).ToArray();
            if (models.Length > 0)
            {
                await WriteModelRowsAsync(connection, transaction, delta, models, cancellationToken);
            }

            if (features.Length > 0)
            {
                await WriteFeatureRowsAsync(connection, transaction, delta, features, context, cancellationToken);
            }

            foreach (var (model, (first, last)) in delta.Seen)
            {
                seen[model] = seen.TryGetValue(model, out var known)
                    ? (known.First < first ? known.First : first, known.Last > last ? known.Last : last)
                    : (first, last);
            }

            rows += models.Length + features.Length;
        }

        if (seen.Count > 0)
        {
            await WriteModelsSeenAsync(connection, transaction, seen, cancellationToken);
        }

        return rows;
    }

    /// <summary>Deletes up to <paramref name="batchSize"/> rows of windows older than the cutoff; returns rows deleted.</summary>
    public async Task<int> DeleteExpiredAsync(string table, int windowSeconds, DateTimeOffset cutoff, int batchSize, CancellationToken cancellationToken)
    {
        if (table is not ("feature_window_stats" or "model_window_stats" or "feature_drift" or "prediction_drift" or "drift_windows" or "evaluation_window_stats"))
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
        IReadOnlyList<WindowFlush> flushes,
        CancellationToken cancellationToken)
    {
        await using var batch = new NpgsqlBatch(connection, transaction);
        foreach (var flush in flushes.OrderBy(f => f.WindowSeconds))
        {
            foreach (var (partition, next) in flush.Delta.NextOffsets.OrderBy(p => p.Key))
            {
                var command = flush.ExpectedOffsets.TryGetValue(partition, out var expected)
                    ? new NpgsqlBatchCommand(
                        """
                        UPDATE consumer_offsets SET next_offset = $5, updated_at = now()
                        WHERE consumer_group = $1 AND topic = $2 AND partition = $3 AND window_seconds = $4 AND next_offset = $6
                        """)
                    : new NpgsqlBatchCommand(
                        """
                        INSERT INTO consumer_offsets (consumer_group, topic, partition, window_seconds, next_offset)
                        VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING
                        """);
                command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = group });
                command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = topic });
                command.Parameters.Add(new NpgsqlParameter<int> { TypedValue = partition });
                command.Parameters.Add(new NpgsqlParameter<int> { TypedValue = flush.WindowSeconds });
                command.Parameters.Add(new NpgsqlParameter<long> { TypedValue = next });
                if (flush.ExpectedOffsets.ContainsKey(partition))
                {
                    command.Parameters.Add(new NpgsqlParameter<long> { TypedValue = expected });
                }

                batch.BatchCommands.Add(command);
            }
        }

        if (batch.BatchCommands.Count == 0)
        {
            return true;
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
        var n = keys.Length;
        var predictionCount = new long[n];
        var nonFinite = new long[n];
        var numeric = new NumericColumns(n);
        // One accumulator reused for every row: the stored row is loaded into it, the delta merged in, the result taken
        // out (an accumulator per row read back was garbage a third of the aggregator's CPU went to collecting).
        var merged = new ModelAccumulator();
        var sketch = new SketchBuffer();
        await ReadBackLockedAsync(
            connection,
            transaction,
            "model_window_stats",
            """
            INSERT INTO model_window_stats (window_seconds, window_start, predictor_name, model_id, prediction_count, nonfinite_count, numeric_count)
            SELECT k.ws, k.st, k.p, k.m, 0, 0, 0
            FROM unnest($1, $2, $3, $4) AS k(ws, st, p, m)
            ORDER BY k.ws, k.p COLLATE "C", k.m COLLATE "C", k.st
            ON CONFLICT DO NOTHING
            """,
            """
            SELECT k.i, t.prediction_count, t.nonfinite_count, t.numeric_count, t.mean, t.m2, t.min, t.max, t.sketch, t.m2_scale
            FROM unnest($1, $2, $3, $4) WITH ORDINALITY AS k(ws, st, p, m, i)
            JOIN model_window_stats t
              ON t.window_seconds = k.ws AND t.predictor_name = k.p AND t.model_id = k.m AND t.window_start = k.st
            ORDER BY k.ws, k.p COLLATE "C", k.m COLLATE "C", k.st
            FOR UPDATE OF t
            """,
            n,
            existing: null,
            subset => KeyColumns.Rent().Fill(keys, subset),
            (i, reader) =>
            {
                merged.LoadCounts(reader.GetInt64(1), reader.GetInt64(2));
                LoadDistribution(reader, merged.Result, countOrdinal: 3, scaleOrdinal: 9, sketch);
                merged.Merge(delta.Windows[keys[i]].Model);
                predictionCount[i] = merged.PredictionCount;
                nonFinite[i] = merged.NonFiniteCount;
                numeric.Set(i, merged.Result);
            },
            cancellationToken);

        await using var update = new NpgsqlCommand(
            $$"""
            UPDATE model_window_stats AS t
            SET prediction_count = u.pc, nonfinite_count = u.nf, numeric_count = u.nc,
                mean = u.mean, m2 = u.m2, m2_scale = u.m2s, stddev = u.sd, min = u.mn, max = u.mx,
                p05 = u.p05, p25 = u.p25, p50 = u.p50, p75 = u.p75, p95 = u.p95,
                sketch = {{SketchValue}}, updated_at = now()
            FROM unnest(@ws, @st, @p, @m, @pc, @nf, @nc, @mean, @m2, @m2s, @sd, @mn, @mx, @p05, @p25, @p50, @p75, @p95, @sk)
                 AS u(ws, st, p, m, pc, nf, nc, mean, m2, m2s, sd, mn, mx, p05, p25, p50, p75, p95, sk)
            WHERE t.window_seconds = u.ws AND t.window_start = u.st AND t.predictor_name = u.p AND t.model_id = u.m
            """,
            connection,
            transaction);
        var keyColumns = KeyColumns.Rent().Fill(keys, subset: null);
        keyColumns.AddParameters(update.Parameters, named: true);
        update.Parameters.Add(new NpgsqlParameter<long[]>("pc", predictionCount));
        update.Parameters.Add(new NpgsqlParameter<long[]>("nf", nonFinite));
        numeric.AddParameters(update);
        await update.ExecuteNonQueryAsync(cancellationToken);
        KeyColumns.Return(keyColumns);
    }

    /// <summary>
    /// The feature rows of <paramref name="delta"/> (one window size). Rows the size's cache holds are merged there and
    /// updated only if their xmin is still the cached one; the others are created if missing, locked and read back
    /// (<see cref="ReadBackLockedAsync"/>) and merged. A cached row the update did not match was changed by another writer:
    /// it is read back and updated in a second round trip. Every row is written exactly once either way.
    /// </summary>
    private async Task WriteFeatureRowsAsync(
        NpgsqlConnection connection,
        NpgsqlTransaction transaction,
        AggregationDelta delta,
        (ModelWindowKey Model, string Feature)[] keys,
        FlushContext? context,
        CancellationToken cancellationToken)
    {
        var n = keys.Length;
        var windowSeconds = keys[0].Model.WindowSeconds;
        var cache = context?.Caches.GetValueOrDefault(windowSeconds);
        var copies = new List<(int Position, uint Xmin, FeatureAccumulator State)>(); // rows updated from the cache's copy
        var readBack = new List<int>(cache is null ? n : 0);
        for (var i = 0; i < n; i++)
        {
            if (cache is not null && cache.TryTake(keys[i], out var entry))
            {
                entry.State.Merge(DeltaOf(delta, keys[i]));
                entry.State.KeepStoredForm();
                cache.Stage(keys[i], entry.State);
                copies.Add((i, entry.Xmin, entry.State));
            }
            else
            {
                readBack.Add(i);
            }
        }

        var stale = Array.Empty<int>();
        if (copies.Count > 0)
        {
            var columns = FeatureColumns.Rent(copies.Count);
            for (var j = 0; j < copies.Count; j++)
            {
                columns.Set(j, copies[j].State);
            }

            var updated = await UpdateCopiedRowsAsync(
                connection, transaction, [.. copies.Select(c => keys[c.Position])], columns, [.. copies.Select(c => c.Xmin)], context, cancellationToken);
            FeatureColumns.Return(columns);
            stale = [.. copies.Where((_, j) => !updated[j]).Select(c => c.Position)];
            foreach (var i in stale)
            {
                cache!.Unstage(keys[i]); // read back below, with the rows no copy was held for
            }
        }

        var merged = new FeatureAccumulator(categoryCapacity); // reused for every row when nothing is cached (see WriteModelRowsAsync)
        await ReadBackAndUpdateAsync([.. readBack.Concat(stale)]);

        if (context is not null)
        {
            if (cache is not null)
            {
                context.Reuse[windowSeconds] = (copies.Count - stale.Length, stale.Length);
                Interlocked.Add(ref _rowsReused, copies.Count - stale.Length);
                Interlocked.Add(ref _rowsStale, stale.Length);
            }

            if (!context.Written.TryGetValue(windowSeconds, out var rows))
            {
                context.Written[windowSeconds] = rows = [];
            }

            rows.UnionWith(keys);
        }

        // Creates the missing rows among positions, locks and reads them back, merges the delta into each (then hands the
        // result to the cache, which keeps it, or uses the one reused accumulator) and updates them where the lock found them.
        async Task ReadBackAndUpdateAsync(int[] positions)
        {
            if (positions.Length == 0)
            {
                return;
            }

            var subset = positions.Length == n ? keys : [.. positions.Select(i => keys[i])];
            var existing = context is null ? null : ExistingRows(subset);
            var sketch = new SketchBuffer();
            var columns = FeatureColumns.Rent(positions.Length);
            var tids = new NpgsqlTid[positions.Length];
            await ReadBackLockedAsync(
                connection,
                transaction,
                "feature_window_stats",
                """
                INSERT INTO feature_window_stats (window_seconds, window_start, predictor_name, model_id, feature,
                    value_count, null_count, default_count, nonfinite_count, numeric_count, categorical_count)
                SELECT k.ws, k.st, k.p, k.m, k.f, 0, 0, 0, 0, 0, 0
                FROM unnest($1, $2, $3, $4, $5) AS k(ws, st, p, m, f)
                ORDER BY k.ws, k.p COLLATE "C", k.m COLLATE "C", k.f COLLATE "C", k.st
                ON CONFLICT DO NOTHING
                """,
                $$"""
                SELECT k.i, t.ctid, {{FeatureStatisticsColumns}}
                FROM unnest($1, $2, $3, $4, $5) WITH ORDINALITY AS k(ws, st, p, m, f, i)
                JOIN feature_window_stats t
                  ON t.window_seconds = k.ws AND t.predictor_name = k.p AND t.model_id = k.m AND t.feature = k.f AND t.window_start = k.st
                ORDER BY k.ws, k.p COLLATE "C", k.m COLLATE "C", k.f COLLATE "C", k.st
                FOR UPDATE OF t
                """,
                subset.Length,
                existing,
                part => KeyColumns.Rent().Fill(subset, part),
                (j, reader) =>
                {
                    var i = positions[j];
                    var state = cache?.Rent() ?? merged;
                    LoadFeature(reader, first: 2, state, sketch);
                    state.Merge(DeltaOf(delta, keys[i]));
                    if (cache is not null)
                    {
                        state.KeepStoredForm();
                        cache.Stage(keys[i], state);
                    }

                    columns.Set(j, state);
                    tids[j] = reader.GetFieldValue<NpgsqlTid>(1);
                },
                cancellationToken);
            var updated = await UpdateLockedRowsAsync(connection, transaction, tids, columns, context, cancellationToken);
            FeatureColumns.Return(columns);
            if (updated != positions.Length)
            {
                throw new InvalidOperationException($"feature_window_stats: {positions.Length - updated} of {positions.Length} locked rows were not updated: not writing a partial flush.");
            }
        }
    }

    private static FeatureAccumulator DeltaOf(AggregationDelta delta, (ModelWindowKey Model, string Feature) key) =>
        delta.Windows[key.Model].Features[key.Feature];

    /// <summary>
    /// Updates the feature rows this transaction locked, at their versions <paramref name="tids"/> (ctid; held by the lock,
    /// so they cannot move before the update), to <paramref name="columns"/>: found by ctid, a TID scan per row instead of a
    /// probe of the five-column primary key, and no key arrays to send (the update's time in Postgres halved on 50k rows,
    /// BENCHMARKS.md §11). Rows updated; the transaction's id (their new xmin) goes to the flush's context.
    /// </summary>
    private static async Task<int> UpdateLockedRowsAsync(
        NpgsqlConnection connection,
        NpgsqlTransaction transaction,
        NpgsqlTid[] tids,
        FeatureColumns columns,
        FlushContext? context,
        CancellationToken cancellationToken)
    {
        await using var update = new NpgsqlCommand(
            $"""
            UPDATE feature_window_stats AS t
            SET {FeatureUpdateSet}
            FROM unnest(@tb, @to, {FeatureUpdateArrays}) AS u(tb, "to", {FeatureUpdateNames})
            WHERE t.ctid = format('(%s,%s)', u.tb, u."to")::tid
            RETURNING t.xmin
            """,
            connection,
            transaction);
        // Npgsql 10 writes a tid but no array of them: block numbers and offsets as two arrays, the tid made in SQL.
        update.Parameters.Add(new NpgsqlParameter<long[]>("tb", [.. tids.Select(t => (long)t.BlockNumber)]));
        update.Parameters.Add(new NpgsqlParameter<int[]>("to", [.. tids.Select(t => (int)t.OffsetNumber)]));
        columns.AddParameters(update);
        var updated = 0;
        await ReadUpdatedAsync(update, context, _ => updated++, cancellationToken);
        return updated;
    }

    /// <summary>
    /// Updates the feature rows <paramref name="keys"/>, not locked, from the cache's copies <paramref name="columns"/>, each
    /// only if its xmin is still <paramref name="xmins"/> (the copy's transaction): found by key, since only the lock held
    /// by a transaction keeps a row's ctid meaning that row (VACUUM FULL or CLUSTER move rows and keep their xmin). Which
    /// rows were updated; the transaction's id goes to the flush's context.
    /// </summary>
    private static async Task<bool[]> UpdateCopiedRowsAsync(
        NpgsqlConnection connection,
        NpgsqlTransaction transaction,
        (ModelWindowKey Model, string Feature)[] keys,
        FeatureColumns columns,
        uint[] xmins,
        FlushContext? context,
        CancellationToken cancellationToken)
    {
        await using var update = new NpgsqlCommand(
            $"""
            UPDATE feature_window_stats AS t
            SET {FeatureUpdateSet}
            FROM unnest(@ws, @st, @p, @m, @f, {FeatureUpdateArrays}, @x)
                 WITH ORDINALITY AS u(ws, st, p, m, f, {FeatureUpdateNames}, x, i)
            WHERE t.window_seconds = u.ws AND t.window_start = u.st AND t.predictor_name = u.p AND t.model_id = u.m AND t.feature = u.f
              AND t.xmin = u.x
            RETURNING t.xmin, u.i
            """,
            connection,
            transaction);
        var keyColumns = KeyColumns.Rent().Fill(keys, subset: null);
        keyColumns.AddParameters(update.Parameters, named: true);
        columns.AddParameters(update);
        update.Parameters.Add(new NpgsqlParameter<uint[]>("x", xmins) { NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Xid });
        var updated = new bool[keys.Length];
        await ReadUpdatedAsync(update, context, reader => updated[(int)reader.GetInt64(1) - 1] = true, cancellationToken);
        KeyColumns.Return(keyColumns);
        return updated;
    }

    /// <summary>Runs an update whose RETURNING starts with the updated row's new xmin: the writing transaction's id, kept in
    /// the flush's context (what the cache's copies are checked against); <paramref name="row"/> sees each updated row.</summary>
    private static async Task ReadUpdatedAsync(NpgsqlCommand update, FlushContext? context, Action<NpgsqlDataReader> row, CancellationToken cancellationToken)
    {
        await using var reader = await update.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            if (context is not null)
            {
                context.Xmin ??= reader.GetFieldValue<uint>(0);
            }

            row(reader);
        }
    }

    // The statistics columns an update of feature rows sets from unnest(...) AS u: their assignments, parameters and names.
    private const string FeatureUpdateSet =
        "value_count = u.vc, null_count = u.nu, default_count = u.dc, nonfinite_count = u.nf, numeric_count = u.nc, " +
        "mean = u.mean, m2 = u.m2, m2_scale = u.m2s, stddev = u.sd, min = u.mn, max = u.mx, " +
        "p05 = u.p05, p25 = u.p25, p50 = u.p50, p75 = u.p75, p95 = u.p95, " +
        "sketch = " + SketchValue + ", categorical_count = u.cc, boolean_count = u.bc, categories = u.cat::jsonb, updated_at = now()";

    private const string FeatureUpdateArrays =
        "@vc, @nu, @dc, @nf, @nc, @mean, @m2, @m2s, @sd, @mn, @mx, @p05, @p25, @p50, @p75, @p95, @sk, @cc, @bc, @cat";

    private const string FeatureUpdateNames =
        "vc, nu, dc, nf, nc, mean, m2, m2s, sd, mn, mx, p05, p25, p50, p75, p95, sk, cc, bc, cat";

    /// <summary>Which of <paramref name="keys"/> the last committed flush of their window size wrote (null: none).</summary>
    private bool[]? ExistingRows((ModelWindowKey Model, string Feature)[] keys)
    {
        lock (_existingLock)
        {
            bool[]? existing = null;
            for (var i = 0; i < keys.Length; i++)
            {
                if (_existingFeatureRows.TryGetValue(keys[i].Model.WindowSeconds, out var rows) && rows.Contains(keys[i]))
                {
                    (existing ??= new bool[keys.Length])[i] = true;
                }
            }

            return existing;
        }
    }

    /// <summary>
    /// Creates the missing rows of <paramref name="table"/> (<paramref name="insertSql"/>, ON CONFLICT DO NOTHING), then locks
    /// and reads back every touched one (<paramref name="selectSql"/>, FOR UPDATE), both in primary-key order so instances
    /// flushing the same hot rows cannot deadlock, in one round trip. Both statements take the key arrays
    /// <paramref name="keyColumns"/> fills for a subset of the keys' positions (null: all), given back once they have run. The SELECT's first column is the
    /// key's position in that subset (WITH ORDINALITY, from 1), and <paramref name="row"/> gets the key's position from 0
    /// with the reader on that row. Keys marked in <paramref name="existing"/> are not sent to the INSERT (a recent flush
    /// wrote them); any of them the SELECT does not find (deleted since) is created and read in a second round trip.
    /// </summary>
    private static async Task ReadBackLockedAsync(
        NpgsqlConnection connection,
        NpgsqlTransaction transaction,
        string table,
        string insertSql,
        string selectSql,
        int keys,
        bool[]? existing,
        Func<int[]?, KeyColumns> keyColumns,
        Action<int, NpgsqlDataReader> row,
        CancellationToken cancellationToken)
    {
        var read = new bool[keys];
        int[]? create = existing is null ? null : [.. Enumerable.Range(0, keys).Where(i => !existing[i])];
        await CreateAndReadAsync(create, select: null);

        var missing = Enumerable.Range(0, keys).Where(i => !read[i]).ToArray();
        if (missing.Length > 0 && existing is not null)
        {
            await CreateAndReadAsync(missing, missing);
            missing = [.. missing.Where(i => !read[i])];
        }

        // Every key was created or found, so every one is read back; a gap would silently drop a delta.
        if (missing.Length > 0)
        {
            throw new InvalidOperationException($"{table}: row {missing[0] + 1} of {keys} was not read back after being created: not writing a partial flush.");
        }

        async Task CreateAndReadAsync(int[]? create, int[]? select)
        {
            await using var batch = new NpgsqlBatch(connection, transaction);
            var used = new List<KeyColumns>(2);
            void Add(string sql, int[]? part)
            {
                var command = new NpgsqlBatchCommand(sql);
                used.Add(keyColumns(part));
                used[^1].AddParameters(command.Parameters, named: false);
                batch.BatchCommands.Add(command);
            }

            if (create is not { Length: 0 })
            {
                Add(insertSql, create);
            }

            Add(selectSql, select);
            // The reader starts at the first result set: the SELECT's (the INSERT returns none).
            await using (var reader = await batch.ExecuteReaderAsync(cancellationToken))
            {
                while (await reader.ReadAsync(cancellationToken))
                {
                    var position = (int)reader.GetInt64(0) - 1;
                    var i = select is null ? position : select[position];
                    read[i] = true;
                    row(i, reader);
                }
            }

            used.ForEach(KeyColumns.Return);
        }
    }

    private static async Task WriteModelsSeenAsync(
        NpgsqlConnection connection,
        NpgsqlTransaction transaction,
        Dictionary<(string PredictorName, string ModelId), (DateTimeOffset First, DateTimeOffset Last)> models,
        CancellationToken cancellationToken)
    {
        var seen = models.ToArray();
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

    /// <summary>
    /// The key columns of window rows as parameter arrays: @ws, @st, @p, @m and, for feature rows, @f (or positional, $1-$5,
    /// for batch commands), for all the keys or a subset of their positions. Reused from a shared pool like
    /// <see cref="FeatureColumns"/>: a read-back of 50k rows sent new key arrays twice, ~3 MB on the large object heap.
    /// </summary>
    internal sealed class KeyColumns
    {
        private static readonly ConcurrentBag<KeyColumns> Pool = [];
        private readonly List<int> _windowSeconds = [];
        private readonly List<DateTime> _windowStart = [];
        private readonly List<string> _predictor = [];
        private readonly List<string> _model = [];
        private readonly List<string> _feature = [];
        private bool _features;

        public static KeyColumns Rent() => Pool.TryTake(out var columns) ? columns : new KeyColumns();

        /// <summary>Gives the columns back once the statement that sent them has run.</summary>
        public static void Return(KeyColumns columns)
        {
            columns._predictor.Clear(); // no strings kept alive by an idle pool
            columns._model.Clear();
            columns._feature.Clear();
            Pool.Add(columns);
        }

        public KeyColumns Fill(ModelWindowKey[] keys, int[]? subset)
        {
            Resize(subset?.Length ?? keys.Length, features: false);
            for (var j = 0; j < _windowSeconds.Count; j++)
            {
                SetModel(j, keys[subset is null ? j : subset[j]]);
            }

            return this;
        }

        public KeyColumns Fill((ModelWindowKey Model, string Feature)[] keys, int[]? subset)
        {
            Resize(subset?.Length ?? keys.Length, features: true);
            for (var j = 0; j < _windowSeconds.Count; j++)
            {
                var key = keys[subset is null ? j : subset[j]];
                SetModel(j, key.Model);
                _feature[j] = key.Feature;
            }

            return this;
        }

        public void AddParameters(NpgsqlParameterCollection parameters, bool named)
        {
            parameters.Add(new NpgsqlParameter<List<int>>(named ? "ws" : "", _windowSeconds));
            parameters.Add(new NpgsqlParameter<List<DateTime>>(named ? "st" : "", _windowStart) { NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.TimestampTz });
            parameters.Add(new NpgsqlParameter<List<string>>(named ? "p" : "", _predictor));
            parameters.Add(new NpgsqlParameter<List<string>>(named ? "m" : "", _model));
            if (_features)
            {
                parameters.Add(new NpgsqlParameter<List<string>>(named ? "f" : "", _feature));
            }
        }

        private void Resize(int n, bool features)
        {
            _features = features;
            CollectionsMarshal.SetCount(_windowSeconds, n);
            CollectionsMarshal.SetCount(_windowStart, n);
            CollectionsMarshal.SetCount(_predictor, n);
            CollectionsMarshal.SetCount(_model, n);
            CollectionsMarshal.SetCount(_feature, features ? n : 0);
        }

        private void SetModel(int j, ModelWindowKey key)
        {
            _windowSeconds[j] = key.WindowSeconds;
            _windowStart[j] = DateTime.UnixEpoch.AddSeconds(key.WindowStart);
            _predictor[j] = key.PredictorName;
            _model[j] = key.ModelId;
        }
    }

    /// <summary>The statistics columns of a feature row (feature_window_stats, reference_features aliased t) in the order
    /// <see cref="LoadFeature"/> reads them.</summary>
    internal const string FeatureStatisticsColumns =
        "t.value_count, t.null_count, t.default_count, t.nonfinite_count, t.numeric_count, t.mean, t.m2, t.min, t.max, t.sketch, " +
        "t.m2_scale, t.boolean_count, CASE WHEN t.categorical_count = 0 THEN NULL ELSE t.categories::text END";

    /// <summary>Replaces <paramref name="feature"/> by the row's <see cref="FeatureStatisticsColumns"/>, read from ordinal
    /// <paramref name="first"/>.</summary>
    internal static void LoadFeature(NpgsqlDataReader reader, int first, FeatureAccumulator feature, SketchBuffer sketch)
    {
        feature.LoadCounts(
            valueCount: reader.GetInt64(first),
            nullCount: reader.GetInt64(first + 1),
            defaultCount: reader.GetInt64(first + 2),
            nonFiniteCount: reader.GetInt64(first + 3),
            booleanCount: reader.GetInt64(first + 11),
            // No string or boolean values: no categories to parse (most features are numeric).
            categories: reader.IsDBNull(first + 12) ? [] : ParseCategories(reader.GetString(first + 12)));
        LoadDistribution(reader, feature.Numeric, countOrdinal: first + 4, scaleOrdinal: first + 10, sketch);
    }

    // Columns from countOrdinal: numeric_count, mean, m2, min, max, sketch; m2_scale at scaleOrdinal. Loaded into
    // distribution, the sketch's bytes through a reused buffer.
    internal static void LoadDistribution(NpgsqlDataReader reader, NumericDistribution distribution, int countOrdinal, int scaleOrdinal, SketchBuffer buffer)
    {
        var count = reader.GetInt64(countOrdinal);
        if (count == 0)
        {
            distribution.Reset();
            return;
        }

        distribution.Load(
            count,
            reader.GetDouble(countOrdinal + 1),
            reader.GetDouble(countOrdinal + 2),
            reader.GetDouble(countOrdinal + 3),
            reader.GetDouble(countOrdinal + 4),
            reader.GetInt32(scaleOrdinal),
            buffer.Read(reader, countOrdinal + 5));
    }

    /// <summary>A bytea column read into one growing buffer instead of a new array per row.</summary>
    internal sealed class SketchBuffer
    {
        private byte[] _buffer = new byte[1024];

        public ReadOnlySpan<byte> Read(NpgsqlDataReader reader, int ordinal)
        {
            var length = (int)reader.GetBytes(ordinal, 0, null, 0, 0);
            if (length > _buffer.Length)
            {
                _buffer = new byte[Math.Max(length, _buffer.Length * 2)];
            }

            reader.GetBytes(ordinal, 0, _buffer, 0, length);
            return _buffer.AsSpan(0, length);
        }
    }

    internal static List<KeyValuePair<string, long>> ParseCategories(string json)
    {
        using var document = JsonDocument.Parse(json);
        return document.RootElement.EnumerateObject().Select(p => new KeyValuePair<string, long>(p.Name, p.Value.GetInt64())).ToList();
    }

    internal static string FormatCategories(IReadOnlyList<KeyValuePair<string, long>> top)
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

    /// <summary>The statistics columns of feature rows as parameter arrays (@vc, @nu, @dc, @nf, @cc, @bc, @cat and the numeric
    /// ones): what the flush updates feature_window_stats with. Reused from a shared pool (<see cref="Rent"/>, like
    /// <see cref="KeyColumns"/>): a flush of 50k rows filled
    /// ~11 MB of new arrays, on the large object heap, plus a sketch array per row, all living as long as the write (seconds)
    /// and so promoted before they died (BENCHMARKS.md §11, step 17). Lists, since Npgsql sends a list as an array. A pooled
    /// instance keeps the memory of the largest write it served (~25 MB for 50k rows, sketch chunks included).</summary>
    internal sealed class FeatureColumns
    {
        private static readonly ConcurrentBag<FeatureColumns> Pool = [];
        private readonly List<long> _valueCount = [];
        private readonly List<long> _nullCount = [];
        private readonly List<long> _defaultCount = [];
        private readonly List<long> _nonFinite = [];
        private readonly List<long> _categoricalCount = [];
        private readonly List<long> _booleanCount = [];
        private readonly List<string> _categories = [];
        private readonly NumericColumns _numeric = new(0);

        private FeatureColumns()
        {
        }

        /// <summary>Columns for <paramref name="n"/> rows, each of which must then be set: an earlier write's when one was
        /// given back (once the statement that sent them has run; a failed write leaves them to the GC).</summary>
        public static FeatureColumns Rent(int n)
        {
            var columns = Pool.TryTake(out var pooled) ? pooled : new FeatureColumns();
            columns.Resize(n);
            return columns;
        }

        public static void Return(FeatureColumns columns)
        {
            columns._categories.Clear(); // no strings kept alive by an idle pool
            Pool.Add(columns);
        }

        private void Resize(int n)
        {
            SetCount(n, _valueCount, _nullCount, _defaultCount, _nonFinite, _categoricalCount, _booleanCount);
            CollectionsMarshal.SetCount(_categories, n);
            _numeric.Resize(n);
        }

        public void Set(int i, FeatureAccumulator feature)
        {
            SetCounts(i, feature.ValueCount, feature.NullCount, feature.DefaultCount, feature.NonFiniteCount, feature.CategoricalCount, feature.BooleanCount);
            _categories[i] = feature.CategoricalCount == 0 ? "{}" : FormatCategories(feature.Categories.Top());
            _numeric.Set(i, feature.Numeric);
        }

        /// <summary>A row of numbers only (prediction_result): <paramref name="values"/> of which <paramref name="nonFinite"/> NaN or ±Inf.</summary>
        public void SetNumbers(int i, long values, long nonFinite, NumericDistribution numbers)
        {
            SetCounts(i, values, 0, 0, nonFinite, 0, 0);
            _categories[i] = "{}";
            _numeric.Set(i, numbers);
        }

        private void SetCounts(int i, long values, long nulls, long defaults, long nonFinite, long categorical, long booleans)
        {
            (_valueCount[i], _nullCount[i], _defaultCount[i], _nonFinite[i]) = (values, nulls, defaults, nonFinite);
            (_categoricalCount[i], _booleanCount[i]) = (categorical, booleans);
        }

        public void AddParameters(NpgsqlCommand command)
        {
            command.Parameters.Add(new NpgsqlParameter<List<long>>("vc", _valueCount));
            command.Parameters.Add(new NpgsqlParameter<List<long>>("nu", _nullCount));
            command.Parameters.Add(new NpgsqlParameter<List<long>>("dc", _defaultCount));
            command.Parameters.Add(new NpgsqlParameter<List<long>>("nf", _nonFinite));
            command.Parameters.Add(new NpgsqlParameter<List<long>>("cc", _categoricalCount));
            command.Parameters.Add(new NpgsqlParameter<List<long>>("bc", _booleanCount));
            command.Parameters.Add(new NpgsqlParameter<List<string>>("cat", _categories));
            _numeric.AddParameters(command);
        }
    }

    /// <summary>The numeric statistics columns shared by model and feature rows, as parameter arrays; reusable like
    /// <see cref="FeatureColumns"/>. The sketches are written into shared chunks and sent as slices of them (an empty one
    /// for a row without values, stored as NULL: <see cref="SketchValue"/>).</summary>
    internal sealed class NumericColumns
    {
        private const int MaxChunkBytes = 1 << 20;
        private static readonly double[] QuantileLevels = [.. Quantiles];

        private readonly List<long> _count = [];
        private readonly List<double?> _mean = [];
        private readonly List<double> _m2 = [];
        private readonly List<int> _m2Scale = [];
        private readonly List<double?> _stddev = [];
        private readonly List<double?> _min = [];
        private readonly List<double?> _max = [];
        private readonly List<double?>[] _quantiles = [.. Quantiles.Select(_ => new List<double?>())];
        private readonly List<ReadOnlyMemory<byte>> _sketch = [];
        private readonly List<byte[]> _chunks = [];
        private int _chunk;
        private int _chunkUsed;

        public NumericColumns(int n) => Resize(n);

        /// <summary>Makes room for <paramref name="n"/> rows, keeping the memory (the sketch chunks included); each row must
        /// then be set.</summary>
        public void Resize(int n)
        {
            SetCount(n, _count);
            SetCount(n, _mean, _stddev, _min, _max);
            SetCount(n, _quantiles);
            CollectionsMarshal.SetCount(_m2, n);
            CollectionsMarshal.SetCount(_m2Scale, n);
            CollectionsMarshal.SetCount(_sketch, n);
            (_chunk, _chunkUsed) = (0, 0);
        }

        public void Set(int i, NumericDistribution distribution)
        {
            _count[i] = distribution.Count;
            // M2 / 4^m2_scale: M2 itself leaves the double range for values near it (see RunningMoments).
            _m2[i] = distribution.Moments.ScaledM2;
            _m2Scale[i] = distribution.Moments.ScaleExponent;
            if (distribution.Count == 0)
            {
                (_mean[i], _stddev[i], _min[i], _max[i], _sketch[i]) = (null, null, null, null, ReadOnlyMemory<byte>.Empty);
                foreach (var quantile in _quantiles)
                {
                    quantile[i] = null;
                }

                return;
            }

            _mean[i] = distribution.Moments.Mean;
            _stddev[i] = distribution.Moments.SampleStdDev;
            _min[i] = distribution.Moments.Min;
            _max[i] = distribution.Moments.Max;
            Span<double> quantiles = stackalloc double[QuantileLevels.Length];
            distribution.Quantiles(QuantileLevels, quantiles);
            for (var q = 0; q < QuantileLevels.Length; q++)
            {
                _quantiles[q][i] = quantiles[q];
            }

            _sketch[i] = WriteSketch(distribution.Sketch);
        }

        private ReadOnlyMemory<byte> WriteSketch(DDSketch sketch)
        {
            var length = sketch.MaxSerializedLength;
            if (length > MaxChunkBytes)
            {
                return sketch.Serialize(); // larger than a chunk (a sketch near its bin bound): an array of its own
            }

            if (_chunk < _chunks.Count && _chunks[_chunk].Length - _chunkUsed < length)
            {
                (_chunk, _chunkUsed) = (_chunk + 1, 0);
            }

            if (_chunk == _chunks.Count)
            {
                // ~256 bytes per row for the rows this holds, between 4 KB and 1 MB.
                _chunks.Add(new byte[Math.Max(length, Math.Clamp(_count.Count * 256, 4096, MaxChunkBytes))]);
            }

            var written = sketch.Serialize(_chunks[_chunk].AsSpan(_chunkUsed, length));
            var slice = new ReadOnlyMemory<byte>(_chunks[_chunk], _chunkUsed, written);
            _chunkUsed += written;
            return slice;
        }

        public void AddParameters(NpgsqlCommand command)
        {
            command.Parameters.Add(new NpgsqlParameter<List<long>>("nc", _count));
            command.Parameters.Add(new NpgsqlParameter<List<double?>>("mean", _mean));
            command.Parameters.Add(new NpgsqlParameter<List<double>>("m2", _m2));
            command.Parameters.Add(new NpgsqlParameter<List<int>>("m2s", _m2Scale));
            command.Parameters.Add(new NpgsqlParameter<List<double?>>("sd", _stddev));
            command.Parameters.Add(new NpgsqlParameter<List<double?>>("mn", _min));
            command.Parameters.Add(new NpgsqlParameter<List<double?>>("mx", _max));
            string[] names = ["p05", "p25", "p50", "p75", "p95"];
            for (var q = 0; q < names.Length; q++)
            {
                command.Parameters.Add(new NpgsqlParameter<List<double?>>(names[q], _quantiles[q]));
            }

            command.Parameters.Add(new NpgsqlParameter<List<ReadOnlyMemory<byte>>>("sk", _sketch) { NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Bytea });
        }
    }

    /// <summary>The sketch column's value from a statement's @sk slice (<see cref="NumericColumns"/>, unnest AS u): an empty
    /// slice is a row without values (NULL). Every statement that sends those columns stores the sketch through it.</summary>
    internal const string SketchValue = "NULLIF(u.sk, ''::bytea)";

    private static void SetCount<T>(int n, params ReadOnlySpan<List<T>> lists)
    {
        foreach (var list in lists)
        {
            CollectionsMarshal.SetCount(list, n);
        }
    }
}
