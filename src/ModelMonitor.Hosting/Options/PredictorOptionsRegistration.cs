using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using ModelMonitor.Core.Predictors;
using ModelMonitor.Core.Shadows;

namespace ModelMonitor.Hosting.Options;

public static class PredictorOptionsRegistration
{
    /// <summary>The "Predictors" and "Shadow" settings, validated at start; read by the API (the registry file, the shadow
    /// cap), the aggregator (primary watcher, shadow join) and the exporter (roles, divergence thresholds). Idempotent.</summary>
    public static IServiceCollection AddPredictorOptions(this IServiceCollection services)
    {
        services.AddOptions<PredictorOptions>().BindConfiguration(PredictorOptions.SectionName).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<PredictorOptions>, PredictorValidator>());
        services.AddOptions<ShadowOptions>().BindConfiguration(ShadowOptions.SectionName).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<ShadowOptions>, ShadowValidator>());
        return services;
    }

    private sealed class PredictorValidator : IValidateOptions<PredictorOptions>
    {
        public ValidateOptionsResult Validate(string? name, PredictorOptions options) =>
            options.Problems() is { Count: > 0 } problems ? ValidateOptionsResult.Fail(problems) : ValidateOptionsResult.Success;
    }

    private sealed class ShadowValidator : IValidateOptions<ShadowOptions>
    {
        public ValidateOptionsResult Validate(string? name, ShadowOptions options) =>
            options.Problems() is { Count: > 0 } problems ? ValidateOptionsResult.Fail(problems) : ValidateOptionsResult.Success;
    }
}
