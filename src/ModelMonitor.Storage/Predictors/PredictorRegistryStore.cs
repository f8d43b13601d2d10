using System.Text.Json;
using Dapper;
using ModelMonitor.Core.Predictors;
using ModelMonitor.Storage.Audit;
using Npgsql;
using static ModelMonitor.Storage.PostgresValues;

namespace ModelMonitor.Storage.Predictors;

/// <summary>A registered predictor as stored.</summary>
public sealed record StoredPredictor(string PredictorName, PredictorRegistration Registration, string Source, DateTimeOffset UpdatedAt);

/// <summary>A registered model as stored.</summary>
public sealed record StoredModel(string PredictorName, string ModelId, ModelRegistration Registration, string Source, DateTimeOffset UpdatedAt);

/// <summary>A model seen in traffic (the models table), with whether it is retired now.</summary>
public sealed record SeenModel(string PredictorName, string ModelId, DateTimeOffset FirstSeen, DateTimeOffset LastSeen, bool Retired);

/// <summary>A predictor's current primary as the primary watcher recorded it.</summary>
public sealed record RecordedPrimary(string PredictorName, string ModelId, string Source, DateTimeOffset Since);

/// <summary>The latest change of a predictor's primary.</summary>
public sealed record PrimaryChange(string PredictorName, DateTimeOffset ChangedAt, string ModelId, string PreviousModelId, string Source);

/// <summary>What a registry write did.</summary>
public enum RegistryWrite
{
    Created,
    Updated,
    Unchanged,
    /// <summary>The entry is managed by the registry file: the API may not change it.</summary>
    ManagedByFile,
    NotFound,
}

/// <summary>
/// The predictor registry (schema version 7): registrations, registered models, the audit log, retirement (the
/// retired_models table the retire command also writes) and the primaries the aggregator's watcher records. Every change
/// is one transaction with its audit row.
/// </summary>
public sealed class PredictorRegistryStore(NpgsqlDataSource dataSource)
{
    public const string ApiSource = "api";
    public const string FileSource = "file";

    public async Task<RegistryWrite> PutPredictorAsync(string name, PredictorRegistration registration, string source, string actor, string body,
        CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var existing = await connection.QuerySingleOrDefaultAsync<string?>(new CommandDefinition(
            "SELECT source FROM predictors WHERE predictor_name = @name FOR UPDATE", new { name }, transaction, cancellationToken: cancellationToken));
        if (existing == FileSource && source == ApiSource)
        {
            return RegistryWrite.ManagedByFile;
        }
        var changed = await connection.ExecuteAsync(new CommandDefinition(
            """
            INSERT INTO predictors (predictor_name, primary_model_id, shadow_model_ids, team, labels, max_model_age, source)
            VALUES (@name, @primary, @shadows, @team, @labels::jsonb, @maxAge, @source)
            ON CONFLICT (predictor_name) DO UPDATE SET
                primary_model_id = excluded.primary_model_id, shadow_model_ids = excluded.shadow_model_ids, team = excluded.team,
                labels = excluded.labels, max_model_age = excluded.max_model_age, source = excluded.source, updated_at = now()
            WHERE (predictors.primary_model_id, predictors.shadow_model_ids, predictors.team, predictors.labels, predictors.max_model_age, predictors.source)
                  IS DISTINCT FROM (excluded.primary_model_id, excluded.shadow_model_ids, excluded.team, excluded.labels, excluded.max_model_age, excluded.source)
            """,
            new
            {
                name,
                primary = registration.PrimaryModelId,
                shadows = registration.ShadowModelIds.ToArray(),
                team = registration.Team,
                labels = JsonSerializer.Serialize(registration.Labels),
                maxAge = registration.MaxModelAge,
                source,
            },
            transaction, cancellationToken: cancellationToken));
        var retirement = await SetRetiredAsync(connection, transaction, name, "", registration.Retired, actor, cancellationToken);
        if (changed > 0 || retirement)
        {
            await AuditAsync(connection, transaction, actor, "put_predictor", name, null, body, cancellationToken);
        }
        await transaction.CommitAsync(cancellationToken);
        return existing is null ? RegistryWrite.Created : changed > 0 || retirement ? RegistryWrite.Updated : RegistryWrite.Unchanged;
    }

