using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace ModelMonitor.Storage;

/// <summary>
/// <c>migrate</c>: applies the schema migrations and exits, as the database's owner, for deployments whose services
/// connect as the least-privilege roles (Postgres:ApplyMigrations=false; docker-compose's <c>migrate</c> service).
/// Postgres from ConnectionStrings__Postgres or --connection-string.
/// </summary>
public static class MigrateCommand
{
    public const string Verb = "migrate";

    public static bool Matches(string[] args) => args.Length > 0 && args[0] == Verb;

    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter error)
    {
        var connectionString = args.Length == 3 && args[1] == "--connection-string" ? args[2]
            : args.Length == 1 ? Environment.GetEnvironmentVariable($"ConnectionStrings__{PostgresExtensions.ConnectionStringName}") : null;
        if (string.IsNullOrWhiteSpace(connectionString))
        {
            await error.WriteLineAsync($"usage: migrate [--connection-string \"Host=...;Username=...;Password=...;Database=...\"] (or ConnectionStrings__{PostgresExtensions.ConnectionStringName})");
            return 2;
        }
        try
        {
            await using var dataSource = NpgsqlDataSource.Create(connectionString);
            var applied = await new SchemaMigrator(dataSource, NullLogger<SchemaMigrator>.Instance).MigrateAsync(CancellationToken.None);
            await output.WriteLineAsync($"Schema at version {SchemaMigrator.Versions[^1]} ({applied} migrations applied now).");
            return 0;
        }
        catch (Exception e) when (e is NpgsqlException or InvalidOperationException or EvolveDb.EvolveException)
        {
            await error.WriteLineAsync($"migrate failed: {e.Message}");
            return 1;
        }
    }
}
