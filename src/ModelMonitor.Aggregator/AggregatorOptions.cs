using System.Globalization;
using Microsoft.Extensions.Options;
using ModelMonitor.Core.Contracts;
using ModelMonitor.Core.Statistics;
using ModelMonitor.Core.Windows;

namespace ModelMonitor.Aggregator;

/// <summary>The aggregator's settings (section "Aggregator"); Kafka connection settings are in "Kafka".</summary>
public sealed class AggregatorOptions
{
    public const string SectionName = "Aggregator";

    /// <summary>Comma-separated tumbling window sizes, e.g. "5m,1h" (units s, m, h, d).</summary>
    public string Windows { get; set; } = "5m,1h";

    /// <summary>Records whose sent_at is older than now minus this are counted as late and skipped.</summary>
    public TimeSpan AllowedLateness { get; set; } = IngestionLimits.Default.AllowedLateness;

    /// <summary>How often the shortest window size is written to Postgres (with the consumed offsets): the freshness of
    /// what a query sees. Longer sizes are written every twelfth of their length, up to <see cref="MaxFlushInterval"/>.</summary>
    public TimeSpan FlushInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>The longest wait between two writes of a window size's open windows (a window that has ended is written
    /// within <see cref="FlushInterval"/> of its end, whatever its size). Default: 12 × <see cref="FlushInterval"/> (1 min).</summary>
    public TimeSpan? MaxFlushInterval { get; set; }

    internal TimeSpan EffectiveMaxFlushInterval => MaxFlushInterval ?? FlushInterval * 12;

    /// <summary>
    /// Bound on the estimated memory of the unflushed statistics (every window size's delta), in bytes: reaching it
    /// writes every size at once; while Postgres is unreachable it pauses consumption, so memory stays bounded.
    /// </summary>
    public long MaxDeltaBytes { get; set; } = 1L << 30;

    /// <summary>Bound on records a window size holds since its last flush: reaching it writes that size; while Postgres
    /// is unreachable it pauses consumption (bounds the work a restart re-reads).</summary>
    public int MaxBufferedRecords { get; set; } = 200_000;

    /// <summary>
    /// Keep the feature rows of the shortest window size as the last flush wrote them, and update them at the next flush
    /// without reading them back (each update checks the row's xmin, so a row another writer changed is read back as
    /// before). A flush of 50k rows alone takes a third less time and a quarter less CPU (BENCHMARKS.md §11, `run.sh
    /// flush`), but end to end on a 2-core box shared with Postgres it gained nothing and held ~25% more memory, so it is
    /// off by default: try it where Postgres has its own machine. With several instances in one consumer group every
    /// instance writes every model's rows, copies go stale at once and the aggregator stops trying for a while by itself.
    /// </summary>
    public bool ReuseWrittenRows { get; set; }

    /// <summary>The Kafka consumer group; instances sharing it split the partitions.</summary>
    public string ConsumerGroup { get; set; } = "modelmonitor-aggregator";

    /// <summary>Top categorical values kept per feature and window (the rest are counted as "__other__").</summary>
    public int CategoryCapacity { get; set; } = CategoryCounter.DefaultCapacity;

