using Microsoft.Extensions.Logging.Abstractions;
using ModelMonitor.Storage;
using Npgsql;

namespace ModelMonitor.Testing.Postgres;

/// <summary>
/// xunit fixture: a fresh, empty database on the process-wide private Postgres server
/// (<see cref="PostgresServer.SharedAsync"/>). Use it as <c>IClassFixture&lt;PostgresDatabaseFixture&gt;</c>
/// for one database per test class, or create one per test with <see cref="CreateAsync"/>.
/// The database has no schema unless made by <see cref="CreateMigratedAsync"/>.
/// </summary>
public sealed class PostgresDatabaseFixture : IAsyncLifetime
{
    private NpgsqlDataSource? _dataSource;

    public PostgresServer Server { get; private set; } = null!;

    public string ConnectionString { get; private set; } = "";

    /// <summary>A data source for this database (disposed with the fixture).</summary>
    public NpgsqlDataSource DataSource => _dataSource ?? throw new InvalidOperationException("The fixture is not initialized.");

    /// <summary>A fresh database outside of xunit's fixture lifecycle; dispose it when done.</summary>
    public static async Task<PostgresDatabaseFixture> CreateAsync(string? namePrefix = null)
    {
        var fixture = new PostgresDatabaseFixture();
        await fixture.InitializeAsync(namePrefix);
        return fixture;
    }

    /// <summary>A fresh database with the current schema (<see cref="SchemaMigrator"/>); dispose it when done.</summary>
    public static async Task<PostgresDatabaseFixture> CreateMigratedAsync(string? namePrefix = null)
    {
        var fixture = await CreateAsync(namePrefix);
        await fixture.MigrateAsync();
        return fixture;
    }

    /// <summary>Applies the schema's migrations to this database.</summary>
    public Task<int> MigrateAsync() =>
        new SchemaMigrator(DataSource, NullLogger<SchemaMigrator>.Instance).MigrateAsync(CancellationToken.None);

    public Task InitializeAsync() => InitializeAsync(null);

    public async Task DisposeAsync()
    {
        if (_dataSource is not null)
        {
            await _dataSource.DisposeAsync();
        }
    }

    private async Task InitializeAsync(string? namePrefix)
    {
        Server = await PostgresServer.SharedAsync();
        ConnectionString = await Server.CreateDatabaseAsync(namePrefix);
        _dataSource = NpgsqlDataSource.Create(ConnectionString);
    }
}
