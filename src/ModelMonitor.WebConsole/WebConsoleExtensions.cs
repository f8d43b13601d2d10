using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using ModelMonitor.Hosting.Security;
using ModelMonitor.WebConsole.Alerts;
using ModelMonitor.WebConsole.Features;
using ModelMonitor.WebConsole.Models;
using ModelMonitor.WebConsole.Overview;
using ModelMonitor.WebConsole.Shared;

namespace ModelMonitor.WebConsole;

/// <summary>
/// The console's pages, served by the exporter (read-only, from Postgres; behind Metrics:RequireToken's token when it is set,
/// which a browser gives once at /login): the overview at /, a model at /model, a feature at /feature. Every page is sent with
/// a Content-Security-Policy that allows no script at all (the pages have none), so even a name that escaped escaping could
/// not run.
/// </summary>
public static class WebConsoleExtensions
{
    /// <summary>How far back the overview looks (models seen since, the sparkline's hours).</summary>
    public static readonly TimeSpan OverviewSpan = TimeSpan.FromHours(48);

    private const string ContentSecurityPolicy =
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

    public static IServiceCollection AddWebConsole(this IServiceCollection services)
    {
        services.AddOptions<ConsoleOptions>().BindConfiguration(ConsoleOptions.SectionName)
            .Validate(o => o.PointBudget is >= 10 and <= 10_000, "Console:PointBudget must be between 10 and 10000.")
            .Validate(o => o.AlertmanagerUrl is null || o.AlertmanagerUrl.IsAbsoluteUri, "Console:AlertmanagerUrl must be an absolute URL.")
            .Validate(o => o.GrafanaUrl is null || o.GrafanaUrl.IsAbsoluteUri, "Console:GrafanaUrl must be an absolute URL.")
            .ValidateOnStart();
        services.TryAddSingleton<LatestWindow>(); // published by the exporter's refresh
        services.TryAddSingleton<OverviewReader>();
        services.TryAddSingleton<ModelReader>();
        services.TryAddSingleton<FeatureReader>();
        services.AddMemoryCache();
        services.AddHttpClient<AlertmanagerClient>();
        services.TryAddSingleton(TimeProvider.System);
        return services;
    }

