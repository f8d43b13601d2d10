using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace ModelMonitor.Kafka;

public static class KafkaExtensions
{
    /// <summary>
    /// The "Kafka" settings, validated at start. Idempotent: the API and the aggregator composed in one host
    /// share one registration.
    /// </summary>
    public static IHostApplicationBuilder AddKafkaOptions(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<KafkaOptions>().BindConfiguration(KafkaOptions.SectionName).ValidateOnStart();
        builder.Services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<KafkaOptions>, KafkaOptionsValidator>());
        return builder;
    }

    /// <summary>The co-partitioning check of the predictions and outcomes topics, once per host.</summary>
    public static IServiceCollection AddCoPartitioningCheck(this IServiceCollection services)
    {
        if (!services.Any(s => s.ImplementationType == typeof(CoPartitioningCheck)))
        {
            services.AddHostedService<CoPartitioningCheck>();
        }
        return services;
    }
}
