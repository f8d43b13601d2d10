using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using ModelMonitor.Hosting;
using ModelMonitor.References.Drift;
using ModelMonitor.Security;
using ModelMonitor.Storage;
using ModelMonitor.Storage.Drift;
using ModelMonitor.Storage.References;
using ModelMonitor.Storage.Statistics;

namespace ModelMonitor.References;

public static class ReferencesExtensions
{
    /// <summary>
    /// The reference endpoints' services: options (section "References"), the store, and Postgres. A host without
    /// ConnectionStrings:Postgres (an ingestion API deployed alone) serves predictions anyway: the reference endpoints
    /// then answer 503 saying what is missing.
    /// </summary>
    public static IHostApplicationBuilder AddReferences(this IHostApplicationBuilder builder)
    {
        builder.AddServiceDefaults();
        builder.AddApiSecurity();
        builder.Services.AddOptions<ReferenceOptions>().BindConfiguration(ReferenceOptions.SectionName).ValidateOnStart();
        builder.Services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<ReferenceOptions>, ReferenceOptions.Validator>());
        if (!HasPostgres(builder.Configuration))
        {
            builder.Services.AddSingleton<NoPostgres>();
            return builder;
        }

        builder.AddPostgres(ServiceDefaults.ReadyTag);
        builder.Services.TryAddSingleton<ReferenceStore>();
        builder.Services.TryAddSingleton<StoredWindowReader>();
        return builder;
    }

    /// <summary>The builder of every model's production reference (hosted by the aggregator, which owns the windows).</summary>
    public static IHostApplicationBuilder AddProductionReferences(this IHostApplicationBuilder builder)
    {
        builder.AddServiceDefaults();
        builder.AddPostgres(ServiceDefaults.ReadyTag);
        builder.Services.AddOptions<ReferenceOptions>().BindConfiguration(ReferenceOptions.SectionName).ValidateOnStart();
        builder.Services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<ReferenceOptions>, ReferenceOptions.Validator>());
        builder.Services.TryAddSingleton<ReferenceStore>();
        builder.Services.TryAddSingleton<StoredWindowReader>();
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.AddHostedService<Production.ProductionReferenceWorker>();
        return builder;
    }

    /// <summary>The drift history (feature_drift, prediction_drift: README "Drift"), hosted by the aggregator: options (section
    /// "Drift", shared with the exporter), the stores and the worker.</summary>
    public static IHostApplicationBuilder AddDriftHistory(this IHostApplicationBuilder builder)
    {
        builder.AddServiceDefaults();
        builder.AddPostgres(ServiceDefaults.ReadyTag);
        builder.Services.AddOptions<DriftOptions>().BindConfiguration(DriftOptions.SectionName).ValidateOnStart();
        builder.Services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<DriftOptions>, DriftOptions.Validator>());
        builder.Services.TryAddSingleton<ReferenceStore>();
        builder.Services.TryAddSingleton<StatisticsReader>();
        builder.Services.TryAddSingleton<DriftHistoryStore>();
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.AddHostedService<DriftHistoryWorker>();
        return builder;
    }

    /// <summary>Maps the reference endpoints (or their 503 when the host has no Postgres).</summary>
    public static WebApplication MapReferences(this WebApplication app)
    {
        app.UseApiSecurity();
        if (app.Services.GetService<NoPostgres>() is not null)
        {
            app.MapUnavailableReferenceEndpoints();
        }
        else
        {
            app.MapReferenceEndpoints();
        }

        return app;
    }

    private static bool HasPostgres(IConfiguration configuration) =>
        !string.IsNullOrWhiteSpace(configuration.GetConnectionString(PostgresExtensions.ConnectionStringName));

    private sealed class NoPostgres;
}
