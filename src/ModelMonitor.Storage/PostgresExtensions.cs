using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace ModelMonitor.Storage;

public static class PostgresExtensions
{
    /// <summary>The connection string name: ConnectionStrings:Postgres (env: ConnectionStrings__Postgres).</summary>
    public const string ConnectionStringName = "Postgres";

    /// <summary>The /readyz entry of the Postgres check.</summary>
    public const string HealthCheckName = "postgres";

    /// <summary>
    /// Registers one singleton <see cref="NpgsqlDataSource"/> built from ConnectionStrings:Postgres, the schema
    /// migration (<see cref="SchemaMigration"/>, run once per process start) and a Postgres health check. Idempotent:
    /// services composed in one process share all three. A missing connection string fails when the data source is
    /// first resolved, with a message.
    /// </summary>
    /// <param name="readinessTag">The tag of the checks /readyz runs. An unreachable Postgres reports Degraded, which
    /// does not fail readiness by itself: each service's own check decides, with its tolerance (the aggregator waits
    /// 30 s of failing flushes; the exporter serves its last refresh).</param>
    public static IHostApplicationBuilder AddPostgres(this IHostApplicationBuilder builder, string readinessTag)
    {
        if (builder.Services.Any(s => s.ServiceType == typeof(SchemaMigration)))
        {
            return builder;
        }
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
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.AddSingleton(services => new SchemaMigrator(services.GetRequiredService<NpgsqlDataSource>(),
            services.GetRequiredService<ILogger<SchemaMigrator>>(), services.GetRequiredService<IConfiguration>().GetValue(SchemaMigrator.ApplySetting, true)));
        builder.Services.AddSingleton<SchemaMigration>();
        builder.Services.AddHostedService(services => services.GetRequiredService<SchemaMigration>());
        builder.Services.AddHealthChecks().AddNpgSql(
            name: HealthCheckName, failureStatus: HealthStatus.Degraded, tags: [readinessTag], timeout: TimeSpan.FromSeconds(5));
        return builder;
    }
}
