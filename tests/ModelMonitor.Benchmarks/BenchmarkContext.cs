using ModelMonitor.Testing.Postgres;

namespace ModelMonitor.Benchmarks;

/// <summary>What the scenarios share: options and one private Postgres cluster (a fresh database per run).</summary>
internal sealed class BenchmarkContext(BenchmarkOptions options) : IAsyncDisposable
{
    private PostgresServer? _postgres;

    public BenchmarkOptions Options => options;

    /// <summary>The shared fixture's private cluster (initdb, fsync off: durability is not what is measured).</summary>
    public async Task<string> NewDatabaseAsync(string name)
    {
        _postgres ??= await PostgresServer.CreateAsync();
        return await _postgres.CreateDatabaseAsync(name);
    }

    public async ValueTask DisposeAsync()
    {
        if (_postgres is not null)
        {
            await _postgres.DisposeAsync();
        }
    }
}
