using Dapper;
using Npgsql;
using static ModelMonitor.Storage.PostgresValues;

namespace ModelMonitor.WebConsole.Shared;

/// <summary>What every model and feature page starts with: the model's row, its role, when it was trained, and the window
/// sizes stored for it within the range.</summary>
public sealed record ModelHeader(
    string PredictorName,
    string ModelId,
    string Role,
    DateTimeOffset FirstSeen,
    DateTimeOffset LastSeen,
    DateTimeOffset? TrainedAt,
    IReadOnlyList<int> Windows)
{
    /// <summary>The window size a chart of <paramref name="range"/> uses among this model's, and the range shortened to the
    /// point budget when even that size needs more (<see cref="ConsoleRange.ChooseWindow"/>, <see cref="ConsoleRange.Clamp"/>).</summary>
    public (int Window, ConsoleRange Range) WindowFor(ConsoleRange range, int pointBudget)
    {
        var window = range.ChooseWindow(Windows, pointBudget);
        return (window, range.Clamp(window, pointBudget));
    }

    /// <summary>One query: the model (null when unknown), its role as the overview names it, and the window sizes with a
    /// row for it in the range (a loose index scan over the sizes, then one primary-key probe per size).</summary>
    public static async Task<ModelHeader?> ReadAsync(NpgsqlConnection connection, string predictor, string model, ConsoleRange range, CancellationToken cancellationToken)
    {
        var row = await connection.QuerySingleOrDefaultAsync<(DateTime FirstSeen, DateTime LastSeen, string Role, DateTime? TrainedAt, int[] Windows)?>(new CommandDefinition(
            """
            WITH RECURSIVE sizes AS (
                SELECT min(window_seconds) AS size FROM model_window_stats
                UNION ALL
                SELECT (SELECT min(window_seconds) FROM model_window_stats WHERE window_seconds > sizes.size) FROM sizes WHERE sizes.size IS NOT NULL)
            SELECT m.first_seen, m.last_seen,
                   CASE WHEN p.primary_model_id = m.model_id THEN 'primary'
                        WHEN m.model_id = ANY (p.shadow_model_ids) THEN 'shadow'
                        WHEN pp.model_id = m.model_id THEN 'inferred primary'
                        ELSE 'candidate' END,
                   pm.trained_at,
                   ARRAY(SELECT size FROM sizes WHERE size IS NOT NULL AND EXISTS (
                       SELECT 1 FROM model_window_stats s WHERE s.window_seconds = sizes.size AND s.predictor_name = m.predictor_name
                         AND s.model_id = m.model_id AND s.window_start >= @from AND s.window_start < @to) ORDER BY size)
            FROM models m
            LEFT JOIN predictors p ON p.predictor_name = m.predictor_name
            LEFT JOIN predictor_primaries pp ON pp.predictor_name = m.predictor_name
            LEFT JOIN predictor_models pm ON pm.predictor_name = m.predictor_name AND pm.model_id = m.model_id
            WHERE m.predictor_name = @predictor AND m.model_id = @model
            """,
            new { predictor, model, from = range.From.UtcDateTime, to = range.To.UtcDateTime }, cancellationToken: cancellationToken));
        return row is { } r
            ? new ModelHeader(predictor, model, r.Role, Utc(r.FirstSeen), Utc(r.LastSeen), r.TrainedAt is { } t ? Utc(t) : null, r.Windows)
            : null;
    }
}
