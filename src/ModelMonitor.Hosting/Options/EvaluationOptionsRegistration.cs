using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using ModelMonitor.Core.Evaluation;

namespace ModelMonitor.Hosting.Options;

public static class EvaluationOptionsRegistration
{
    /// <summary>The "Evaluation" settings, validated at start; read by the API (the outcomes' horizon), the aggregator (the
    /// join) and the exporter (what it publishes). Idempotent: services composed in one host share one registration.</summary>
    public static IServiceCollection AddEvaluationOptions(this IServiceCollection services)
    {
        services.AddOptions<EvaluationOptions>().BindConfiguration(EvaluationOptions.SectionName).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<EvaluationOptions>, Validator>());
        return services;
    }

    private sealed class Validator : IValidateOptions<EvaluationOptions>
    {
        public ValidateOptionsResult Validate(string? name, EvaluationOptions options) =>
            options.Problems() is { Count: > 0 } problems ? ValidateOptionsResult.Fail(problems) : ValidateOptionsResult.Success;
    }
}
