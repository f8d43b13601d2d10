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
using ModelMonitor.Hosting.Http;
using ModelMonitor.Hosting.Logging;
using ModelMonitor.Hosting.Observability;
using ModelMonitor.Hosting.Security;

namespace ModelMonitor.Hosting;

/// <summary>What every ModelMonitor service has: logging, metrics, health, errors.</summary>
public static class ServiceDefaults
{
    public const string ReadyTag = "ready";

    /// <summary>
    /// Serilog logging (console; compact JSON lines with Logging:Json=true; see <see cref="ServiceLogging"/>),
    /// prometheus-net metrics (see <see cref="ServiceMetrics"/>), health checks, problem-details errors. Idempotent, so an all-in-one
    /// host can compose several services that each call it.
    /// </summary>
    public static IHostApplicationBuilder AddServiceDefaults(this IHostApplicationBuilder builder)
    {
        if (builder.Services.Any(s => s.ServiceType == typeof(ServiceDefaultsMarker)))
        {
            return builder;
        }
        builder.Services.AddSingleton<ServiceDefaultsMarker>();

        builder.AddServiceLogging();

        builder.Services.AddServiceMetrics();
        builder.Services.AddSingleton(services => MetricsToken.From(services.GetRequiredService<IConfiguration>()));
        builder.Services.AddHealthChecks();
        builder.Services.AddProblemResponses();

        return builder;
    }

    /// <summary>
    /// GET /metrics (Prometheus text format, OpenMetrics when asked, gzip when accepted), GET /healthz (the process is alive),
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
        app.UseServiceMetrics();
        app.UseServiceRequestLogging();
        app.UseProblemResponses();
        app.UseMetricsToken();
        app.MapServiceMetrics();
        app.MapHealthChecks("/healthz", new HealthCheckOptions { Predicate = _ => false });
        app.MapHealthChecks("/readyz", new HealthCheckOptions
        {
            Predicate = check => check.Tags.Contains(ReadyTag),
            ResponseWriter = WriteHealthReport,
        });
        return app;
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