    public static IEndpointRouteBuilder MapWebConsole(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGet("/", async (HttpContext context, OverviewReader reader, AlertmanagerClient alertmanager, IOptions<ConsoleOptions> options, TimeProvider time) =>
        {
            var now = time.GetUtcNow();
            var models = await reader.ReadAsync(now, OverviewSpan, context.RequestAborted);
            var (alerts, unavailable) = await alertmanager.FiringAsync(context.RequestAborted);
            return Page(context, StatusCodes.Status200OK, OverviewPage.Render(models, now, OverviewSpan, alerts, unavailable, options.Value.GrafanaUrl));
        }).ExcludeFromDescription();

        endpoints.MapGet(Links.ModelPath, async (HttpContext context, ModelReader reader, AlertmanagerClient alertmanager, IOptions<ConsoleOptions> options, TimeProvider time) =>
        {
            var now = time.GetUtcNow();
            var query = context.Request.Query;
            if (!TryRequired(query, ["predictor", "model"], out var error) || !ConsoleRange.TryParse(query, now, out var range, out error))
            {
                return Page(context, StatusCodes.Status400BadRequest, Layout.Message("Bad request", error, now));
            }
            var sort = query["sort"].ToString() is { Length: > 0 } s ? s : "drift";
            if (!ModelPage.Sorts.Contains(sort))
            {
                return Page(context, StatusCodes.Status400BadRequest, Layout.Message("Bad request", $"sort: '{Short(sort)}' is not one of {string.Join(", ", ModelPage.Sorts)}.", now));
            }
            string predictor = query["predictor"]!, model = query["model"]!;
            var view = await reader.ReadAsync(predictor, model, range, options.Value.PointBudget, context.RequestAborted);
            if (view is null)
            {
                return Page(context, StatusCodes.Status404NotFound, Layout.Message("No such model", $"No model '{Short(model)}' of predictor '{Short(predictor)}' has been seen.", now));
            }
            var (alerts, unavailable) = await alertmanager.FiringAsync(context.RequestAborted);
            var firing = AlertList.Render(alerts?.Where(a => a.Concerns(predictor, model)).ToList(), unavailable);
            return Page(context, StatusCodes.Status200OK, ModelPage.Render(view, sort, firing, options.Value.GrafanaUrl, now));
        }).ExcludeFromDescription();

        endpoints.MapGet(Links.FeaturePath, async (HttpContext context, FeatureReader reader, IOptions<ConsoleOptions> options, TimeProvider time) =>
        {
            var now = time.GetUtcNow();
            var query = context.Request.Query;
            if (!TryRequired(query, ["predictor", "model", "feature"], out var error) || !ConsoleRange.TryParse(query, now, out var range, out error))
            {
                return Page(context, StatusCodes.Status400BadRequest, Layout.Message("Bad request", error, now));
            }
            string predictor = query["predictor"]!, model = query["model"]!, feature = query["feature"]!;
            var view = await reader.ReadAsync(predictor, model, feature, range, options.Value.PointBudget, context.RequestAborted);
            return view is null
                ? Page(context, StatusCodes.Status404NotFound, Layout.Message("No such model", $"No model '{Short(model)}' of predictor '{Short(predictor)}' has been seen.", now))
                : Page(context, StatusCodes.Status200OK, FeaturePage.Render(view, options.Value.GrafanaUrl, now));
        }).ExcludeFromDescription();

        endpoints.MapGet(MetricsToken.LoginPath, (HttpContext context, MetricsToken token, TimeProvider time) =>
            Page(context, StatusCodes.Status200OK, LoginPage.Render(ReturnPath(context.Request.Query["return"]), failed: false, token.Required, time.GetUtcNow())))
            .ExcludeFromDescription();
        endpoints.MapPost(MetricsToken.LoginPath, async (HttpContext context, MetricsToken token, TimeProvider time) =>
        {
            var form = await context.Request.ReadFormAsync(context.RequestAborted);
            var back = ReturnPath(form["return"]);
            if (!token.Required)
            {
                return Results.Redirect(back);
            }
            if (!token.Matches(form["token"].ToString()))
            {
                return Page(context, StatusCodes.Status401Unauthorized, LoginPage.Render(back, failed: true, required: true, time.GetUtcNow()));
            }
            context.Response.Cookies.Append(MetricsToken.CookieName, token.SessionValue(), new CookieOptions
            {
                HttpOnly = true,
                SameSite = SameSiteMode.Strict,
                Secure = context.Request.IsHttps,
                Path = "/",
                MaxAge = MetricsToken.SessionLifetime,
            });
            return Results.Redirect(back);
        }).DisableAntiforgery().ExcludeFromDescription();
        return endpoints;
    }

    private static IResult Page(HttpContext context, int status, string html)
    {
        var headers = context.Response.Headers;
        headers.CacheControl = "no-store";
        headers.ContentSecurityPolicy = ContentSecurityPolicy;
        headers.XContentTypeOptions = "nosniff";
        headers["Referrer-Policy"] = "same-origin";
        return Results.Content(html, "text/html; charset=utf-8", statusCode: status);
    }

    private static bool TryRequired(IQueryCollection query, string[] names, out string error)
    {
        var missing = names.Where(n => query[n].ToString().Length == 0).ToList();
        error = missing.Count == 0 ? "" : $"{string.Join(" and ", missing)}: required (e.g. /model?predictor=eta&model=v1).";
        return missing.Count == 0;
    }

    /// <summary>Only a path of this site (not //host or /\host, which browsers read as another host).</summary>
    private static string ReturnPath(string? path) =>
        path is { Length: > 0 } p && p[0] == '/' && (p.Length == 1 || (p[1] != '/' && p[1] != '\\')) ? p : "/";

    private static string Short(string text) => text.Length <= 80 ? text : text[..80] + "…";
}
