using System.Text.Json;
using Dapper;
using ModelMonitor.Core.Drift;
using ModelMonitor.Core.References;
using ModelMonitor.Core.Statistics;
using ModelMonitor.Storage.Audit;
using ModelMonitor.Storage.Statistics;
using Npgsql;
using NpgsqlTypes;

namespace ModelMonitor.Storage.References;

/// <summary>How a reference was made (the <c>kind</c> column).</summary>
public static class ReferenceKinds
{
    public const string Uploaded = "uploaded";
    public const string Pinned = "pinned";
    public const string Production = "production";
}

/// <summary>A reference's identity: the model it describes and its name (the <c>reference</c> label).</summary>
public sealed record ReferenceKey(string PredictorName, string ModelId, string Name);

/// <summary>What GET /v1/references lists of a reference.</summary>
public sealed record ReferenceSummary(
    string PredictorName,
    string ModelId,
    string Name,
    string Kind,
    string Source,
    DateTimeOffset? PeriodStart,
    DateTimeOffset? PeriodEnd,
    long RowCount,
    int Features,
    DateTimeOffset CreatedAt);

/// <summary>A threshold as stored: for windows of <paramref name="WindowSeconds"/> (0: every size).</summary>
public sealed record StoredThreshold(int WindowSeconds, ReferenceThreshold Threshold);

/// <summary>A reference read back whole, for comparisons: its profile and thresholds.</summary>
public sealed record LoadedReference(ReferenceKey Key, string Kind, ReferenceProfile Profile, IReadOnlyList<StoredThreshold> Thresholds);

/// <summary>
/// Reference profiles in Postgres (schema: Migrations/V4). A reference is replaced in one transaction (the old one and
/// its rows deleted, the new ones inserted), so a reader sees the old or the new one, never a mix, and a failed upload
/// leaves the old one as it was.
/// </summary>
public sealed class ReferenceStore(NpgsqlDataSource dataSource)
{
    private const string Feature = "feature";
    private const string Prediction = "prediction";

    /// <summary>Category capacity of the references read back (what an upload keeps, see ReferenceProfile).</summary>
    public const int CategoryCapacity = 1_000;

    public async Task<ReferenceSummary> ReplaceAsync(
        ReferenceKey key,
        string kind,
        string source,
        (DateTimeOffset Start, DateTimeOffset End)? period,
        ReferenceProfile profile,
        IReadOnlyList<StoredThreshold> thresholds,
        CancellationToken cancellationToken,
        string? actor = null)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(profile);
        ArgumentNullException.ThrowIfNull(thresholds);
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        // Two uploads of one reference at once: the second waits for the first to commit, then replaces it (without the
        // lock, both would insert and the second fail on the unique key).
        await connection.ExecuteAsync(new CommandDefinition(
            "SELECT pg_advisory_xact_lock(hashtextextended(@key, 20261202))",
            new { key = $"{key.PredictorName}\n{key.ModelId}\n{key.Name}" }, transaction, cancellationToken: cancellationToken));
        await connection.ExecuteAsync(new CommandDefinition(
            "DELETE FROM reference_profiles WHERE predictor_name = @p AND model_id = @m AND name = @n",
            new { p = key.PredictorName, m = key.ModelId, n = key.Name }, transaction, cancellationToken: cancellationToken));
        var (id, createdAt) = await connection.QuerySingleAsync<(long, DateTime)>(new CommandDefinition(
            """
            INSERT INTO reference_profiles (predictor_name, model_id, name, kind, source, period_start, period_end, row_count)
            VALUES (@p, @m, @n, @kind, @source, @start, @end, @rows)
            RETURNING id, created_at
            """,
            new
            {
                p = key.PredictorName,
                m = key.ModelId,
                n = key.Name,
                kind,
                source,
                start = period?.Start.UtcDateTime,
                end = period?.End.UtcDateTime,
                rows = profile.RowCount,
            },
            transaction,
            cancellationToken: cancellationToken));