    public async Task<RegistryWrite> PutModelAsync(string name, string modelId, ModelRegistration registration, string source, string actor, string body,
        CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var existing = await connection.QuerySingleOrDefaultAsync<string?>(new CommandDefinition(
            "SELECT source FROM predictor_models WHERE predictor_name = @name AND model_id = @modelId FOR UPDATE",
            new { name, modelId }, transaction, cancellationToken: cancellationToken));
        if (existing == FileSource && source == ApiSource)
        {
            return RegistryWrite.ManagedByFile;
        }
        var changed = await connection.ExecuteAsync(new CommandDefinition(
            """
            INSERT INTO predictor_models (predictor_name, model_id, trained_at, training_data_end, version_info, source)
            VALUES (@name, @modelId, @trainedAt, @dataEnd, @info::jsonb, @source)
            ON CONFLICT (predictor_name, model_id) DO UPDATE SET
                trained_at = excluded.trained_at, training_data_end = excluded.training_data_end, version_info = excluded.version_info,
                source = excluded.source, updated_at = now()
            WHERE (predictor_models.trained_at, predictor_models.training_data_end, predictor_models.version_info, predictor_models.source)
                  IS DISTINCT FROM (excluded.trained_at, excluded.training_data_end, excluded.version_info, excluded.source)
            """,
            new
            {
                name,
                modelId,
                trainedAt = registration.TrainedAt?.UtcDateTime,
                dataEnd = registration.TrainingDataEnd?.UtcDateTime,
                info = registration.VersionInfo,
                source,
            },
            transaction, cancellationToken: cancellationToken));
        var retirement = await SetRetiredAsync(connection, transaction, name, modelId, registration.Retired, actor, cancellationToken);
        if (changed > 0 || retirement)
        {
            await AuditAsync(connection, transaction, actor, "put_model", name, modelId, body, cancellationToken);
        }
        await transaction.CommitAsync(cancellationToken);
        return existing is null ? RegistryWrite.Created : changed > 0 || retirement ? RegistryWrite.Updated : RegistryWrite.Unchanged;
    }

    /// <summary>Removes a predictor's registration (or one model's, <paramref name="modelId"/> not null) and retires it: it
    /// leaves /metrics at the exporter's next refresh and comes back if it serves again.</summary>
    public async Task<RegistryWrite> DeleteAsync(string name, string? modelId, string source, string actor, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var registeredSource = await connection.QuerySingleOrDefaultAsync<string?>(new CommandDefinition(
            modelId is null
                ? "SELECT source FROM predictors WHERE predictor_name = @name FOR UPDATE"
                : "SELECT source FROM predictor_models WHERE predictor_name = @name AND model_id = @modelId FOR UPDATE",
            new { name, modelId }, transaction, cancellationToken: cancellationToken));
        if (registeredSource == FileSource && source == ApiSource)
        {
            return RegistryWrite.ManagedByFile;
        }
        var seen = await connection.ExecuteScalarAsync<bool>(new CommandDefinition(
            "SELECT EXISTS (SELECT 1 FROM models WHERE predictor_name = @name AND (@modelId::text IS NULL OR model_id = @modelId))",
            new { name, modelId }, transaction, cancellationToken: cancellationToken));
        if (registeredSource is null && !seen)
        {
            return RegistryWrite.NotFound;
        }
        await connection.ExecuteAsync(new CommandDefinition(
            modelId is null
                ? "DELETE FROM predictors WHERE predictor_name = @name; DELETE FROM predictor_models WHERE predictor_name = @name"
                : "DELETE FROM predictor_models WHERE predictor_name = @name AND model_id = @modelId",
            new { name, modelId }, transaction, cancellationToken: cancellationToken));
        await SetRetiredAsync(connection, transaction, name, modelId ?? "", true, actor, cancellationToken);
        await AuditAsync(connection, transaction, actor, modelId is null ? "delete_predictor" : "delete_model", name, modelId, null, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return RegistryWrite.Updated;
    }

    /// <returns>Whether the retirement changed.</returns>
    private static async Task<bool> SetRetiredAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string name, string modelId, bool? retired,
        string actor, CancellationToken cancellationToken)
    {
        if (retired is null)
        {
            return false;
        }
        return await connection.ExecuteAsync(new CommandDefinition(
            retired.Value
                ? """
                  INSERT INTO retired_models (predictor_name, model_id, reason) VALUES (@name, @modelId, @reason)
                  ON CONFLICT (predictor_name, model_id) DO UPDATE SET retired_at = now(), reason = excluded.reason
                  """
                : "DELETE FROM retired_models WHERE predictor_name = @name AND model_id = @modelId",
            new { name, modelId, reason = $"registry ({actor})" }, transaction, cancellationToken: cancellationToken)) > 0;
    }

