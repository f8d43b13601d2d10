using ModelMonitor.Core.Contracts;
using ModelMonitor.DemoTraffic.Scenarios;
using ModelMonitor.DemoTraffic.Sending;

namespace ModelMonitor.DemoTraffic.Running;

/// <summary>
/// The outcomes of a run: drawn for each prediction as it is generated (<see cref="OutcomeGenerator"/>), held in an
/// <see cref="OutcomeBacklog"/> until their observed_at comes, then posted in batches by one worker on a connection of its
/// own, so outcomes never take a prediction sender's place. Outcomes still queued at stop are not sent (<see cref="Pending"/>).
/// </summary>
public sealed class OutcomeDispatcher : IDisposable
{
    private static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(100);

    private readonly OutcomeGenerator _generator;
    private readonly OutcomeBacklog _queue;
    private readonly HttpClient _http;
    private readonly OutcomeSender _sender;
    private readonly int _batchSize;

    public OutcomeDispatcher(TrafficRunOptions options, int queueCapacity = OutcomeBacklog.DefaultCapacity)
    {
        _generator = new OutcomeGenerator(options.Seed, options.Incidents, options.LabelDelayScale);
        _queue = new OutcomeBacklog(queueCapacity);
        _http = IngestionHttpClient.Create(1, options.RequestTimeout);
        _sender = new OutcomeSender(_http, options.Url, options.Format, Counters, options.Sender);
        _batchSize = options.BatchSize;
    }

    /// <summary>What happened to the outcomes handed to the sender (acknowledged: accepted by the API).</summary>
    public TrafficCounters Counters { get; } = new();

    public Uri Endpoint => _sender.Endpoint;

    /// <summary>Outcomes dropped because the queue was full.</summary>
    public long Dropped => _queue.Dropped;

    /// <summary>Outcomes waiting to be observed or sent.</summary>
    public int Pending => _queue.Count;

    /// <summary>The outcome, if any, of the live prediction <paramref name="record"/> is the primary record of.</summary>
    public void Add(PredictionLog record, TimeSpan liveElapsed)
    {
        if (_generator.Next(record, liveElapsed) is { } outcome)
        {
            _queue.TryAdd(outcome);
        }
    }

    /// <summary>The outcome, if any, of a backfilled prediction: observed_at no later than <paramref name="now"/>, so sent at once.</summary>
    public void AddBackfilled(PredictionLog record, DateTimeOffset now)
    {
        if (_generator.Next(record, liveElapsed: null) is { } outcome)
        {
            _queue.TryAdd(outcome.ObservedAt > now ? outcome with { ObservedAt = now } : outcome);
        }
    }

    /// <summary>Sends due outcomes until <paramref name="stopping"/>; <paramref name="aborting"/> cancels a request in flight.</summary>
    public async Task RunAsync(CancellationToken stopping, CancellationToken aborting)
    {
        try
        {
            while (!stopping.IsCancellationRequested)
            {
                var due = _queue.TakeDue(DateTimeOffset.UtcNow, _batchSize);
                if (due.Count == 0)
                {
                    await Task.Delay(Poll, stopping);
                    continue;
                }

                await _sender.SendAsync(due, stopping, aborting);
            }
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            // Stopped with the run: what is still queued is never sent.
        }
    }

    public void Dispose() => _http.Dispose();
}
