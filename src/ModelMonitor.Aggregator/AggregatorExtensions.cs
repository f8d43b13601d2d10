using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using ModelMonitor.Aggregator.Evaluation;
using ModelMonitor.Aggregator.Predictors;
using ModelMonitor.Aggregator.Shadows;
using ModelMonitor.Hosting;
using ModelMonitor.Hosting.Options;
using ModelMonitor.Kafka;
using ModelMonitor.References;
using ModelMonitor.Storage;
using ModelMonitor.Storage.Evaluation;
using ModelMonitor.Storage.Predictors;
using ModelMonitor.Storage.Shadows;
using ModelMonitor.Storage.Statistics;

namespace ModelMonitor.Aggregator;

public static class AggregatorExtensions
{
    /// <summary>
    /// The aggregator: validated options (section "Aggregator"), Postgres data source and migrator, the
    /// Kafka consumer worker, the retention worker, the production-reference builder, metrics and the "aggregator"
    /// readiness check.
    /// Composes with the other services in one host (no statics; shared pieces are registered once).
    /// </summary>
    public static IHostApplicationBuilder AddAggregator(this IHostApplicationBuilder builder)
    {
        builder.AddServiceDefaults();
        builder.AddKafkaOptions();
        builder.AddPostgres(ServiceDefaults.ReadyTag);
        builder.Services.AddOptions<AggregatorOptions>().BindConfiguration(AggregatorOptions.SectionName).ValidateOnStart();
        builder.Services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<AggregatorOptions>, AggregatorOptionsValidator>());
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.AddSingleton(services => new StatisticsStore(
            services.GetRequiredService<Npgsql.NpgsqlDataSource>(),
            services.GetRequiredService<IOptions<AggregatorOptions>>().Value.CategoryCapacity,
            services.GetRequiredService<ILogger<StatisticsStore>>()));
        builder.Services.AddSingleton<AggregatorMetrics>();
        builder.Services.AddSingleton<AggregatorStatus>();
        builder.Services.AddHostedService<ConsumerWorker>();
        builder.Services.AddHostedService<RetentionWorker>();
        builder.AddProductionReferences(); // every model's production reference, from the windows this service writes
        builder.AddDriftHistory(); // every completed window's drift, stored
        builder.AddEvaluation(); // outcomes joined with predictions: model quality per window
        builder.AddShadowsAndPrimaries(); // models of a predictor compared on the same prediction_id; primaries decided
        builder.Services.AddHealthChecks().AddCheck<AggregatorHealthCheck>("aggregator", tags: [ServiceDefaults.ReadyTag]);
        return builder;
    }

    /// <summary>The evaluation join (section "Evaluation"): its store, worker, expiry and metrics; the co-partitioning check.</summary>
    private static IHostApplicationBuilder AddEvaluation(this IHostApplicationBuilder builder)
    {
        builder.Services.AddEvaluationOptions();
        builder.Services.TryAddSingleton<EvaluationStore>();
        builder.Services.AddSingleton<EvaluationMetrics>();
        builder.Services.AddHostedService<EvaluationWorker>();
        builder.Services.AddHostedService<EvaluationExpiryWorker>();
        builder.Services.AddCoPartitioningCheck();
        return builder;
    }

    /// <summary>The shadow comparison (section "Shadow"; it runs in the evaluation join's consumer), its expiry and metrics;
    /// the primary watcher (section "Predictors").</summary>
    private static IHostApplicationBuilder AddShadowsAndPrimaries(this IHostApplicationBuilder builder)
    {
        builder.Services.AddPredictorOptions();
        builder.Services.TryAddSingleton<ShadowStore>();
        builder.Services.TryAddSingleton<PredictorRegistryStore>();
        builder.Services.AddSingleton<ShadowMetrics>();
        builder.Services.AddHostedService<ShadowExpiryWorker>();
        builder.Services.AddHostedService<PrimaryWatcher>();
        return builder;
    }
}
