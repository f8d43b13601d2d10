using System.Text.Json;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using ModelMonitor.Core.Evaluation;
using ModelMonitor.Core.Ingestion;
using ModelMonitor.Hosting;
using ModelMonitor.Hosting.Options;
using ModelMonitor.Ingestion.Kafka;
using ModelMonitor.Kafka;
using ModelMonitor.Security;

namespace ModelMonitor.Ingestion;

public static class IngestionExtensions
{
    /// <summary>The ingestion API's services: options, Kafka producer, parser, limits, readiness.</summary>
    public static IHostApplicationBuilder AddIngestion(this IHostApplicationBuilder builder)
    {
        builder.AddServiceDefaults();
        builder.AddApiSecurity();
        builder.AddKafkaOptions();
        var services = builder.Services;
        services.AddOptions<IngestionOptions>().BindConfiguration(IngestionOptions.SectionName).ValidateOnStart();
        services.AddSingleton<IValidateOptions<IngestionOptions>, IngestionOptionsValidator>();
        services.AddSingleton<IValidateOptions<KafkaOptions>, BootstrapServersRequired>();
        services.TryAddSingleton(TimeProvider.System);
        // The API forwards accepted records as sent, so it does not need their features materialized.
        services.AddSingleton(sp => new PredictionBatchParser(sp.GetRequiredService<IOptions<IngestionOptions>>().Value.ToLimits(), omitForwardedFeatures: true));
        // Outcomes: the same limits; observed_at at most the longest label horizon old (Evaluation:LabelHorizon).
        services.AddEvaluationOptions();
        services.AddSingleton(sp => new OutcomeBatchParser(sp.GetRequiredService<IOptions<IngestionOptions>>().Value.ToLimits(),
            sp.GetRequiredService<IOptions<EvaluationOptions>>().Value.LongestHorizon));
        services.AddSingleton<IngestionMetrics>();
        services.AddSingleton<PredictionProducer>();
        services.AddHostedService<TopicInitializer>();
        services.AddCoPartitioningCheck();
        services.AddHostedService<ProducerLifetime>();
        services.AddHealthChecks().AddCheck<KafkaProducerHealthCheck>("kafka-producer", tags: [ServiceDefaults.ReadyTag]);

        services.ConfigureHttpJsonOptions(json => json.SerializerOptions.PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower);
        services.AddSingleton<IngestionAdmission>();
        return builder;
    }

    /// <summary>Maps POST /v1/predictions and POST /v1/outcomes.</summary>
    public static WebApplication MapIngestionEndpoints(this WebApplication app)
    {
        app.UseApiSecurity();
        app.MapPredictionEndpoints();
        return app;
    }

    private sealed class BootstrapServersRequired : IValidateOptions<KafkaOptions>
    {
        public ValidateOptionsResult Validate(string? name, KafkaOptions options) =>
            string.IsNullOrWhiteSpace(options.BootstrapServers)
                ? ValidateOptionsResult.Fail("Kafka:BootstrapServers must be set (host:port of the brokers), e.g. Kafka__BootstrapServers=kafka:9092.")
                : ValidateOptionsResult.Success;
    }

    /// <summary>Flushes the producer on shutdown so queued records are not abandoned.</summary>
    private sealed class ProducerLifetime(PredictionProducer producer, ILogger<ProducerLifetime> logger) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StopAsync(CancellationToken cancellationToken)
        {
            logger.LogInformation("Flushing the Kafka producer");
            producer.Flush(TimeSpan.FromSeconds(10));
            return Task.CompletedTask;
        }
    }

    private sealed class KafkaProducerHealthCheck(PredictionProducer producer) : IHealthCheck
    {
        public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
            Task.FromResult(producer.IsConnected
                ? HealthCheckResult.Healthy($"connected to Kafka, topic {producer.Topic}")
                : HealthCheckResult.Unhealthy("no Kafka broker is reachable"));
    }
}
