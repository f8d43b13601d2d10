using System.Threading.RateLimiting;
using Microsoft.Extensions.Options;

namespace ModelMonitor.Security;

/// <summary>
/// Brute force and hammering with a bad key: each failed authentication takes a permit of its client address's fixed
/// window (Auth:FailedAttempts: 30 a minute by default); an address without permits left is refused (429) before its key
/// is even looked at, until its window ends. Addresses idle for a while are forgotten by the limiter.
/// </summary>
public sealed class FailedAuthenticationGuard : IDisposable
{
    private readonly PartitionedRateLimiter<string> _failures;

    public FailedAuthenticationGuard(IOptions<AuthOptions> options)
    {
        var settings = options.Value.FailedAttempts;
        Window = settings.Window;
        _failures = PartitionedRateLimiter.Create<string, string>(address => RateLimitPartition.GetFixedWindowLimiter(address, _ => new FixedWindowRateLimiterOptions
        {
            PermitLimit = settings.PermitLimit,
            Window = settings.Window,
            QueueLimit = 0,
            AutoReplenishment = true,
        }));
    }

    public TimeSpan Window { get; }

    /// <summary>Whether an address used up its failures for this window.</summary>
    public bool IsBlocked(string address) => _failures.GetStatistics(address)?.CurrentAvailablePermits <= 0;

    /// <summary>Counts a failure of an address.</summary>
    public void RecordFailure(string address)
    {
        using var lease = _failures.AttemptAcquire(address);
    }

    public void Dispose() => _failures.Dispose();
}
