using System.Diagnostics;
using System.Threading.Channels;
using ModelMonitor.Core.Contracts;
using ModelMonitor.DemoTraffic.Scenarios;

namespace ModelMonitor.DemoTraffic.Running;

/// <summary>
/// Generates live traffic at the planned rate (or as fast as the senders take it with --max-rate),
/// in batches, hands each prediction to the outcome dispatcher (if any), and announces each incident on stdout when it starts.
/// </summary>
public sealed class LiveTrafficProducer
{
    // A partially filled batch goes out after this long, so low rates still flow steadily.
    private static readonly TimeSpan MaxBatchAge = TimeSpan.FromSeconds(1);

    // When the senders fall further behind than this, the debt is forgiven instead of bursting later.
    private static readonly TimeSpan MaxCatchUp = TimeSpan.FromSeconds(2);

    private readonly TrafficGenerator _generator;
    private readonly TrafficRunOptions _options;
    private readonly TextWriter _output;
    private readonly OutcomeDispatcher? _outcomes;
    private readonly HashSet<IncidentKind> _announced = [];

    public LiveTrafficProducer(TrafficGenerator generator, TrafficRunOptions options, TextWriter output, OutcomeDispatcher? outcomes = null)
    {
        _generator = generator;
        _options = options;
        _output = output;
        _outcomes = outcomes;
    }

    /// <summary>Live start, for the achieved rate in the summary.</summary>
    public long StartTimestamp { get; private set; }

    public async Task RunAsync(ChannelWriter<List<PredictionLog>> batches, CancellationToken stopping)
    {
        var plan = _options.MaxRate ? null : new LiveRatePlan(_options.Rate, _options.DemoDay);
        StartTimestamp = Stopwatch.GetTimestamp();
        var produced = 0.0;
        var batch = new List<PredictionLog>(_options.BatchSize + 1);
        var batchOpened = TimeSpan.Zero;
        try
        {
            while (!stopping.IsCancellationRequested)
            {
                var elapsed = Stopwatch.GetElapsedTime(StartTimestamp);
                AnnounceIncidents(elapsed);
                var due = plan?.RecordsDueBy(elapsed) ?? produced + _options.BatchSize;
                if (plan is not null && due - produced > plan.RateAt(elapsed) * MaxCatchUp.TotalSeconds)
                {
                    produced = due - (plan.RateAt(elapsed) * MaxCatchUp.TotalSeconds);
                }

                var now = DateTimeOffset.UtcNow;
                while (produced < due)
                {
                    if (batch.Count == 0)
                    {
                        batchOpened = elapsed;
                    }

                    var before = batch.Count;
                    if (!_generator.NextLive(now, elapsed, _options.DemoDay, batch))
                    {
                        await _output.WriteLineAsync("every predictor is silent: nothing left to send.");
                        return;
                    }

                    // NextLive appends the primary record first: the outcome belongs to the prediction.
                    _outcomes?.Add(batch[before], elapsed);
                    produced += batch.Count - before;
                    while (batch.Count >= _options.BatchSize)
                    {
                        // A prediction with a shadow adds two records: the one that overflows starts the next batch.
                        var full = batch.GetRange(0, _options.BatchSize);
                        batch.RemoveRange(0, _options.BatchSize);
                        await batches.WriteAsync(full, stopping);
                        batchOpened = elapsed;
                    }
                }

                if (batch.Count > 0 && elapsed - batchOpened >= MaxBatchAge)
                {
                    await batches.WriteAsync(batch, stopping);
                    batch = new List<PredictionLog>(_options.BatchSize + 1);
                }

                if (plan is not null)
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(20), stopping);
                }
            }
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            // Ctrl-C or the end of --duration.
        }
        finally
        {
            batches.TryComplete();
        }
    }

    private void AnnounceIncidents(TimeSpan elapsed)
    {
        foreach (var kind in Enum.GetValues<IncidentKind>())
        {
            if (_options.Incidents.IsActive(kind, elapsed) && _announced.Add(kind))
            {
                _output.WriteLine($"[{elapsed:hh\\:mm\\:ss}] incident started: {IncidentSchedule.Describe(kind)}");
            }
        }
    }
}
