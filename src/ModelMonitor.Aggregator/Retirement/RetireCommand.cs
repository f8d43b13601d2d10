using System.Globalization;
using Dapper;
using ModelMonitor.Storage;
using Npgsql;

namespace ModelMonitor.Aggregator.Retirement;

/// <summary>
/// The operator's way to retire a predictor or one model of it (a throwaway test predictor, a model replaced for
/// good): its series leave /metrics at the exporter's next refresh, so its alerts resolve and it stops paging. A
/// model that serves again after it was retired is exported again. Subcommands of the aggregator (it owns the
/// writes), e.g. <c>dotnet ModelMonitor.Aggregator.dll retire --predictor my_test [--model v1] [--reason "..."]</c>,
/// <c>unretire --predictor my_test [--model v1]</c>, <c>retired</c> (list). Postgres from ConnectionStrings:Postgres
/// (environment ConnectionStrings__Postgres) or --connection-string.
/// </summary>
public static class RetireCommand
{
    private static readonly string[] Verbs = ["retire", "unretire", "retired"];

    public static bool Matches(string[] args) => args.Length > 0 && Verbs.Contains(args[0], StringComparer.Ordinal);

    public const string Usage = """
        usage: retire   --predictor NAME [--model ID] [--reason TEXT]   stop exporting a predictor (all its models) or one model
               unretire --predictor NAME [--model ID]                   undo
               retired                                                  list what is retired
        Postgres: ConnectionStrings__Postgres, or --connection-string "Host=...;Username=...;Password=...;Database=..."
        """;

    /// <returns>The process exit code: 0 done, 2 bad usage, 1 Postgres failed.</returns>
    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter error)
    {
        var options = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 1; i < args.Length; i++)
        {
            if (!args[i].StartsWith("--", StringComparison.Ordinal) || i + 1 >= args.Length)
            {
                await error.WriteLineAsync($"unexpected argument '{args[i]}'\n{Usage}");
                return 2;
            }
            options[args[i][2..]] = args[++i];
        }
        var unknown = options.Keys.Except(["predictor", "model", "reason", "connection-string"]).FirstOrDefault();
        var predictor = options.GetValueOrDefault("predictor");
        if (unknown is not null || (args[0] != "retired" && string.IsNullOrWhiteSpace(predictor)))
        {
            await error.WriteLineAsync((unknown is not null ? $"unknown option --{unknown}" : "--predictor is required") + "\n" + Usage);
            return 2;
        }
        var connectionString = options.GetValueOrDefault("connection-string")
            ?? Environment.GetEnvironmentVariable($"ConnectionStrings__{PostgresExtensions.ConnectionStringName}");
        if (string.IsNullOrWhiteSpace(connectionString))
        {
            await error.WriteLineAsync($"Postgres is not configured: set ConnectionStrings__{PostgresExtensions.ConnectionStringName} or pass --connection-string\n{Usage}");
            return 2;
        }

        var model = options.GetValueOrDefault("model") ?? "";
        var what = model.Length == 0 ? $"predictor {predictor} (every model)" : $"model {model} of predictor {predictor}";
        try
        {
            await using var dataSource = NpgsqlDataSource.Create(connectionString);
            await using var connection = await dataSource.OpenConnectionAsync();
            switch (args[0])
            {
                case "retire":
                    var at = await connection.ExecuteScalarAsync<DateTime>("""
                        INSERT INTO retired_models (predictor_name, model_id, reason) VALUES (@predictor, @model, @reason)
                        ON CONFLICT (predictor_name, model_id) DO UPDATE SET retired_at = now(), reason = excluded.reason
                        RETURNING retired_at
                        """, new { predictor, model, reason = options.GetValueOrDefault("reason") ?? "" });
                    await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                        $"retired {what} at {at:yyyy-MM-ddTHH:mm:ssZ}: its series leave /metrics at the exporter's next refresh; it is exported again if it sends predictions after that time"));
                    return 0;
                case "unretire":
                    var removed = await connection.ExecuteAsync(
                        "DELETE FROM retired_models WHERE predictor_name = @predictor AND model_id = @model", new { predictor, model });
                    await output.WriteLineAsync(removed == 0 ? $"{what} was not retired" : $"unretired {what}");
                    return 0;
                default:
                    var rows = await connection.QueryAsync<(string Predictor, string Model, DateTime At, string Reason)>(
                        "SELECT predictor_name, model_id, retired_at, reason FROM retired_models ORDER BY predictor_name, model_id");
                    foreach (var row in rows)
                    {
                        await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                            $"{row.Predictor}\t{(row.Model.Length == 0 ? "*" : row.Model)}\t{row.At:yyyy-MM-ddTHH:mm:ssZ}\t{row.Reason}"));
                    }
                    return 0;
            }
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException)
        {
            await error.WriteLineAsync($"Postgres failed: {e.Message} (the aggregator creates the table at its first start: has it run against this database?)");
            return 1;
        }
    }
}
