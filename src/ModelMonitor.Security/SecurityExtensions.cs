using System.Globalization;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using ModelMonitor.Core.Security;
using ModelMonitor.Hosting;
using ModelMonitor.Storage;
using ModelMonitor.Storage.Security;

namespace ModelMonitor.Security;

public static class SecurityExtensions
{
    /// <summary>The policy of endpoints any valid key may use (reads of the admin APIs).</summary>
    public const string AnyKeyPolicy = "any-key";

    /// <summary>
    /// API key authentication (<see cref="ApiKeyAuthenticationHandler"/>), one authorization policy per scope, per-key rate
    /// limits and the failed-authentication guard. Idempotent: the services composed in one host share them. Keys come from
    /// Postgres when ConnectionStrings:Postgres is set and from Auth:KeysFile when set; Auth:Mode=ApiKeys needs one of them.
    /// </summary>
    public static IHostApplicationBuilder AddApiSecurity(this IHostApplicationBuilder builder)
    {
        var services = builder.Services;
        if (services.Any(s => s.ServiceType == typeof(SecurityMarker)))
        {
            return builder;
        }
        services.AddSingleton<SecurityMarker>();
        builder.AddServiceDefaults();
        var hasPostgres = !string.IsNullOrWhiteSpace(builder.Configuration.GetConnectionString(PostgresExtensions.ConnectionStringName));
        if (hasPostgres)
        {
            builder.AddPostgres(ServiceDefaults.ReadyTag);
            services.TryAddSingleton<ApiKeyStore>();
        }
        services.AddOptions<AuthOptions>().BindConfiguration(AuthOptions.SectionName).ValidateOnStart();
        services.AddSingleton<IValidateOptions<AuthOptions>, AuthOptions.Validator>();
        services.AddSingleton<IValidateOptions<AuthOptions>>(new ValidateOptions<AuthOptions>(null, o =>
            o.Mode != AuthMode.ApiKeys || hasPostgres || !string.IsNullOrWhiteSpace(o.KeysFile),
            $"Auth:Mode=ApiKeys needs somewhere to find keys: ConnectionStrings:{PostgresExtensions.ConnectionStringName} (keys made by the keys command) " +
            "or Auth:KeysFile (keys create --file). Auth:Mode=None turns authentication off (trusted networks only)."));
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton<AuthMetrics>();
        services.AddSingleton<FailedAuthenticationGuard>();
        services.AddSingleton(sp => new ApiKeyDirectory(sp.GetRequiredService<IOptions<AuthOptions>>(), sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILogger<ApiKeyDirectory>>(), sp.GetService<ApiKeyStore>()));
        services.AddHostedService<AuthStartup>();

        services.AddAuthentication().AddScheme<Microsoft.AspNetCore.Authentication.AuthenticationSchemeOptions, ApiKeyAuthenticationHandler>(
            ApiKeyAuthenticationHandler.SchemeName, null);
        services.AddAuthorization(options =>
        {
            foreach (var scope in ApiScopes.All)
            {
                options.AddPolicy(scope, policy => policy.AddAuthenticationSchemes(ApiKeyAuthenticationHandler.SchemeName)
                    .RequireAuthenticatedUser().RequireClaim(ApiKeyAuthenticationHandler.ScopeClaim, scope));
            }
            options.AddPolicy(AnyKeyPolicy, policy => policy.AddAuthenticationSchemes(ApiKeyAuthenticationHandler.SchemeName).RequireAuthenticatedUser());
        });
        services.AddRateLimiter(_ => { });
        // The limiter's settings and metrics resolved once, when the options are built, not per request.
        services.AddOptions<RateLimiterOptions>().Configure<IOptions<AuthOptions>, AuthMetrics>((options, auth, metrics) =>
        {
            var settings = auth.Value;
            options.GlobalLimiter = PartitionedRateLimiter.Create<HttpContext, (string, double?)>(context =>
                context.Features.Get<Caller>() is not { IsAnonymous: false } caller || settings.BucketOf(caller.RateLimit) is not { } bucket
                    ? RateLimitPartition.GetNoLimiter<(string, double?)>(default)
                    : RateLimitPartition.GetTokenBucketLimiter((caller.KeyId, caller.RateLimit), _ => new TokenBucketRateLimiterOptions
                    {
                        TokenLimit = bucket.Burst,
                        TokensPerPeriod = bucket.TokensPerSecond,
                        ReplenishmentPeriod = TimeSpan.FromSeconds(1),
                        AutoReplenishment = true,
                        QueueLimit = 0,
                    }));
            options.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
            options.OnRejected = async (rejected, cancellationToken) =>
            {
                var context = rejected.HttpContext;
                var caller = context.Caller();
                metrics.RateLimited.WithLabels(caller.KeyId).Inc();
                var retryAfter = rejected.Lease.TryGetMetadata(MetadataName.RetryAfter, out var after) ? Math.Max(1, (int)Math.Ceiling(after.TotalSeconds)) : 1;
                context.Response.Headers.RetryAfter = retryAfter.ToString(CultureInfo.InvariantCulture);
                await context.RequestServices.GetRequiredService<IProblemDetailsService>().WriteAsync(new ProblemDetailsContext
                {
                    HttpContext = context,
                    ProblemDetails =
                    {
                        Status = StatusCodes.Status429TooManyRequests,
                        Detail = $"The API key {caller.KeyId} is over its rate limit ({settings.BucketOf(caller.RateLimit)?.TokensPerSecond} requests/s); nothing was stored, retry after {retryAfter} s.",
                    },
                });
            };
        });
        return builder;
    }