        await InsertFeaturesAsync(connection, transaction, id, profile, cancellationToken);
        await InsertThresholdsAsync(connection, transaction, id, thresholds, cancellationToken);
        if (actor is not null)
        {
            // An admin's upload or pin (the production reference the service rebuilds itself is not audited).
            await AdminAudit.WriteAsync(connection, transaction, new AuditEntry(actor, "replace_reference", key.PredictorName, key.ModelId, key.Name,
                JsonSerializer.Serialize(new { kind, source, rows = profile.RowCount, features = profile.Features.Count, period_start = period?.Start, period_end = period?.End })),
                cancellationToken);
        }
        await transaction.CommitAsync(cancellationToken);
        return new ReferenceSummary(key.PredictorName, key.ModelId, key.Name, kind, source, period?.Start, period?.End,
            profile.RowCount, profile.Features.Count, new DateTimeOffset(DateTime.SpecifyKind(createdAt, DateTimeKind.Utc)));
    }

    public async Task<IReadOnlyList<ReferenceSummary>> ListAsync(string predictorName, string modelId, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var rows = await connection.QueryAsync<(string, string, string, string, string, DateTime?, DateTime?, long, int, DateTime)>(new CommandDefinition(
            """
            SELECT r.predictor_name, r.model_id, r.name, r.kind, r.source, r.period_start, r.period_end, r.row_count,
                   (SELECT count(*)::int FROM reference_features f WHERE f.reference_id = r.id AND f.subject = 'feature'),
                   r.created_at
            FROM reference_profiles r
            WHERE r.predictor_name = @p AND r.model_id = @m
            ORDER BY r.name
            """,
            new { p = predictorName, m = modelId },
            cancellationToken: cancellationToken));
        return [.. rows.Select(r => new ReferenceSummary(r.Item1, r.Item2, r.Item3, r.Item4, r.Item5, Utc(r.Item6), Utc(r.Item7), r.Item8, r.Item9, Utc(r.Item10)!.Value))];
    }

    /// <summary>Deletes one reference (with an audit row by <paramref name="actor"/> when there was one); false when there was none.</summary>
    public async Task<bool> DeleteAsync(ReferenceKey key, CancellationToken cancellationToken, string? actor = null)
    {
        ArgumentNullException.ThrowIfNull(key);
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var deleted = await connection.ExecuteAsync(new CommandDefinition(
            "DELETE FROM reference_profiles WHERE predictor_name = @p AND model_id = @m AND name = @n",
            new { p = key.PredictorName, m = key.ModelId, n = key.Name }, transaction, cancellationToken: cancellationToken)) > 0;
        if (deleted && actor is not null)
        {
            await AdminAudit.WriteAsync(connection, transaction, new AuditEntry(actor, "delete_reference", key.PredictorName, key.ModelId, key.Name, null), cancellationToken);
        }
        await transaction.CommitAsync(cancellationToken);
        return deleted;
    }

    /// <summary>When each model's production reference was built.</summary>
    public async Task<Dictionary<(string PredictorName, string ModelId), DateTimeOffset>> ProductionBuiltAsync(CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var rows = await connection.QueryAsync<(string, string, DateTime)>(new CommandDefinition(
            "SELECT predictor_name, model_id, created_at FROM reference_profiles WHERE kind = 'production'", cancellationToken: cancellationToken));
        return rows.ToDictionary(r => (r.Item1, r.Item2), r => new DateTimeOffset(DateTime.SpecifyKind(r.Item3, DateTimeKind.Utc)));
    }

    /// <summary>Runs <paramref name="work"/> holding a session advisory lock, so one instance at a time does it; false (not
    /// run) when another holds it.</summary>
    public async Task<bool> ExclusivelyAsync(long lockKey, Func<CancellationToken, Task> work, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(work);
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        if (!await connection.ExecuteScalarAsync<bool>(new CommandDefinition("SELECT pg_try_advisory_lock(@lockKey)", new { lockKey }, cancellationToken: cancellationToken)))
        {
            return false;
        }

        try
        {
            await work(cancellationToken);
            return true;
        }
        finally
        {
            await connection.ExecuteAsync("SELECT pg_advisory_unlock(@lockKey)", new { lockKey });
        }
    }

    /// <summary>A cheap fingerprint of every reference (count and newest id): a reader reloads when it changes.</summary>
    public async Task<(long Count, long MaxId)> VersionAsync(CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        return await connection.QuerySingleAsync<(long, long)>(new CommandDefinition(
            "SELECT count(*), coalesce(max(id), 0) FROM reference_profiles", cancellationToken: cancellationToken));
    }

    /// <summary>Every reference with its profile and thresholds, in one repeatable-read snapshot.</summary>
    public async Task<IReadOnlyList<LoadedReference>> LoadAllAsync(CancellationToken cancellationToken)
    {
        var all = new List<LoadedReference>();
        await ForEachAsync(reference => all.Add(reference), cancellationToken);
        return all;
    }

    /// <summary>
    /// Every reference with its profile and thresholds, one at a time (two queries per reference, in one repeatable-read
    /// snapshot): a reader that keeps only what it prepares from each (the exporter) never holds every profile at once.
    /// </summary>
    public async Task ForEachAsync(Action<LoadedReference> each, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(each);
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(System.Data.IsolationLevel.RepeatableRead, cancellationToken);
        var references = (await connection.QueryAsync<(long, string, string, string, string, long)>(new CommandDefinition(
            "SELECT id, predictor_name, model_id, name, kind, row_count FROM reference_profiles ORDER BY id", transaction: transaction, cancellationToken: cancellationToken))).AsList();
        var sketch = new StatisticsStore.SketchBuffer();
        foreach (var (id, predictor, model, name, kind, rows) in references)
        {
            var profile = new ReferenceProfile(CategoryCapacity);
            profile.AddRows(rows);
            await using (var command = new NpgsqlCommand(
                $"SELECT t.subject, t.feature, {StatisticsStore.FeatureStatisticsColumns} FROM reference_features t WHERE t.reference_id = $1",
                connection,
                transaction))
            {
                command.Parameters.Add(new NpgsqlParameter<long> { TypedValue = id });
                await using var reader = await command.ExecuteReaderAsync(cancellationToken);
                while (await reader.ReadAsync(cancellationToken))
                {
                    if (reader.GetString(0) == Prediction)
                    {
                        // Numbers only: value_count holds the predictions, nonfinite_count the NaN and ±Inf among them.
                        var prediction = profile.Prediction;
                        prediction.LoadCounts(reader.GetInt64(2), reader.GetInt64(5));
                        StatisticsStore.LoadDistribution(reader, prediction.Result, countOrdinal: 6, scaleOrdinal: 12, sketch);
                        continue;
                    }

                    StatisticsStore.LoadFeature(reader, first: 2, profile.Feature(reader.GetString(1)), sketch);
                }
            }

            var thresholds = new List<StoredThreshold>();
            foreach (var (subject, featureName, windowSeconds, method, threshold, windows, mean, sd) in
                     await connection.QueryAsync<(string, string, int, string, double, int, double, double)>(new CommandDefinition(
                         "SELECT subject, feature, window_seconds, method, threshold, windows, distance_mean, distance_stddev FROM reference_thresholds WHERE reference_id = @id",
                         new { id }, transaction, cancellationToken: cancellationToken)))
            {
                if (DriftMethods.TryParse(method, out var parsed))
                {
                    thresholds.Add(new StoredThreshold(windowSeconds,
                        new ReferenceThreshold(subject == Prediction ? null : featureName, parsed, threshold, windows, mean, sd)));
                }
            }

            each(new LoadedReference(new ReferenceKey(predictor, model, name), kind, profile, thresholds));
        }

        await transaction.CommitAsync(cancellationToken);
    }

    private static async Task InsertFeaturesAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, long id, ReferenceProfile profile, CancellationToken cancellationToken)
    {
        var features = profile.Features.OrderBy(f => f.Key, StringComparer.Ordinal).ToList();
        var withPrediction = profile.Prediction.PredictionCount > 0;
        var n = features.Count + (withPrediction ? 1 : 0);
        if (n == 0)
        {
            return;
        }

        var subjects = new string[n];
        var names = new string[n];
        var types = new string[n];
        var columns = StatisticsStore.FeatureColumns.Rent(n);
        for (var i = 0; i < features.Count; i++)
        {
            var (name, feature) = features[i];
            subjects[i] = Feature;
            names[i] = name;
            types[i] = ObservedType.Name(ObservedType.Of(feature));
            columns.Set(i, feature);
        }

        if (withPrediction)
        {
            var i = n - 1;
            var prediction = profile.Prediction;
            subjects[i] = Prediction;
            names[i] = "";
            types[i] = ObservedType.Name(ObservedType.Of(prediction.PredictionCount, 0, 0));
            columns.SetNumbers(i, prediction.PredictionCount, prediction.NonFiniteCount, prediction.Result);
        }

        await using var insert = new NpgsqlCommand(
            $$"""
            INSERT INTO reference_features (reference_id, subject, feature, observed_type, value_count, null_count, default_count,
                nonfinite_count, numeric_count, mean, m2, m2_scale, stddev, min, max, p05, p25, p50, p75, p95, sketch,
                categorical_count, boolean_count, categories)
            SELECT @id, u.s, u.f, u.t, u.vc, u.nu, u.dc, u.nf, u.nc, u.mean, u.m2, u.m2s, u.sd, u.mn, u.mx,
                   u.p05, u.p25, u.p50, u.p75, u.p95, {{StatisticsStore.SketchValue}}, u.cc, u.bc, u.cat::jsonb
            FROM unnest(@s, @f, @t, @vc, @nu, @dc, @nf, @nc, @mean, @m2, @m2s, @sd, @mn, @mx, @p05, @p25, @p50, @p75, @p95, @sk, @cc, @bc, @cat)
                 AS u(s, f, t, vc, nu, dc, nf, nc, mean, m2, m2s, sd, mn, mx, p05, p25, p50, p75, p95, sk, cc, bc, cat)
            """,
            connection,
            transaction);
        insert.Parameters.Add(new NpgsqlParameter<long>("id", id));
        insert.Parameters.Add(new NpgsqlParameter<string[]>("s", subjects));
        insert.Parameters.Add(new NpgsqlParameter<string[]>("f", names));
        insert.Parameters.Add(new NpgsqlParameter<string[]>("t", types));
        columns.AddParameters(insert);
        await insert.ExecuteNonQueryAsync(cancellationToken);
        StatisticsStore.FeatureColumns.Return(columns);
    }

    private static async Task InsertThresholdsAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, long id, IReadOnlyList<StoredThreshold> thresholds, CancellationToken cancellationToken)
    {
        if (thresholds.Count == 0)
        {
            return;
        }

        await using var insert = new NpgsqlCommand(
            """
            INSERT INTO reference_thresholds (reference_id, subject, feature, window_seconds, method, threshold, windows, distance_mean, distance_stddev)
            SELECT @id, u.s, u.f, u.ws, u.m, u.t, u.w, u.mean, u.sd
            FROM unnest(@s, @f, @ws, @m, @t, @w, @mean, @sd) AS u(s, f, ws, m, t, w, mean, sd)
            """,
            connection,
            transaction);
        insert.Parameters.Add(new NpgsqlParameter<long>("id", id));
        insert.Parameters.Add(new NpgsqlParameter<string[]>("s", [.. thresholds.Select(t => t.Threshold.Feature is null ? Prediction : Feature)]));
        insert.Parameters.Add(new NpgsqlParameter<string[]>("f", [.. thresholds.Select(t => t.Threshold.Feature ?? "")]));
        insert.Parameters.Add(new NpgsqlParameter<int[]>("ws", [.. thresholds.Select(t => t.WindowSeconds)]));
        insert.Parameters.Add(new NpgsqlParameter<string[]>("m", [.. thresholds.Select(t => t.Threshold.Method.Label())]));
        insert.Parameters.Add(new NpgsqlParameter<double[]>("t", [.. thresholds.Select(t => t.Threshold.Threshold)]));
        insert.Parameters.Add(new NpgsqlParameter<int[]>("w", [.. thresholds.Select(t => t.Threshold.Windows)]));
        insert.Parameters.Add(new NpgsqlParameter<double[]>("mean", [.. thresholds.Select(t => t.Threshold.Mean)]));
        insert.Parameters.Add(new NpgsqlParameter<double[]>("sd", [.. thresholds.Select(t => t.Threshold.StdDev)]));
        await insert.ExecuteNonQueryAsync(cancellationToken);
    }

    private static DateTimeOffset? Utc(DateTime? value) =>
        value is { } v ? new DateTimeOffset(DateTime.SpecifyKind(v, DateTimeKind.Utc)) : null;
}
