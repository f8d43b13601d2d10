using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace ModelMonitor.Aggregator;

/// <summary>What the consumer worker reports about itself, for /readyz.</summary>
internal sealed class AggregatorStatus
{
    private readonly Lock _gate = new();
    private bool _running;
    private string? _failure;
    private DateTimeOffset? _failingSince;

    public void Running(bool running)
    {
        lock (_gate)
        {
            _running = running;
        }
    }

    public void FlushSucceeded()
    {
        lock (_gate)
        {
            _failure = null;
            _failingSince = null;
        }
    }

    public void FlushFailed(string reason, DateTimeOffset now)
    {
        lock (_gate)
        {
            _failure = reason;
            _failingSince ??= now;
        }
    }

    public (bool Running, string? Failure, DateTimeOffset? FailingSince) Snapshot()
    {
        lock (_gate)
        {
            return (_running, _failure, _failingSince);
        }
    }
}

/// <summary>Ready when the consumer runs and Postgres writes have not been failing for more than 30 s.</summary>
internal sealed class AggregatorHealthCheck(AggregatorStatus status, TimeProvider time) : IHealthCheck
{
    private static readonly TimeSpan Tolerance = TimeSpan.FromSeconds(30);

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var (running, failure, since) = status.Snapshot();
        if (!running)
        {
            return Task.FromResult(HealthCheckResult.Unhealthy("The aggregator is not consuming (starting, migrating or stopped)."));
        }

        if (failure is not null && since is { } start && time.GetUtcNow() - start > Tolerance)
        {
            return Task.FromResult(HealthCheckResult.Unhealthy($"Flushing to Postgres has failed since {start:O}: {failure}"));
        }

        return Task.FromResult(failure is null
            ? HealthCheckResult.Healthy("Consuming and flushing.")
            : HealthCheckResult.Degraded($"Last flush failed, retrying: {failure}"));
    }
}
