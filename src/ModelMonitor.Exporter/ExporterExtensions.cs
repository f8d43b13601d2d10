using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using ModelMonitor.Exporter.Text;
using ModelMonitor.Hosting;
using ModelMonitor.Hosting.Options;
using ModelMonitor.References.Drift;
using ModelMonitor.Storage;
using ModelMonitor.Storage.Evaluation;
using ModelMonitor.Storage.Predictors;
using ModelMonitor.Storage.References;
using ModelMonitor.Storage.Shadows;
using ModelMonitor.Storage.Statistics;
using ModelMonitor.WebConsole;

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
        builder.Services.TryAddSingleton<StatisticsReader>();
        builder.Services.AddOptions<DriftOptions>().BindConfiguration(DriftOptions.SectionName).ValidateOnStart();
        builder.Services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<DriftOptions>, DriftOptions.Validator>());
        builder.Services.TryAddSingleton<ReferenceStore>(); // read here: the exporter writes nothing
        builder.Services.AddEvaluationOptions();
        builder.Services.TryAddSingleton<EvaluationStore>(); // read here: model quality per window
        builder.Services.AddPredictorOptions();
        builder.Services.TryAddSingleton<PredictorRegistryStore>(); // read here: roles, ages, primary changes
        builder.Services.TryAddSingleton<ShadowStore>(); // read here: the shadow comparison
        builder.Services.AddSingleton<ExpositionCache>();
        builder.Services.AddWebConsole(); // GET /: the console's overview (issue 19)
        builder.Services.AddHostedService<ExporterWorker>();
        builder.Services.AddHealthChecks().AddCheck<ExporterHealthCheck>("exporter", tags: [ServiceDefaults.ReadyTag]);
        return builder;
    }

    /// <summary>The statistics' own scrape endpoint: the exposition the refresh worker rendered.</summary>
    public const string StatisticsPath = "/metrics/statistics";

    /// <summary>
    /// GET /metrics/statistics: the per-model statistics, pre-rendered at each refresh (text format 0.0.4; gzip
    /// when the scraper accepts it, compressed once per refresh). The process's own metrics stay on /metrics (mapped
    /// by MapOperationalEndpoints); Prometheus scrapes both (deploy/prometheus/prometheus.yml).
    /// </summary>
    public static WebApplication MapExporterEndpoints(this WebApplication app)
    {
        app.MapOperationalEndpoints();
        app.MapWebConsole();
        var cache = app.Services.GetRequiredService<ExpositionCache>();
        app.MapGet(StatisticsPath, (HttpContext context) =>
        {
            var gzip = context.Request.Headers.AcceptEncoding.Any(v => v is not null && v.Contains("gzip", StringComparison.OrdinalIgnoreCase));
            context.Response.ContentType = PrometheusTextWriter.ContentType;
            context.Response.Headers.Vary = "Accept-Encoding";
            if (gzip)
            {
                context.Response.Headers.ContentEncoding = "gzip";
            }
            if (gzip)
            {
                var compressed = cache.CurrentGzip;
                context.Response.ContentLength = compressed.Length;
                return context.Response.Body.WriteAsync(compressed, context.RequestAborted).AsTask();
            }

            var exposition = cache.Current;
            context.Response.ContentLength = exposition.Length;
            return WriteSegmentsAsync(context.Response.Body, exposition.Segments, context.RequestAborted);
        }).ExcludeFromDescription();
        return app;
    }

    private static async Task WriteSegmentsAsync(Stream body, IReadOnlyList<ReadOnlyMemory<byte>> segments, CancellationToken cancellationToken)
    {
        foreach (var segment in segments)
        {
            await body.WriteAsync(segment, cancellationToken);
        }
    }

    private sealed class ExporterHealthCheck(ExpositionCache cache) : IHealthCheck
    {
        public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
            Task.FromResult(cache.HasRefreshed
                ? HealthCheckResult.Healthy($"{cache.Current.Series} series")
                : HealthCheckResult.Unhealthy("No successful refresh from Postgres yet."));
    }
}
