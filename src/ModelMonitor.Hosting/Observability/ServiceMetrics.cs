using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.ResponseCompression;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Prometheus;

namespace ModelMonitor.Hosting.Observability;

/// <summary>
/// Metrics with prometheus-net: one registry per host (not the library's static default, so hosts composed or
/// tested in one process never mix their series), the process metrics of <see cref="DotNetStats"/>, the .NET
/// runtime's own "System.Runtime" meter (GC, thread pool, JIT, exceptions), and HTTP request metrics by route
/// template (<c>UseHttpMetrics</c>). Services create their metrics through <see cref="IMetricFactory"/>.
/// </summary>
public static class ServiceMetrics
{
    /// <summary>Latency buckets of 1 ms to 10 s.</summary>
    public static double[] LatencyBuckets { get; } = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

    internal static void AddServiceMetrics(this IServiceCollection services)
    {
        services.AddSingleton(_ =>
        {
            var registry = Metrics.NewCustomRegistry();
            DotNetStats.Register(registry);
            return registry;
        });
        services.AddSingleton<IMetricFactory>(provider => Metrics.WithCustomRegistry(provider.GetRequiredService<CollectorRegistry>()));
        services.AddHostedService<RuntimeMeterListener>();
        // Scrapes of many series compress well and Prometheus asks for gzip.
        services.AddResponseCompression(options =>
        {
            options.Providers.Add<GzipCompressionProvider>();
            options.MimeTypes = ["text/plain", "application/openmetrics-text"];
        });
        services.Configure<GzipCompressionProviderOptions>(options => options.Level = System.IO.Compression.CompressionLevel.Fastest);
    }

    /// <summary>HTTP request metrics for every request, and gzip for /metrics when the scraper accepts it.</summary>
    internal static void UseServiceMetrics(this WebApplication app)
    {
        var factory = app.Services.GetRequiredService<IMetricFactory>();
        // Outermost, so a request answered by the error handler is counted with the status it got.
        app.UseHttpMetrics(options => options.SetMetricFactory(factory));
        app.UseWhen(context => context.Request.Path == "/metrics", branch => branch.UseResponseCompression());
    }

    internal static void MapServiceMetrics(this WebApplication app) =>
        app.MapMetrics("/metrics", app.Services.GetRequiredService<CollectorRegistry>());

    /// <summary>Publishes the runtime's "System.Runtime" meter in the host's registry while the host runs.</summary>
    private sealed class RuntimeMeterListener(CollectorRegistry registry) : IHostedService, IDisposable
    {
        private IDisposable? _adapter;

        public Task StartAsync(CancellationToken cancellationToken)
        {
            _adapter = MeterAdapter.StartListening(new MeterAdapterOptions
            {
                // Both: the options' factory defaults to the static one, which would win over Registry.
                Registry = registry,
                MetricFactory = Metrics.WithCustomRegistry(registry),
                InstrumentFilterPredicate = instrument => instrument.Meter.Name == "System.Runtime",
            });
            return Task.CompletedTask;
        }

        public Task StopAsync(CancellationToken cancellationToken)
        {
            Dispose();
            return Task.CompletedTask;
        }

        public void Dispose()
        {
            _adapter?.Dispose();
            _adapter = null;
        }
    }
}
