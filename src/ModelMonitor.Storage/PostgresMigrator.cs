using System.Globalization;
using System.Reflection;
using Dapper;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace ModelMonitor.Storage;

/// <summary>One versioned SQL script, embedded from Storage/Migrations/NNNN_name.sql.</summary>
public sealed record Migration(int Version, string Name, string Sql);

/// <summary>
/// Applies the embedded Storage/Migrations/*.sql scripts in version order and records each in
/// schema_migrations. Idempotent (applied versions are skipped) and safe when several services start
/// at once: everything runs in one transaction holding a transaction-scoped advisory lock, so a second
/// migrator waits, then finds the versions already applied. Postgres DDL is transactional, so a failing
/// script leaves nothing half-applied.
/// </summary>
public sealed class PostgresMigrator(NpgsqlDataSource dataSource, ILogger<PostgresMigrator> logger) : IDisposable
{
    /// <summary>The advisory lock key: any constant shared by every ModelMonitor service ("MMMIGRAT").</summary>
    public const long AdvisoryLockKey = 0x4D4D_4D49_4752_4154;

    private readonly SemaphoreSlim _gate = new(1, 1);
    private bool _done;

    /// <summary>The embedded migrations, in version order.</summary>
    public static IReadOnlyList<Migration> Migrations { get; } = LoadEmbedded();

    /// <summary>
    /// Brings the schema up to date; returns how many migrations this call applied. After one success
    /// the instance remembers it, so services sharing a process (the all-in-one host) migrate once.
    /// </summary>
    public async Task<int> MigrateAsync(CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            if (_done)
            {
                return 0;
            }

            var applied = await MigrateOnceAsync(cancellationToken);
            _done = true;
            return applied;
        }
        finally
        {
            _gate.Release();
        }
    }

    public void Dispose() => _gate.Dispose();

    private async Task<int> MigrateOnceAsync(CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await connection.ExecuteAsync(new CommandDefinition(
            "SELECT pg_advisory_xact_lock(@key)", new { key = AdvisoryLockKey }, transaction, cancellationToken: cancellationToken));
        await connection.ExecuteAsync(new CommandDefinition(
            """
            CREATE TABLE IF NOT EXISTS schema_migrations (
                version    integer     PRIMARY KEY,
                name       text        NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            )
            """, transaction: transaction, cancellationToken: cancellationToken));
        var existing = (await connection.QueryAsync<int>(new CommandDefinition(
            "SELECT version FROM schema_migrations", transaction: transaction, cancellationToken: cancellationToken))).ToHashSet();

        var applied = 0;
        foreach (var migration in Migrations.Where(m => !existing.Contains(m.Version)))
        {
            logger.LogInformation("Applying database migration {Version} {Name}", migration.Version, migration.Name);
            await connection.ExecuteAsync(new CommandDefinition(migration.Sql, transaction: transaction, cancellationToken: cancellationToken));
            await connection.ExecuteAsync(new CommandDefinition(
                "INSERT INTO schema_migrations (version, name) VALUES (@Version, @Name)",
                new { migration.Version, migration.Name },
                transaction,
                cancellationToken: cancellationToken));
            applied++;
        }

        await transaction.CommitAsync(cancellationToken);
        if (applied == 0)
        {
            logger.LogInformation("Database schema is up to date at version {Version}", Migrations[^1].Version);
        }

        return applied;
    }

    private static List<Migration> LoadEmbedded()
    {
        const string Folder = ".Storage.Migrations.";
        var assembly = typeof(PostgresMigrator).Assembly;
        var migrations = new List<Migration>();
        foreach (var resource in assembly.GetManifestResourceNames().Where(n => n.Contains(Folder, StringComparison.Ordinal) && n.EndsWith(".sql", StringComparison.Ordinal)))
        {
            var fileName = resource[(resource.IndexOf(Folder, StringComparison.Ordinal) + Folder.Length)..^".sql".Length];
            var separator = fileName.IndexOf('_', StringComparison.Ordinal);
            if (separator <= 0 || !int.TryParse(fileName.AsSpan(0, separator), NumberStyles.None, CultureInfo.InvariantCulture, out var version))
            {
                throw new InvalidOperationException($"Migration resource {resource} is not named NNNN_name.sql.");
            }

            using var stream = assembly.GetManifestResourceStream(resource)!;
            using var reader = new StreamReader(stream);
            migrations.Add(new Migration(version, fileName[(separator + 1)..], reader.ReadToEnd()));
        }

        migrations.Sort((a, b) => a.Version.CompareTo(b.Version));
        var duplicate = migrations.GroupBy(m => m.Version).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null)
        {
            throw new InvalidOperationException($"Two migrations share version {duplicate.Key}.");
        }

        if (migrations.Count == 0)
        {
            throw new InvalidOperationException("No embedded migrations found in " + assembly.GetName().Name + ".");
        }

        return migrations;
    }
}
