using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using ModelMonitor.WebConsole.Overview;

namespace ModelMonitor.WebConsole;

/// <summary>The console's pages, served by the exporter (read-only, from Postgres; behind Metrics:RequireToken's token
/// when it is set).</summary>
public static class WebConsoleExtensions
{
    /// <summary>How far back the overview looks (models seen since, the sparkline's hours).</summary>
    public static readonly TimeSpan OverviewSpan = TimeSpan.FromHours(48);

    public static IServiceCollection AddWebConsole(this IServiceCollection services)
    {
        services.TryAddSingleton<OverviewReader>();
        services.TryAddSingleton(TimeProvider.System);
        return services;
    }

    /// <summary>GET / : the overview.</summary>
    public static IEndpointRouteBuilder MapWebConsole(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGet("/", async (HttpContext context, OverviewReader reader, TimeProvider time) =>
        {
            var now = time.GetUtcNow();
            var models = await reader.ReadAsync(now, OverviewSpan, context.RequestAborted);
            context.Response.Headers.CacheControl = "no-store";
            return Results.Content(OverviewPage.Render(models, now, OverviewSpan), "text/html; charset=utf-8");
        }).ExcludeFromDescription();
        return endpoints;
    }
}
