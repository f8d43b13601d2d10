using System.Diagnostics;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using ModelMonitor.Core.Metrics;

namespace ModelMonitor.Hosting.Observability;

/// <summary>Counts HTTP requests by route, method and status, and times them (two of the golden signals).</summary>
public sealed class RequestMetrics
{
    public RequestMetrics(MetricsRegistry registry)
    {
        Requests = registry.CreateCounter("modelmonitor_http_requests_total",
            "HTTP requests served, by route template, method and status code.", "route", "method", "status");
        Duration = registry.CreateHistogram("modelmonitor_http_request_duration_seconds",
            "HTTP request duration in seconds, by route template and method.", Histogram.LatencyBuckets, "route", "method");
        InFlight = registry.CreateGauge("modelmonitor_http_requests_in_flight", "HTTP requests being served.");
    }

    public Counter Requests { get; }
    public Histogram Duration { get; }
    public Gauge InFlight { get; }

    internal async Task Measure(HttpContext context, RequestDelegate next)
    {
        var started = Stopwatch.GetTimestamp();
        InFlight.Inc();
        try
        {
            await next(context);
        }
        finally
        {
            InFlight.Dec();
            // The route template keeps the label set bounded (never the raw path).
            var route = (context.GetEndpoint() as RouteEndpoint)?.RoutePattern.RawText ?? "unmatched";
            var method = context.Request.Method;
            Requests.WithLabels(route, method, StatusLabel(context.Response.StatusCode)).Inc();
            Duration.WithLabels(route, method).Observe(Stopwatch.GetElapsedTime(started).TotalSeconds);
        }
    }

    private static readonly string[] StatusLabels = [.. Enumerable.Range(0, 600).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture))];

    private static string StatusLabel(int status) => status is >= 0 and < 600 ? StatusLabels[status] : "other";
}

public static class RequestMetricsExtensions
{
    /// <summary>Adds request counting and timing. Call after UseRouting-equivalent setup (minimal APIs route implicitly).</summary>
    public static IApplicationBuilder UseRequestMetrics(this IApplicationBuilder app)
    {
        var metrics = (RequestMetrics)app.ApplicationServices.GetService(typeof(RequestMetrics))!;
        return app.Use(next => context => metrics.Measure(context, next));
    }
}
