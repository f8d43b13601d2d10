using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using ModelMonitor.Hosting;
using ModelMonitor.Storage;
using ModelMonitor.Storage.Statistics;

namespace ModelMonitor.Exporter;

public static class ExporterExtensions
{
    /// <summary>The exporter: Exporter options, the refresh worker, the exposition cache and a readiness
    /// check (ready after the first successful refresh). Composable with the other services in one host.</summary>
    public static IHostApplicationBuilder AddExporter(this IHostApplicationBuilder builder)
    {
        builder.AddServiceDefaults();
        builder.AddPostgres(ServiceDefaults.ReadyTag);
        builder.Services.AddOptions<ExporterOptions>().BindConfiguration(ExporterOptions.SectionName).ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<ExporterOptions>, ExporterOptions.Validator>();
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<StatisticsReader>();
        builder.Services.AddSingleton<ExpositionCache>();
        builder.Services.AddHostedService<ExporterWorker>();
        builder.Services.AddHealthChecks().AddCheck<ExporterHealthCheck>("exporter", tags: [ServiceDefaults.ReadyTag]);
        return builder;
    }

    /// <summary>
    /// Appends the cached statistics to the process's GET /metrics (mapped by MapOperationalEndpoints):
    /// a middleware lets the registry's handler write the process, HTTP and exporter metrics, then copies
    /// the pre-rendered statistics after them. One endpoint, one scrape, also in the all-in-one host.
    /// </summary>
    public static WebApplication MapExporterEndpoints(this WebApplication app)
    {
        app.MapOperationalEndpoints();
        AppendStatisticsToMetrics(app);
        return app;
    }

    internal static void AppendStatisticsToMetrics(WebApplication app)
    {
        var cache = app.Services.GetRequiredService<ExpositionCache>();
        app.Use(async (context, next) =>
        {
            await next(context);
            if (HttpMethods.IsGet(context.Request.Method) && context.Request.Path == "/metrics" && context.Response.StatusCode == StatusCodes.Status200OK)
            {
                await context.Response.BodyWriter.WriteAsync(cache.Current.Bytes, context.RequestAborted);
            }
        });
    }

    private sealed class ExporterHealthCheck(ExpositionCache cache) : IHealthCheck
    {
        public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
            Task.FromResult(cache.HasRefreshed
                ? HealthCheckResult.Healthy($"{cache.Current.Series} series")
                : HealthCheckResult.Unhealthy("No successful refresh from Postgres yet."));
    }
}
