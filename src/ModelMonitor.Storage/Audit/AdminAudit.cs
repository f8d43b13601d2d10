using Dapper;
using Npgsql;

namespace ModelMonitor.Storage.Audit;

/// <summary>One admin action: who (<c>key:&lt;id&gt;</c>, <c>anonymous:&lt;address&gt;</c>, <c>cli:&lt;user&gt;</c>,
/// <c>file:&lt;path&gt;</c>), what (put_predictor, replace_reference, create_key, …), on what, with which details (JSON).</summary>
public sealed record AuditEntry(string Actor, string Action, string? PredictorName, string? ModelId, string? Target, string? DetailsJson);

/// <summary>A stored audit row.</summary>
public sealed record AuditRow(long Id, DateTimeOffset At, string Actor, string Action, string? PredictorName, string? ModelId, string? Target, string? Details);

/// <summary>
/// The audit log of admin actions (table admin_audit, schema version 8): written in the transaction of the change it
/// records, so a change and its row land together or not at all. The services also log each action (structured: Actor,
/// Action, PredictorName, ModelId, Target).
/// </summary>
public static class AdminAudit
{
    public static Task WriteAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction, AuditEntry entry, CancellationToken cancellationToken) =>
        connection.ExecuteAsync(new CommandDefinition(
            """
            INSERT INTO admin_audit (actor, action, predictor_name, model_id, target, details)
            VALUES (@Actor, @Action, @PredictorName, @ModelId, @Target, @DetailsJson::jsonb)
            """,
            entry, transaction, cancellationToken: cancellationToken));

    /// <summary>The latest rows first.</summary>
    public static async Task<IReadOnlyList<AuditRow>> ReadAsync(NpgsqlDataSource dataSource, int limit, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var rows = await connection.QueryAsync<(long Id, DateTime At, string Actor, string Action, string? PredictorName, string? ModelId, string? Target, string? Details)>(
            new CommandDefinition(
                "SELECT id, at, actor, action, predictor_name, model_id, target, details::text FROM admin_audit ORDER BY id DESC LIMIT @limit",
                new { limit }, cancellationToken: cancellationToken));
        return [.. rows.Select(r => new AuditRow(r.Id, PostgresValues.Utc(r.At), r.Actor, r.Action, r.PredictorName, r.ModelId, r.Target, r.Details))];
    }
}
