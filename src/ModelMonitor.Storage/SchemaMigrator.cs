using System.Globalization;
using Dapper;
using EvolveDb;
using EvolveDb.Migration;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace ModelMonitor.Storage;

/// <summary>
/// Brings the Postgres schema up to date with Evolve: the embedded <c>Migrations/V&lt;n&gt;__name.sql</c> scripts in
/// version order, each in its own transaction, recorded with its checksum in <see cref="MetadataTable"/> (an applied
/// script that was edited afterwards stops the migration with a validation error instead of drifting). Services that
/// start at once queue on a blocking Postgres advisory lock taken first (Evolve's own lock is polled every 3 s, which
/// would hold the later services up for that long) and then find nothing left to do.
/// A database made before Evolve (versions recorded in <c>schema_migrations</c> by the earlier, hand-written
/// migrator) continues after its highest version: Evolve's StartVersion, set once, on the first run.
/// </summary>
/// <param name="apply">False (Postgres:ApplyMigrations=false) for a service whose database user may not change the schema (the
/// least-privilege roles of schema version 8): it only checks that the schema is at this build's version, and fails (its
/// caller retries) until another service, or the <c>migrate</c> command, has brought it there.</param>
public sealed class SchemaMigrator(NpgsqlDataSource dataSource, ILogger<SchemaMigrator> logger, bool apply = true)
{
    /// <summary>The setting that turns applying migrations off for a service.</summary>
    public const string ApplySetting = "Postgres:ApplyMigrations";

    /// <summary>Evolve's metadata table (applied versions, checksums, its lock).</summary>
    public const string MetadataTable = "schema_changelog";

    /// <summary>The advisory lock key the services queue on ("MMMIGRAT").</summary>
    public const long AdvisoryLockKey = 0x4D4D_4D49_4752_4154;

    /// <summary>The resource-name prefix of the scripts in this assembly.</summary>
    private const string ScriptsPrefix = "ModelMonitor.Storage.Migrations.";

    /// <summary>The versions of the embedded scripts, ascending.</summary>
    public static IReadOnlyList<int> Versions { get; } = [.. typeof(SchemaMigrator).Assembly.GetManifestResourceNames()
        .Where(n => n.StartsWith(ScriptsPrefix + "V", StringComparison.Ordinal))
        .Select(n => int.Parse(n[(ScriptsPrefix.Length + 1)..n.IndexOf("__", StringComparison.Ordinal)], CultureInfo.InvariantCulture))
        .Order()];

    /// <summary>Applies what is missing; returns how many scripts this call applied.</summary>
    public Task<int> MigrateAsync(CancellationToken cancellationToken) =>
        // Evolve is synchronous (it sleeps while another instance holds the lock): off the caller's thread.
        Task.Run(Migrate, cancellationToken);

    private int Migrate()
    {
        using var connection = dataSource.OpenConnection();
        if (!apply)
        {
            int? version = connection.ExecuteScalar<bool>($"SELECT to_regclass('{MetadataTable}') IS NOT NULL")
                ? connection.Query<string>($"SELECT version FROM {MetadataTable} WHERE success AND version ~ '^[0-9]+$'")
                    .Select(v => (int?)int.Parse(v, CultureInfo.InvariantCulture)).Max()
                : null;
            if (version is null || version < Versions[^1])
            {
                throw new InvalidOperationException($"the database schema is at version {(version is { } v ? v.ToString(CultureInfo.InvariantCulture) : "none")}, this service needs version {Versions[^1]}; " +
                    $"{ApplySetting} is false here, so another service or the migrate command applies it");
            }
            logger.LogInformation("Database schema is at version {Version} ({Setting}=false: this service does not migrate)", version, ApplySetting);
            return 0;
        }
        // Session-level, so it spans Evolve's own transactions; released with the connection at the latest.
        connection.Execute("SELECT pg_advisory_lock(@key)", new { key = AdvisoryLockKey }, commandTimeout: 0);
        try
        {
            return MigrateLocked(connection);
        }
        finally
        {
            connection.Execute("SELECT pg_advisory_unlock(@key)", new { key = AdvisoryLockKey });
        }
    }

    private int MigrateLocked(NpgsqlConnection connection)
    {
        var legacy = LegacyVersion(connection);
        var evolve = new Evolve(connection, message => logger.LogDebug("Evolve: {Message}", message))
        {
            EmbeddedResourceAssemblies = [typeof(SchemaMigrator).Assembly],
            EmbeddedResourceFilters = [ScriptsPrefix],
            MetadataTableName = MetadataTable,
            IsEraseDisabled = true,
            CommandTimeout = 300,
        };
        if (legacy is { } version)
        {
            evolve.StartVersion = new MigrationVersion((version + 1).ToString(CultureInfo.InvariantCulture));
            logger.LogInformation("Database made by the earlier migrator at version {Version}: Evolve continues from version {Next}", version, version + 1);
        }
        evolve.Migrate();
        if (evolve.NbMigration > 0)
        {
            logger.LogInformation("Applied {Count} database migrations: {Scripts}", evolve.NbMigration, string.Join(", ", evolve.AppliedMigrations));
        }
        else
        {
            logger.LogInformation("Database schema is up to date (version {Version})", Versions[^1]);
        }
        return evolve.NbMigration;
    }

    /// <summary>The highest version the earlier migrator recorded, when Evolve has not run on this database yet.</summary>
    private static int? LegacyVersion(NpgsqlConnection connection) =>
        connection.ExecuteScalar<bool>($"SELECT to_regclass('{MetadataTable}') IS NULL AND to_regclass('schema_migrations') IS NOT NULL")
            ? connection.ExecuteScalar<int?>("SELECT max(version) FROM schema_migrations")
            : null;
}
