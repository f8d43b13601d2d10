using System.Diagnostics;
using System.Globalization;
using ModelMonitor.DemoTraffic.Sending;

namespace ModelMonitor.DemoTraffic.Running;

/// <summary>Prints one status line per interval: totals, the interval's rate and request latency, and the outcomes' totals.</summary>
public sealed class StatusReporter
{
    private readonly TrafficCounters _counters;
    private readonly TextWriter _output;
    private readonly TimeSpan _interval;
    private readonly OutcomeDispatcher? _outcomes;
    private readonly long _started = Stopwatch.GetTimestamp();
    private long _lastAcknowledged;
    private string? _lastRejectionShown;
    private string? _lastOutcomeRejectionShown;

    public StatusReporter(TrafficCounters counters, TextWriter output, TimeSpan interval, OutcomeDispatcher? outcomes = null)
    {
        _counters = counters;
        _output = output;
        _interval = interval;
        _outcomes = outcomes;
    }

    public async Task RunAsync(CancellationToken stopping)
    {
        using var timer = new PeriodicTimer(_interval);
        try
        {
            while (await timer.WaitForNextTickAsync(stopping))
            {
                await _output.WriteLineAsync(Line());
            }
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            // Stopped with the run.
        }
    }

    public string Line()
    {
        var interval = _counters.IntervalLatency.Drain();
        var acknowledged = _counters.Acknowledged;
        var rate = (acknowledged - _lastAcknowledged) / _interval.TotalSeconds;
        _lastAcknowledged = acknowledged;
        var line = string.Create(
            CultureInfo.InvariantCulture,
            $"[{Stopwatch.GetElapsedTime(_started):hh\\:mm\\:ss}] sent={_counters.Sent} acknowledged={acknowledged} rejected={_counters.Rejected} " +
            $"retried={_counters.Retries} throttled={_counters.Throttled} gave_up={_counters.GaveUp} rate={rate:0.0}/s " +
            $"p50={Format(interval.QuantileMilliseconds(0.5))} p99={Format(interval.QuantileMilliseconds(0.99))}");
        var rejection = _counters.LastRejection;
        if (rejection is not null && rejection != _lastRejectionShown)
        {
            _lastRejectionShown = rejection;
            line += $" last_rejection=\"{rejection}\"";
        }

        if (_outcomes is { Counters: var outcomes })
        {
            line += string.Create(
                CultureInfo.InvariantCulture,
                $" outcomes_sent={outcomes.Sent} outcomes_accepted={outcomes.Acknowledged} outcomes_rejected={outcomes.Rejected}");
            if (outcomes.LastRejection is { } outcomeRejection && outcomeRejection != _lastOutcomeRejectionShown)
            {
                _lastOutcomeRejectionShown = outcomeRejection;
                line += $" last_outcome_rejection=\"{outcomeRejection}\"";
            }
        }

        return line;
    }

    internal static string Format(double? milliseconds) =>
        milliseconds is { } ms ? ms.ToString("0.0", CultureInfo.InvariantCulture) + "ms" : "-";
}