    /// <summary>Authorization and then the per-key rate limiter, in the pipeline before the endpoints. Idempotent; call it
    /// after MapOperationalEndpoints.</summary>
    public static WebApplication UseApiSecurity(this WebApplication app)
    {
        var marker = app.Services.GetRequiredService<SecurityMarker>();
        if (!marker.PipelineAdded)
        {
            marker.PipelineAdded = true;
            app.UseAuthentication();
            app.UseAuthorization();
            app.UseRateLimiter();
        }
        return app;
    }

    /// <summary>Requires an API key with <paramref name="scope"/> (Auth:Mode=ApiKeys).</summary>
    public static TBuilder RequireScope<TBuilder>(this TBuilder endpoint, string scope) where TBuilder : IEndpointConventionBuilder =>
        endpoint.RequireAuthorization(scope).WithMetadata(new RequiredScope(scope));

    /// <summary>Requires any valid API key.</summary>
    public static TBuilder RequireAnyKey<TBuilder>(this TBuilder endpoint) where TBuilder : IEndpointConventionBuilder =>
        endpoint.RequireAuthorization(AnyKeyPolicy);

    /// <summary>403 when the predictor named by the route value <paramref name="routeValue"/> is outside the key's patterns.</summary>
    public static RouteHandlerBuilder RequirePredictorAccess(this RouteHandlerBuilder endpoint, string routeValue) =>
        endpoint.AddEndpointFilter(async (context, next) =>
        {
            var http = context.HttpContext;
            if (http.GetRouteValue(routeValue) is string predictor && http.Caller() is { } caller && !caller.Predictors.Allows(predictor))
            {
                http.RequestServices.GetRequiredService<AuthMetrics>().Failures.WithLabels("forbidden").Inc();
                return TypedResults.Problem(detail: $"Forbidden: {caller.ForbiddenPredictor(predictor)}.", statusCode: StatusCodes.Status403Forbidden);
            }
            return await next(context);
        });

    private sealed class SecurityMarker
    {
        public bool PipelineAdded { get; set; }
    }

    /// <summary>Says at start how writes are protected; in Auth:Mode=None, warns and sets modelmonitor_auth_disabled.</summary>
    private sealed class AuthStartup(IOptions<AuthOptions> options, ApiKeyDirectory directory, AuthMetrics metrics, ILogger<AuthStartup> logger) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken)
        {
            var settings = options.Value;
            if (settings.Mode == AuthMode.None)
            {
                metrics.Disabled.Set(1);
                logger.LogWarning("Authentication is OFF (Auth:Mode=None): anyone who can reach this API can write predictions, outcomes, references and the registry. " +
                    "Use it on a trusted network only; set Auth:Mode=ApiKeys to require keys");
            }
            else
            {
                metrics.Disabled.Set(0);
                logger.LogInformation("Writes need an API key (Auth:Mode=ApiKeys), looked up in {Sources}; revocations take effect within {Ttl}",
                    directory.Sources, settings.CacheTtl);
            }
            return Task.CompletedTask;
        }

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