    /// <summary>Longest wait between retries while Postgres is unreachable (the wait doubles from 0.5 s up to this).</summary>
    public TimeSpan MaxRetryBackoff { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How long to keep windows of each size, e.g. "5m" → "7d", "1h" → "400d" (units s, m, h, d).
    /// Sizes not listed are kept forever.
    /// </summary>
    public Dictionary<string, string> Retention { get; set; } = new() { ["5m"] = "7d", ["1h"] = "400d" };

    /// <summary>How often expired windows are deleted.</summary>
    public TimeSpan RetentionInterval { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>Rows deleted per statement, so retention never holds long locks.</summary>
    public int RetentionBatchSize { get; set; } = 5_000;

    /// <summary>Extra librdkafka consumer properties (after Kafka:Client), e.g. "session.timeout.ms"; also those of the
    /// evaluation and shadow join's consumer.</summary>
    public Dictionary<string, string> Consumer { get; set; } = [];

    internal IReadOnlyList<WindowSize> ParsedWindows => WindowSize.ParseList(Windows);

    internal IReadOnlyList<(WindowSize Window, TimeSpan Keep)> ParsedRetention =>
        Retention.Select(p => (WindowSize.Parse(p.Key), Durations.Parse(p.Value))).OrderBy(p => p.Item1).ToList();
}

/// <summary>Durations written like window sizes ("7d", "400d", "12h"), without the window bound.</summary>
internal static class Durations
{
    public static TimeSpan Parse(string text)
    {
        var trimmed = text.Trim();
        if (trimmed.Length >= 2 && long.TryParse(trimmed.AsSpan(0, trimmed.Length - 1), NumberStyles.None, CultureInfo.InvariantCulture, out var amount) && amount > 0)
        {
            switch (char.ToLowerInvariant(trimmed[^1]))
            {
                case 's': return TimeSpan.FromSeconds(amount);
                case 'm': return TimeSpan.FromMinutes(amount);
                case 'h': return TimeSpan.FromHours(amount);
                case 'd': return TimeSpan.FromDays(amount);
            }
        }

        throw new FormatException($"'{text}' is not a duration: expected a positive number and a unit (s, m, h or d), e.g. 7d.");
    }
}

internal sealed class AggregatorOptionsValidator : IValidateOptions<AggregatorOptions>
{
    public ValidateOptionsResult Validate(string? name, AggregatorOptions options)
    {
        var errors = new List<string>();
        try
        {
            _ = options.ParsedWindows;
        }
        catch (FormatException e)
        {
            errors.Add($"Aggregator:Windows: {e.Message}");
        }

        foreach (var (window, keep) in options.Retention)
        {
            if (!WindowSize.TryParse(window, out var size, out var error))
            {
                errors.Add($"Aggregator:Retention key: {error}");
                continue;
            }

            try
            {
                if (Durations.Parse(keep) < size.Duration)
                {
                    errors.Add($"Aggregator:Retention:{window} ({keep}) is shorter than the window itself.");
                }
            }
            catch (FormatException e)
            {
                errors.Add($"Aggregator:Retention:{window}: {e.Message}");
            }
        }

        if (options.AllowedLateness < TimeSpan.Zero)
        {
            errors.Add($"Aggregator:AllowedLateness must not be negative (got {options.AllowedLateness}).");
        }

        if (options.FlushInterval < TimeSpan.FromMilliseconds(50) || options.FlushInterval > TimeSpan.FromMinutes(10))
        {
            errors.Add($"Aggregator:FlushInterval must be between 50 ms and 10 minutes (got {options.FlushInterval}).");
        }

        if (options.MaxFlushInterval is { } longest && (longest < TimeSpan.FromMilliseconds(50) || longest > TimeSpan.FromHours(1)))
        {
            errors.Add($"Aggregator:MaxFlushInterval must be between 50 ms and 1 hour (got {options.MaxFlushInterval}).");
        }

        if (options.MaxDeltaBytes < 1L << 20)
        {
            errors.Add($"Aggregator:MaxDeltaBytes must be at least 1048576 (1 MiB) (got {options.MaxDeltaBytes}).");
        }

        if (options.MaxBufferedRecords < 100)
        {
            errors.Add($"Aggregator:MaxBufferedRecords must be at least 100 (got {options.MaxBufferedRecords}).");
        }

        if (string.IsNullOrWhiteSpace(options.ConsumerGroup))
        {
            errors.Add("Aggregator:ConsumerGroup must not be empty.");
        }

        if (options.CategoryCapacity is < 1 or > 1_000)
        {
            errors.Add($"Aggregator:CategoryCapacity must be between 1 and 1000 (got {options.CategoryCapacity}).");
        }

        if (options.MaxRetryBackoff < TimeSpan.FromSeconds(1) || options.MaxRetryBackoff > TimeSpan.FromMinutes(10))
        {
            errors.Add($"Aggregator:MaxRetryBackoff must be between 1 s and 10 minutes (got {options.MaxRetryBackoff}).");
        }

        if (options.RetentionInterval < TimeSpan.FromSeconds(1))
        {
            errors.Add($"Aggregator:RetentionInterval must be at least 1 s (got {options.RetentionInterval}).");
        }

        if (options.RetentionBatchSize is < 1 or > 1_000_000)
        {
            errors.Add($"Aggregator:RetentionBatchSize must be between 1 and 1000000 (got {options.RetentionBatchSize}).");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
