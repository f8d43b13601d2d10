using Dapper;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using ModelMonitor.Storage.Statistics;
using ModelMonitor.Testing.Postgres;
using Npgsql;

namespace ModelMonitor.Exporter.Tests;

/// <summary>
/// The roles of schema version 8 (issue 18): the exporter runs as a login of modelmonitor_reader without migrating and
/// serves its metrics, yet cannot write a row or read a key hash; Grafana's role cannot read the keys or the audit log;
/// the writer writes rows but changes no schema.
/// </summary>
public sealed class LeastPrivilegeTests
{
    /// <summary>A login role of <paramref name="group"/> for this test (roles belong to the cluster: a unique name, dropped after).</summary>
    private static async Task<(string ConnectionString, Func<Task> Drop)> LoginAsync(PostgresDatabaseFixture database, string group)
    {
        var login = $"mmtest_{group}_{Guid.NewGuid():N}"[..40];
        await using (var connection = await database.DataSource.OpenConnectionAsync())
        {
            await connection.ExecuteAsync($"CREATE ROLE {login} LOGIN PASSWORD 'test' IN ROLE modelmonitor_{group}");
        }
        var connectionString = new NpgsqlConnectionStringBuilder(database.ConnectionString) { Username = login, Password = "test", Pooling = false }.ToString();
        return (connectionString, async () =>
        {
            await using var connection = await database.DataSource.OpenConnectionAsync();
            await connection.ExecuteAsync($"DROP OWNED BY {login}; DROP ROLE {login}");
        }
        );
    }

    private static async Task<string?> DeniedAsync(string connectionString, string sql)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        try
        {
            await connection.ExecuteAsync(sql);
            return null;
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.InsufficientPrivilege)
        {
            return e.MessageText;
        }
    }

    [Fact]
    public async Task The_exporter_serves_metrics_as_a_reader_that_cannot_write_nor_read_keys()
    {
        await using var database = await PostgresDatabaseFixture.CreateMigratedAsync("roles");
        var start = StatisticsReader.LatestCompletedWindowStart(DateTimeOffset.UtcNow, 300, TimeSpan.Zero);
        await using (var connection = await database.DataSource.OpenConnectionAsync())
        {
            await connection.ExecuteAsync("""
                INSERT INTO models (predictor_name, model_id, first_seen, last_seen) VALUES ('eta', 'v1', @start, @start);
                INSERT INTO model_window_stats (window_seconds, window_start, predictor_name, model_id, prediction_count, nonfinite_count, numeric_count)
                VALUES (300, @start, 'eta', 'v1', 7, 0, 0);
                """, new { start = start.UtcDateTime });
        }
        var (reader, drop) = await LoginAsync(database, "reader");
        try
        {
            await using var factory = ExporterHost.On(reader, ("Postgres:ApplyMigrations", "false"));
            using var client = factory.CreateClient();
            var text = await ExporterHost.StatisticsAsync(client);
            Assert.Contains("modelmonitor_prediction_count{predictor_name=\"eta\",model_id=\"v1\",window=\"5m\"} 7\n", text, StringComparison.Ordinal);

            Assert.NotNull(await DeniedAsync(reader, "INSERT INTO retired_models (predictor_name, model_id) VALUES ('eta', '')"));
            Assert.NotNull(await DeniedAsync(reader, "DELETE FROM model_window_stats"));
            Assert.NotNull(await DeniedAsync(reader, "UPDATE models SET last_seen = now()"));
            Assert.NotNull(await DeniedAsync(reader, "SELECT secret_hash FROM api_keys"));
            Assert.NotNull(await DeniedAsync(reader, "CREATE TABLE sneaky (x int)"));
            Assert.Null(await DeniedAsync(reader, "SELECT count(*) FROM admin_audit"));
        }
        finally
        {
            await drop();
        }
    }

    [Fact]
    public async Task Grafana_reads_statistics_but_not_keys_or_the_audit_log_and_the_writer_writes_rows_but_no_schema()
    {
        await using var database = await PostgresDatabaseFixture.CreateMigratedAsync("roles");
        var (grafana, dropGrafana) = await LoginAsync(database, "grafana");
        var (writer, dropWriter) = await LoginAsync(database, "writer");
        try
        {
            Assert.Null(await DeniedAsync(grafana, "SELECT count(*) FROM feature_window_stats"));
            Assert.Null(await DeniedAsync(grafana, "SELECT count(*) FROM model_window_stats"));
            Assert.NotNull(await DeniedAsync(grafana, "SELECT count(*) FROM api_keys"));
            Assert.NotNull(await DeniedAsync(grafana, "SELECT count(*) FROM admin_audit"));
            Assert.NotNull(await DeniedAsync(grafana, "INSERT INTO retired_models (predictor_name, model_id) VALUES ('x', '')"));

            Assert.Null(await DeniedAsync(writer, "INSERT INTO retired_models (predictor_name, model_id) VALUES ('x', '')"));
            Assert.Null(await DeniedAsync(writer, "INSERT INTO admin_audit (actor, action) VALUES ('test', 'test')")); // its identity sequence too
            Assert.Null(await DeniedAsync(writer, "SELECT count(*) FROM api_keys"));
            Assert.NotNull(await DeniedAsync(writer, "CREATE TABLE sneaky (x int)"));
            Assert.NotNull(await DeniedAsync(writer, "DROP TABLE retired_models"));
        }
        finally
        {
            await dropGrafana();
            await dropWriter();
        }
    }
}