    private static Task AuditAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string actor, string action, string name, string? modelId,
        string? body, CancellationToken cancellationToken) =>
        AdminAudit.WriteAsync(connection, transaction, new AuditEntry(actor, action, name, modelId, null, body), cancellationToken);

    /// <summary>Makes the registry file's entries the registered ones of source 'file': upserts every entry, deletes the
    /// file-sourced entries the file no longer has (API-registered entries of the same names are taken over).</summary>
    /// <returns>How many entries changed.</returns>
    public async Task<int> SyncFileAsync(string path, IReadOnlyList<(string Name, PredictorRegistration Registration, string Body)> predictors,
        IReadOnlyList<(string Name, string ModelId, ModelRegistration Registration, string Body)> models, CancellationToken cancellationToken)
    {
        var actor = $"file:{path}";
        var changed = 0;
        foreach (var (name, registration, body) in predictors)
        {
            changed += await PutPredictorAsync(name, registration, FileSource, actor, body, cancellationToken) is RegistryWrite.Created or RegistryWrite.Updated ? 1 : 0;
        }
        foreach (var (name, modelId, registration, body) in models)
        {
            changed += await PutModelAsync(name, modelId, registration, FileSource, actor, body, cancellationToken) is RegistryWrite.Created or RegistryWrite.Updated ? 1 : 0;
        }
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var gonePredictors = (await connection.QueryAsync<string>(new CommandDefinition(
            "DELETE FROM predictors WHERE source = 'file' AND NOT (predictor_name = ANY(@names)) RETURNING predictor_name",
            new { names = predictors.Select(p => p.Name).ToArray() }, transaction, cancellationToken: cancellationToken))).ToList();
        var goneModels = (await connection.QueryAsync<(string, string)>(new CommandDefinition(
            """
            DELETE FROM predictor_models m WHERE source = 'file'
              AND NOT EXISTS (SELECT 1 FROM unnest(@names, @models) AS k(p, m) WHERE k.p = m.predictor_name AND k.m = m.model_id)
            RETURNING predictor_name, model_id
            """,
            new { names = models.Select(m => m.Name).ToArray(), models = models.Select(m => m.ModelId).ToArray() },
            transaction, cancellationToken: cancellationToken))).ToList();
        foreach (var name in gonePredictors)
        {
            await AuditAsync(connection, transaction, actor, "remove_from_file", name, null, null, cancellationToken);
        }
        foreach (var (name, modelId) in goneModels)
        {
            await AuditAsync(connection, transaction, actor, "remove_from_file", name, modelId, null, cancellationToken);
        }
        await transaction.CommitAsync(cancellationToken);
        return changed + gonePredictors.Count + goneModels.Count;
    }

    public async Task<IReadOnlyList<StoredPredictor>> ReadPredictorsAsync(string? name, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var rows = await connection.QueryAsync<(string Name, string? Primary, string[] Shadows, string? Team, string Labels, TimeSpan? MaxAge, string Source, DateTime UpdatedAt)>(
            new CommandDefinition(
                """
                SELECT predictor_name, primary_model_id, shadow_model_ids, team, labels::text, max_model_age, source, updated_at
                FROM predictors WHERE @name::text IS NULL OR predictor_name = @name ORDER BY predictor_name
                """, new { name }, cancellationToken: cancellationToken));
        return [.. rows.Select(r => new StoredPredictor(r.Name,
            new PredictorRegistration(r.Primary, r.Shadows, r.Team, JsonSerializer.Deserialize<Dictionary<string, string>>(r.Labels) ?? [], r.MaxAge, null),
            r.Source, Utc(r.UpdatedAt)))];
    }

    public async Task<IReadOnlyList<StoredModel>> ReadModelsAsync(string? name, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var rows = await connection.QueryAsync<(string Name, string Model, DateTime? TrainedAt, DateTime? DataEnd, string Info, string Source, DateTime UpdatedAt)>(
            new CommandDefinition(
                """
                SELECT predictor_name, model_id, trained_at, training_data_end, version_info::text, source, updated_at
                FROM predictor_models WHERE @name::text IS NULL OR predictor_name = @name ORDER BY predictor_name, model_id
                """, new { name }, cancellationToken: cancellationToken));
        return [.. rows.Select(r => new StoredModel(r.Name, r.Model,
            new ModelRegistration(r.TrainedAt is { } t ? Utc(t) : null, r.DataEnd is { } d ? Utc(d) : null, r.Info, null), r.Source, Utc(r.UpdatedAt)))];
    }

    /// <summary>Models seen in traffic (of one predictor, or all), with whether each is retired and silent since.</summary>
    public async Task<IReadOnlyList<SeenModel>> ReadSeenModelsAsync(string? name, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var rows = await connection.QueryAsync<(string Name, string Model, DateTime FirstSeen, DateTime LastSeen, bool Retired)>(new CommandDefinition(
            """
            SELECT m.predictor_name, m.model_id, m.first_seen, m.last_seen,
                   EXISTS (SELECT 1 FROM retired_models r
                           WHERE r.predictor_name = m.predictor_name AND r.model_id IN ('', m.model_id) AND r.retired_at >= m.last_seen)
            FROM models m WHERE @name::text IS NULL OR m.predictor_name = @name ORDER BY m.predictor_name, m.model_id
            """, new { name }, cancellationToken: cancellationToken));
        return [.. rows.Select(r => new SeenModel(r.Name, r.Model, Utc(r.FirstSeen), Utc(r.LastSeen), r.Retired))];
    }

    public async Task<IReadOnlyList<RecordedPrimary>> ReadPrimariesAsync(CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var rows = await connection.QueryAsync<(string Name, string Model, string Source, DateTime Since)>(new CommandDefinition(
            "SELECT predictor_name, model_id, source, since FROM predictor_primaries", cancellationToken: cancellationToken));
        return [.. rows.Select(r => new RecordedPrimary(r.Name, r.Model, r.Source, Utc(r.Since)))];
    }

    /// <summary>The latest change of each predictor's primary.</summary>
    public async Task<IReadOnlyList<PrimaryChange>> ReadLatestChangesAsync(CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var rows = await connection.QueryAsync<(string Name, DateTime At, string Model, string Previous, string Source)>(new CommandDefinition(
            """
            SELECT DISTINCT ON (predictor_name) predictor_name, changed_at, model_id, previous_model_id, source
            FROM predictor_primary_changes ORDER BY predictor_name, changed_at DESC
            """, cancellationToken: cancellationToken));
        return [.. rows.Select(r => new PrimaryChange(r.Name, Utc(r.At), r.Model, r.Previous, r.Source))];
    }

    /// <summary>Predictions per (predictor, model) in the windows of <paramref name="windowSeconds"/> that end in the last hour
    /// or later (with 1m or 5m windows, the last hour; with only larger ones, their current and last windows), retired models
    /// left out: what the inferred primary is chosen by.</summary>
    public async Task<IReadOnlyList<(string PredictorName, string ModelId, long Count)>> ReadLastHourTrafficAsync(int windowSeconds, DateTimeOffset now,
        CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var rows = await connection.QueryAsync<(string, string, long)>(new CommandDefinition(
            """
            SELECT s.predictor_name, s.model_id, sum(s.prediction_count)::bigint
            FROM model_window_stats s
            WHERE s.window_seconds = @windowSeconds AND s.window_start > @since - make_interval(secs => @windowSeconds)
              AND NOT EXISTS (SELECT 1 FROM retired_models r JOIN models m ON m.predictor_name = r.predictor_name AND r.model_id IN ('', m.model_id)
                              WHERE m.predictor_name = s.predictor_name AND m.model_id = s.model_id AND r.retired_at >= m.last_seen)
            GROUP BY s.predictor_name, s.model_id
            """, new { windowSeconds, since = (now - TimeSpan.FromHours(1)).UtcDateTime }, cancellationToken: cancellationToken, commandTimeout: 120));
        return [.. rows];
    }

    /// <summary>Records the primaries decided now: new ones inserted, changed ones updated with a row in the change history.</summary>
    /// <returns>The changes recorded.</returns>
    public async Task<IReadOnlyList<PrimaryChange>> RecordPrimariesAsync(IReadOnlyList<(string PredictorName, string ModelId, string Source)> primaries,
        DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var current = (await connection.QueryAsync<(string Name, string Model)>(new CommandDefinition(
            "SELECT predictor_name, model_id FROM predictor_primaries FOR UPDATE", transaction: transaction, cancellationToken: cancellationToken)))
            .ToDictionary(r => r.Name, r => r.Model, StringComparer.Ordinal);
        var changes = new List<PrimaryChange>();
        var upserts = new List<(string Name, string Model, string Source)>();
        foreach (var (name, model, source) in primaries)
        {
            if (current.TryGetValue(name, out var previous) && previous == model)
            {
                continue;
            }
            upserts.Add((name, model, source));
            if (previous is not null)
            {
                changes.Add(new PrimaryChange(name, now, model, previous, source));
            }
        }
        if (upserts.Count > 0)
        {
            await connection.ExecuteAsync(new CommandDefinition(
                """
                INSERT INTO predictor_primaries (predictor_name, model_id, source, since)
                SELECT p, m, s, @now FROM unnest(@names, @models, @sources) AS k(p, m, s)
                ON CONFLICT (predictor_name) DO UPDATE SET model_id = excluded.model_id, source = excluded.source, since = excluded.since
                """,
                new { names = upserts.Select(u => u.Name).ToArray(), models = upserts.Select(u => u.Model).ToArray(), sources = upserts.Select(u => u.Source).ToArray(), now = now.UtcDateTime },
                transaction, cancellationToken: cancellationToken));
        }
        if (changes.Count > 0)
        {
            await connection.ExecuteAsync(new CommandDefinition(
                """
                INSERT INTO predictor_primary_changes (predictor_name, changed_at, model_id, previous_model_id, source)
                SELECT * FROM unnest(@names, @at, @models, @previous, @sources) ON CONFLICT DO NOTHING
                """,
                new
                {
                    names = changes.Select(c => c.PredictorName).ToArray(),
                    at = changes.Select(c => c.ChangedAt.UtcDateTime).ToArray(),
                    models = changes.Select(c => c.ModelId).ToArray(),
                    previous = changes.Select(c => c.PreviousModelId).ToArray(),
                    sources = changes.Select(c => c.Source).ToArray(),
                },
                transaction, cancellationToken: cancellationToken));
        }
        await transaction.CommitAsync(cancellationToken);
        return changes;
    }

}
