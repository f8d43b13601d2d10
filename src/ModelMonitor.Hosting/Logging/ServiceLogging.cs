using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Serilog;
using Serilog.Events;
using Serilog.Formatting.Compact;

namespace ModelMonitor.Hosting.Logging;

/// <summary>
/// Serilog through Serilog.AspNetCore: levels and sinks from the "Serilog" configuration section
/// (<c>ReadFrom.Configuration</c>), the console as text or, with <c>Logging:Json=true</c>, compact JSON lines
/// (<c>@t</c>, <c>@m</c>, <c>@l</c>, properties). One line per HTTP request with the route template (never the raw
/// path), status and elapsed ms, at a level by outcome so a busy API does not log every accepted batch by default.
/// </summary>
public static class ServiceLogging
{
    /// <summary>The request line: "HTTP POST /v1/predictions responded 202 in 3.2 ms".</summary>
    public const string RequestTemplate = "HTTP {RequestMethod:l} {RoutePattern:l} responded {StatusCode} in {Elapsed:0.0} ms";

    internal static void AddServiceLogging(this IHostApplicationBuilder builder)
    {
        builder.Logging.ClearProviders();
        // writeToProviders: ILoggerProviders registered by the host (tests capture logs so) receive the events too.
        // preserveStaticLogger: the logger is this host's, not the process-wide Log.Logger, so hosts in one process
        // (tests, composed services) never write through each other's logger.
        builder.Services.AddSerilog((services, logger) => Configure(logger, builder.Configuration), preserveStaticLogger: true, writeToProviders: true);
    }

    internal static void UseServiceRequestLogging(this WebApplication app) =>
        app.UseSerilogRequestLogging(options =>
        {
            // The host's logger (by default the middleware takes the static Log.Logger, another host's in a test run).
            options.Logger = app.Services.GetRequiredService<Serilog.ILogger>();
            options.MessageTemplate = RequestTemplate;
            options.GetLevel = RequestLevel;
            // An error answered by the exception handler has lost its endpoint; the handler's feature keeps it.
            options.EnrichDiagnosticContext = (diagnostics, context) =>
                diagnostics.Set("RoutePattern", ((context.GetEndpoint() ?? context.Features.Get<IExceptionHandlerFeature>()?.Endpoint) as RouteEndpoint)
                    ?.RoutePattern.RawText ?? "unmatched");
        });

    /// <summary>
    /// Failures at Error; client errors at Information (someone sends bad requests: worth seeing); successes at
    /// Debug and probes and scrapes at Verbose (to see them:
    /// <c>Serilog__MinimumLevel__Override__Serilog.AspNetCore.RequestLoggingMiddleware=Debug</c>).
    /// </summary>
    internal static LogEventLevel RequestLevel(HttpContext context, double elapsedMs, Exception? error) =>
        error is not null || context.Response.StatusCode >= 500 ? LogEventLevel.Error
        : context.Response.StatusCode >= 400 ? LogEventLevel.Information
        : context.Request.Path.StartsWithSegments("/healthz") || context.Request.Path.StartsWithSegments("/readyz")
          || context.Request.Path.StartsWithSegments("/metrics") ? LogEventLevel.Verbose
        : LogEventLevel.Debug;

    private static void Configure(LoggerConfiguration logger, IConfiguration configuration)
    {
        logger
            .MinimumLevel.Information()
            .MinimumLevel.Override("Microsoft.AspNetCore", LogEventLevel.Warning)
            // /readyz reports failing checks; logging each probe would flood the log.
            .MinimumLevel.Override("Microsoft.Extensions.Diagnostics.HealthChecks", LogEventLevel.Fatal)
            .MinimumLevel.Override("Npgsql", LogEventLevel.Warning)
            .MinimumLevel.Override("System.Net.Http", LogEventLevel.Warning)
            .ReadFrom.Configuration(configuration)
            .Enrich.FromLogContext();
        if (configuration.GetValue<bool>("Logging:Json"))
        {
            logger.WriteTo.Console(new RenderedCompactJsonFormatter());
        }
        else
        {
            logger.WriteTo.Console(outputTemplate: "{Timestamp:HH:mm:ss.fff} {Level:u3} {SourceContext}: {Message:lj}{NewLine}{Exception}");
        }
    }
}
