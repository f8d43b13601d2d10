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

    /// <summary>The console's pages (issue 19): a browser that lacks the token is sent to <see cref="LoginPath"/>.</summary>
    public static bool IsConsolePage(PathString path) => path == "/" || path == "/model" || path == "/feature";

    /// <summary>Where a person signs in to the console with the token (served by the console; open).</summary>
    public const string LoginPath = "/login";

    /// <summary>The console's session cookie: HMAC-SHA256 of a fixed text keyed by the token, so the cookie is not the token,
    /// and changing the token ends every session.</summary>
    public const string CookieName = "modelmonitor-console";

    public static readonly TimeSpan SessionLifetime = TimeSpan.FromHours(12);

    /// <summary>Whether a request's path is one the token protects: the metrics, readiness, and the console's pages.</summary>
    public static bool Protects(PathString path) => path.StartsWithSegments("/metrics") || path.StartsWithSegments("/readyz") || IsConsolePage(path);

    /// <summary>Whether <paramref name="candidate"/> is the token (constant time).</summary>
    public bool Matches(string candidate) => _token is not null && ApiKeyHash.FixedTimeEquals(candidate.Trim(), _token);

    /// <summary>The session cookie's value for the current token.</summary>
    public string SessionValue() => _token is null ? "" : Convert.ToBase64String(
        System.Security.Cryptography.HMACSHA256.HashData(System.Text.Encoding.UTF8.GetBytes(_token), "modelmonitor console session v1"u8))
        .TrimEnd('=').Replace('+', '-').Replace('/', '_');

    public bool Accepts(HttpContext context)
    {
        if (_token is null)
        {
            return true;
        }
        var header = context.Request.Headers.Authorization.ToString();
        if (header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            return ApiKeyHash.FixedTimeEquals(header[7..].Trim(), _token);
        }
        // A signed-in browser, on the console's pages only.
        return IsConsolePage(context.Request.Path) && context.Request.Cookies[CookieName] is { Length: > 0 } cookie
            && ApiKeyHash.FixedTimeEquals(cookie, SessionValue());
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
                if (MetricsToken.IsConsolePage(context.Request.Path) && HttpMethods.IsGet(context.Request.Method)
                    && context.Request.Headers.Accept.ToString().Contains("text/html", StringComparison.OrdinalIgnoreCase))
                {
                    // A person with a browser: the sign-in page, then back here.
                    context.Response.Redirect($"{MetricsToken.LoginPath}?return={Uri.EscapeDataString(context.Request.Path + context.Request.QueryString)}");
                    return;
                }
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
