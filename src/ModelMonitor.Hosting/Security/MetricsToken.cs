using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using ModelMonitor.Core.Security;

namespace ModelMonitor.Hosting.Security;

/// <summary>
/// The read side's optional protection. By Prometheus convention /metrics (and the exporter's /metrics/statistics) and
/// /readyz are open; with <c>Metrics:RequireToken=true</c> they need <c>Authorization: Bearer &lt;token&gt;</c>, the token
/// from <c>Metrics:Token</c> or the file <c>Metrics:TokenFile</c> (what Prometheus's <c>authorization.credentials_file</c>
/// sends), compared in constant time. /healthz stays open (a liveness probe must not need secrets).
/// </summary>
public sealed class MetricsToken
{
    public const string Section = "Metrics";

    private readonly string? _token;

    private MetricsToken(string? token) => _token = token;

    public bool Required => _token is not null;

    /// <exception cref="InvalidOperationException">RequireToken without a token, or an unreadable token file.</exception>
    public static MetricsToken From(IConfiguration configuration)
    {
        var section = configuration.GetSection(Section);
        if (!section.GetValue<bool>("RequireToken"))
        {
            return new MetricsToken(null);
        }
        var token = section["Token"];
        if (string.IsNullOrWhiteSpace(token) && section["TokenFile"] is { Length: > 0 } file)
        {
            token = File.ReadAllText(file).Trim();
        }
        return string.IsNullOrWhiteSpace(token)
            ? throw new InvalidOperationException("Metrics:RequireToken is true but no token is set: set Metrics:Token or Metrics:TokenFile.")
            : new MetricsToken(token.Trim());
    }

    /// <summary>Whether a request's path is one the token protects: the metrics, readiness, and the console's pages (/).</summary>
    public static bool Protects(PathString path) => path.StartsWithSegments("/metrics") || path.StartsWithSegments("/readyz") || path == "/";

    public bool Accepts(HttpContext context)
    {
        if (_token is null)
        {
            return true;
        }
        var header = context.Request.Headers.Authorization.ToString();
        return header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) && ApiKeyHash.FixedTimeEquals(header[7..].Trim(), _token);
    }
}

internal static class MetricsTokenMiddleware
{
    public static void UseMetricsToken(this WebApplication app)
    {
        var token = app.Services.GetRequiredService<MetricsToken>();
        if (!token.Required)
        {
            return;
        }
        app.Use(async (context, next) =>
        {
            if (MetricsToken.Protects(context.Request.Path) && !token.Accepts(context))
            {
                context.Response.StatusCode = StatusCodes.Status401Unauthorized;
                context.Response.Headers.WWWAuthenticate = "Bearer realm=\"ModelMonitor metrics\"";
                await context.RequestServices.GetRequiredService<IProblemDetailsService>().WriteAsync(new ProblemDetailsContext
                {
                    HttpContext = context,
                    ProblemDetails = { Status = StatusCodes.Status401Unauthorized, Detail = "This endpoint needs the metrics token (Metrics:RequireToken): send 'Authorization: Bearer <token>'." },
                });
                return;
            }
            await next(context);
        });
    }
}
