using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using ModelMonitor.Core.Metrics;
using ModelMonitor.Hosting.Http;
using ModelMonitor.Hosting.Observability;
using Serilog;
using Serilog.Formatting.Json;

namespace ModelMonitor.Hosting;

/// <summary>What every ModelMonitor service has: logging, metrics, health, errors.</summary>
public static class ServiceDefaults
{
    public const string ReadyTag = "ready";

    /// <summary>
    /// Serilog logging (console; JSON lines with Logging:Json=true), the metrics registry with process
    /// metrics, HTTP request metrics, health checks, problem-details errors. Idempotent, so an all-in-one
    /// host can compose several services that each call it.
    /// </summary>
    public static IHostApplicationBuilder AddServiceDefaults(this IHostApplicationBuilder builder)
    {
        if (builder.Services.Any(s => s.ServiceType == typeof(ServiceDefaultsMarker)))
        {
            return builder;
        }
        builder.Services.AddSingleton<ServiceDefaultsMarker>();

        builder.Logging.ClearProviders();
        builder.Logging.AddSerilog(CreateLogger(builder.Configuration), dispose: true);

        builder.Services.AddSingleton(_ =>
        {
            var registry = new MetricsRegistry();
            ProcessMetrics.Register(registry);
            return registry;
        });
        builder.Services.AddSingleton<RequestMetrics>();
        builder.Services.AddHealthChecks();
        builder.Services.AddProblemResponses();

        return builder;
    }

    /// <summary>
    /// GET /metrics (Prometheus text format), GET /healthz (the process is alive),
    /// GET /readyz (every health check tagged "ready" passes: dependencies reachable); before them, errors as
    /// problem details (see <see cref="ProblemResponses"/>). Call it first, before the services' endpoints.
    /// </summary>
    public static WebApplication MapOperationalEndpoints(this WebApplication app)
    {
        // Composed services may each call this; the endpoints are mapped once.
        var marker = app.Services.GetRequiredService<ServiceDefaultsMarker>();
        if (marker.EndpointsMapped)
        {
            return app;
        }
        marker.EndpointsMapped = true;
        app.UseProblemResponses();
        app.UseRequestMetrics();
        var registry = app.Services.GetRequiredService<MetricsRegistry>();
        app.MapGet("/metrics", async (HttpContext context) =>
        {
            context.Response.ContentType = PrometheusTextWriter.ContentType;
            registry.WriteTo(context.Response.BodyWriter);
            await context.Response.BodyWriter.FlushAsync(context.RequestAborted);
        }).ExcludeFromDescription();
        app.MapHealthChecks("/healthz", new HealthCheckOptions { Predicate = _ => false });
        app.MapHealthChecks("/readyz", new HealthCheckOptions
        {
            Predicate = check => check.Tags.Contains(ReadyTag),
            ResponseWriter = WriteHealthReport,
        });
        return app;
    }

    public static Serilog.ILogger CreateLogger(IConfiguration configuration)
    {
        var logger = new LoggerConfiguration()
            .MinimumLevel.Information()
            .MinimumLevel.Override("Microsoft.AspNetCore", Serilog.Events.LogEventLevel.Warning)
            // /readyz reports failing checks; logging each probe would flood the log.
            .MinimumLevel.Override("Microsoft.Extensions.Diagnostics.HealthChecks", Serilog.Events.LogEventLevel.Fatal)
            .MinimumLevel.Override("Npgsql", Serilog.Events.LogEventLevel.Warning)
            .MinimumLevel.Override("System.Net.Http", Serilog.Events.LogEventLevel.Warning)
            .ReadFrom.Configuration(configuration)
            .Enrich.FromLogContext();
        if (configuration.GetValue<bool>("Logging:Json"))
        {
            logger.WriteTo.Console(new JsonFormatter(renderMessage: true));
        }
        else
        {
            logger.WriteTo.Console(outputTemplate: "{Timestamp:HH:mm:ss.fff} {Level:u3} {SourceContext}: {Message:lj}{NewLine}{Exception}");
        }
        return logger.CreateLogger();
    }

    private static Task WriteHealthReport(HttpContext context, HealthReport report)
    {
        context.Response.ContentType = "application/json";
        var body = new
        {
            status = report.Status.ToString(),
            checks = report.Entries.ToDictionary(e => e.Key, e => new { status = e.Value.Status.ToString(), description = e.Value.Description }),
        };
        return context.Response.WriteAsJsonAsync(body, context.RequestAborted);
    }

    private sealed class ServiceDefaultsMarker
    {
        public bool EndpointsMapped { get; set; }
    }
}
