using System.Diagnostics;
using System.Globalization;
using ModelMonitor.Core.Contracts;
using ModelMonitor.DemoTraffic.Scenarios;
using ModelMonitor.DemoTraffic.Sending;

namespace ModelMonitor.DemoTraffic.Running;

/// <summary>
/// One run: optional backfill, then live traffic until Ctrl-C or --duration, the outcomes of both sent
/// alongside (unless --no-outcomes), with a status line per interval and a summary at the end. On stop,
/// requests in flight get <see cref="Grace"/> to finish so their acknowledgements reach the ledger.
/// </summary>
public sealed class TrafficRun
{
    public static readonly TimeSpan Grace = TimeSpan.FromSeconds(5);

    private readonly TrafficRunOptions _options;
    private readonly TextWriter _output;

    public TrafficRun(TrafficRunOptions options, TextWriter output)
    {
        _options = options;
        _output = output;
    }

    public async Task<TrafficSummary> RunAsync(CancellationToken cancellation)
    {
        using var stoppingSource = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        using var abortingSource = new CancellationTokenSource();
        using var _ = stoppingSource.Token.Register(() => abortingSource.CancelAfter(Grace));
        var stopping = stoppingSource.Token;
        var aborting = abortingSource.Token;

        var counters = new TrafficCounters();
        using var ledger = _options.LedgerPath is { } path ? new AcknowledgementLedger(path, _options.LedgerWithModel) : null;
        using var http = IngestionHttpClient.Create(_options.Concurrency, _options.RequestTimeout);
        var sender = new PredictionSender(http, _options.Url, _options.Format, counters, ledger, _options.Sender);
        var generator = new TrafficGenerator(_options.Seed, _options.RunId, _options.Incidents);
        using var outcomes = _options.Outcomes ? new OutcomeDispatcher(_options) : null;
        var status = new StatusReporter(counters, _output, _options.StatusInterval, outcomes);
        var statusTask = status.RunAsync(stopping);

        await _output.WriteLineAsync(Banner(sender, outcomes));
        var outcomesTask = outcomes?.RunAsync(stopping, aborting) ?? Task.CompletedTask;
        if (_options.Register)
        {
            await DemoRegistry.RegisterAsync(http, _options.Url, _output, stopping);
        }
        if (_options.UploadTrainingReference)
        {
            await TrainingReference.UploadAsync(http, _options.Url, _options.Seed, _output, stopping);
        }

        if (_options.BackfillHours > 0)
        {
            await BackfillAsync(generator, sender, counters, outcomes, stopping, aborting);
        }

        if (_options.Duration is { } duration)
        {
            stoppingSource.CancelAfter(duration);
        }

        var acknowledgedBeforeLive = counters.Acknowledged;
        var live = new LiveTrafficProducer(generator, _options, _output, outcomes);
        var batches = BatchChannel.Create(_options.Concurrency);
        var producing = live.RunAsync(batches.Writer, stopping);
        await SenderPool.RunAsync(batches.Reader, sender, _options.Concurrency, stopping, aborting);
        await producing;
        var liveElapsed = Stopwatch.GetElapsedTime(live.StartTimestamp);

        await stoppingSource.CancelAsync();
        await statusTask;
        await outcomesTask;
        var summary = TrafficSummary.From(counters, acknowledgedBeforeLive, _options.RunId, liveElapsed, _options, OutcomeFigures.Of(outcomes));
        await _output.WriteLineAsync(summary.ToText());
        if (_options.JsonSummary)
        {
            await _output.WriteLineAsync(summary.ToJson());
        }

        return summary;
    }

    private async Task BackfillAsync(
        TrafficGenerator generator, PredictionSender sender, TrafficCounters counters, OutcomeDispatcher? outcomes, CancellationToken stopping, CancellationToken aborting)
    {
        var plan = new BackfillPlan(_options.BackfillHours, _options.BackfillPerHour);
        await _output.WriteLineAsync(string.Create(
            CultureInfo.InvariantCulture,
            $"backfill: {plan.TotalRecords(generator.Scenarios)} records over the last {plan.Hours} h ({plan.PredictionsPerHour} per hour per model)"));
        var started = Stopwatch.GetTimestamp();
        var before = counters.Acknowledged;
        var batches = BatchChannel.Create(_options.Concurrency);
        var now = DateTimeOffset.UtcNow;
        var records = plan.Records(generator, now, _options.Seed);
        var producing = BackfillProducer.RunAsync(outcomes is null ? records : WithOutcomes(records, outcomes, now), _options.BatchSize, batches.Writer, stopping);
        await SenderPool.RunAsync(batches.Reader, sender, _options.Concurrency, stopping, aborting);
        await producing;
        await _output.WriteLineAsync(string.Create(
            CultureInfo.InvariantCulture,
            $"backfill done: {counters.Acknowledged - before} acknowledged in {Stopwatch.GetElapsedTime(started).TotalSeconds:0.0}s"));
    }

    /// <summary>The records, queueing the outcome of each backfilled prediction as it goes by.</summary>
    private static IEnumerable<PredictionLog> WithOutcomes(IEnumerable<PredictionLog> records, OutcomeDispatcher outcomes, DateTimeOffset now)
    {
        foreach (var record in records)
        {
            outcomes.AddBackfilled(record, now);
            yield return record;
        }
    }

    private string Banner(PredictionSender sender, OutcomeDispatcher? outcomes)
    {
        var incidents = string.Join(", ", Enum.GetValues<IncidentKind>().Select(kind =>
            _options.Incidents.StartOf(kind) is { } at ? $"{kind} at +{at.TotalSeconds:0}s" : $"{kind} off"));
        var rate = _options.MaxRate ? "max rate" : string.Create(CultureInfo.InvariantCulture, $"{_options.Rate:0.#} records/s (demo day {_options.DemoDay.TotalSeconds:0}s)");
        return string.Create(
            CultureInfo.InvariantCulture,
            $"demo traffic run {_options.RunId} seed {_options.Seed} -> {sender.Endpoint} ({_options.Format}, batch {_options.BatchSize}, concurrency {_options.Concurrency}, {rate}); " +
            $"outcomes {(outcomes is null ? "off" : $"-> {outcomes.Endpoint}")}; incidents: {incidents}");
    }
}
