using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace ModelMonitor.Storage;

public static class PostgresExtensions
{
    /// <summary>The connection string name: ConnectionStrings:Postgres (env: ConnectionStrings__Postgres).</summary>
    public const string ConnectionStringName = "Postgres";

    /// <summary>
    /// Registers one singleton <see cref="NpgsqlDataSource"/> built from ConnectionStrings:Postgres, and
    /// the <see cref="PostgresMigrator"/>. Idempotent: services composed in one process share both.
    /// A missing connection string fails when the data source is first resolved, with a message.
    /// </summary>
    public static IHostApplicationBuilder AddPostgres(this IHostApplicationBuilder builder)
    {
        builder.Services.TryAddSingleton(services =>
        {
            var connectionString = services.GetRequiredService<IConfiguration>().GetConnectionString(ConnectionStringName);
            if (string.IsNullOrWhiteSpace(connectionString))
            {
                throw new InvalidOperationException(
                    $"ConnectionStrings:{ConnectionStringName} is not set (environment: ConnectionStrings__{ConnectionStringName}), " +
                    "e.g. \"Host=localhost;Username=modelmonitor;Password=...;Database=modelmonitor\".");
            }

            return new NpgsqlDataSourceBuilder(connectionString)
                .UseLoggerFactory(services.GetRequiredService<ILoggerFactory>())
                .Build();
        });
        builder.Services.TryAddSingleton<PostgresMigrator>();
        return builder;
    }
}
