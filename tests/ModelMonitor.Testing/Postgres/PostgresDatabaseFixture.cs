using Npgsql;

namespace ModelMonitor.Testing.Postgres;

/// <summary>
/// xunit fixture: a fresh, empty database on the process-wide private Postgres server
/// (<see cref="PostgresServer.SharedAsync"/>). Use it as <c>IClassFixture&lt;PostgresDatabaseFixture&gt;</c>
/// for one database per test class, or create one per test with <see cref="CreateAsync"/>.
/// The database has no schema: run <c>PostgresMigrator</c> (ModelMonitor.Storage) to add it.
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
