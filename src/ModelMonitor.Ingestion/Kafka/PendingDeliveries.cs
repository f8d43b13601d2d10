using System.Globalization;
using Confluent.Kafka;

namespace ModelMonitor.Ingestion.Kafka;

/// <summary>Counts delivery reports down; the task completes when every record is reported.</summary>
internal sealed class PendingDeliveries
{
    private readonly Error?[] _errors;
    private readonly string?[] _refused;
    private readonly bool[] _possiblyStored;
    private readonly bool[] _reported;
    private readonly TaskCompletionSource _done = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Lock _gate = new();
    private int _remaining;

    public PendingDeliveries(int count)
    {
        _errors = new Error?[count];
        _refused = new string?[count];
        _possiblyStored = new bool[count];
        _reported = new bool[count];
        _remaining = count;
        if (count == 0)
        {
            _done.TrySetResult();
        }
    }

    public Task Task => _done.Task;

    public void Complete(int[] records, Error error, PersistenceStatus status)
    {
        lock (_gate)
        {
            foreach (var record in records)
            {
                if (error.Code == ErrorCode.MsgSizeTooLarge)
                {
                    // The broker's or librdkafka's limit is below Kafka:MaxMessageBytes: resending cannot succeed.
                    Report(record, null, $"Kafka refused the message holding this record as too large ({error.Reason}); " +
                        "Kafka:MaxMessageBytes is above the topic's max.message.bytes or the client's message.max.bytes", possiblyStored: false);
                }
                else
                {
                    // A record whose request timed out in flight may still have been written by the broker.
                    Report(record, error.IsError ? error : null, null, error.IsError && status == PersistenceStatus.PossiblyPersisted);
                }
            }
        }
    }

    public void Refuse(int record, string why)
    {
        lock (_gate)
        {
            Report(record, null, why, possiblyStored: false);
        }
    }

    public void FailUnreported(Error error, PersistenceStatus status)
    {
        lock (_gate)
        {
            for (var i = 0; i < _reported.Length; i++)
            {
                if (!_reported[i])
                {
                    Report(i, error, null, status == PersistenceStatus.PossiblyPersisted);
                }
            }
        }
    }

    private void Report(int record, Error? error, string? refused, bool possiblyStored)
    {
        if (_reported[record])
        {
            return;
        }
        _reported[record] = true;
        _errors[record] = error;
        _refused[record] = refused;
        _possiblyStored[record] = possiblyStored;
        if (--_remaining == 0)
        {
            _done.TrySetResult();
        }
    }

    public DeliveryOutcome ToOutcome()
    {
        lock (_gate)
        {
            var failed = new List<int>();
            var refused = new List<(int, string)>();
            var counts = new Dictionary<string, int>(StringComparer.Ordinal);
            string? first = null;
            var possiblyStored = 0;
            for (var i = 0; i < _errors.Length; i++)
            {
                if (_refused[i] is { } why)
                {
                    refused.Add((i, why));
                }
                else if (_errors[i] is { } error)
                {
                    failed.Add(i);
                    possiblyStored += _possiblyStored[i] ? 1 : 0;
                    var code = error.Code.ToString();
                    counts[code] = counts.GetValueOrDefault(code) + 1;
                    first ??= string.Create(CultureInfo.InvariantCulture, $"{error.Code}: {error.Reason}");
                }
            }
            return new DeliveryOutcome(failed, counts, first, possiblyStored, refused);
        }
    }
}

/// <summary>
/// Which records Kafka did not acknowledge (positions in the produced list), and why. PossiblyStored counts
/// failed records whose request timed out in flight: the broker may have written them (Kafka cannot tell).
/// Refused records are too large for a Kafka message: not written, and resending them cannot help.
/// </summary>
public sealed record DeliveryOutcome(IReadOnlyList<int> Failed, IReadOnlyDictionary<string, int> ErrorCounts, string? FirstError,
    int PossiblyStored, IReadOnlyList<(int Record, string Why)> Refused);
