using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using ModelMonitor.Hosting;
using ModelMonitor.Hosting.Options;
using ModelMonitor.Security;
using ModelMonitor.Storage;
using ModelMonitor.Storage.Predictors;

namespace ModelMonitor.Predictors;

public static class PredictorsExtensions
{
    /// <summary>The registry's services: options (sections "Predictors" and "Shadow"), the store, the registry file's loader.
    /// Without ConnectionStrings:Postgres (an ingestion API deployed alone) the endpoints answer 503.</summary>
    public static IHostApplicationBuilder AddPredictorRegistry(this IHostApplicationBuilder builder)
    {
        builder.AddServiceDefaults();
        builder.AddApiSecurity();
        builder.Services.AddPredictorOptions();
        if (string.IsNullOrWhiteSpace(builder.Configuration.GetConnectionString(PostgresExtensions.ConnectionStringName)))
        {
            builder.Services.AddSingleton<NoPostgres>();
            return builder;
        }
        builder.AddPostgres(ServiceDefaults.ReadyTag);
        builder.Services.TryAddSingleton<PredictorRegistryStore>();
        builder.Services.AddHostedService<RegistryFileLoader>();
        return builder;
    }

    public static WebApplication MapPredictorRegistry(this WebApplication app)
    {
        app.UseApiSecurity();
        if (app.Services.GetService<NoPostgres>() is not null)
        {
            app.MapUnavailablePredictorEndpoints();
        }
        else
        {
            app.MapPredictorEndpoints();
        }
        return app;
    }

    private sealed class NoPostgres;
}
