using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Confluent.Kafka;
using Microsoft.Extensions.Options;
using ModelMonitor.Core.Contracts;
using ModelMonitor.Hosting.Kafka;

namespace ModelMonitor.Ingestion.Kafka;

/// <summary>
/// Writes prediction logs to Kafka and reports, per record, whether Kafka acknowledged it. One idempotent
/// producer per process (acks=all), so a record acknowledged here is durably in Kafka. The message key is
/// the prediction_id: records spread over all partitions even when one model sends most of the traffic,
/// and the records of one prediction (primary and shadow models, later its outcome) share a partition.
/// </summary>
public sealed class PredictionProducer : IDisposable
{
    private readonly IProducer<byte[], byte[]> _producer;
    private readonly KafkaOptions _options;
    private readonly IngestionMetrics _metrics;
    private readonly ILogger<PredictionProducer> _logger;
    private readonly TimeSpan _statisticsInterval = TimeSpan.FromSeconds(1);
    // Flush and Dispose may be called from two threads at shutdown (a host stopped by its owner while its Run
    // loop stops and disposes it too, as WebApplicationFactory does): one at a time, nothing after Dispose.
    private readonly Lock _lifecycle = new();
    private bool _disposed;
    private long _allBrokersDownSinceTicks; // 0 = some broker up (or not known yet)
    private long _lastStatisticsTicks;

    public PredictionProducer(IOptions<KafkaOptions> options, IngestionMetrics metrics, ILogger<PredictionProducer> logger)
    {
        _options = options.Value;
        _metrics = metrics;
        _logger = logger;
        KafkaNative.EnsureLoaded();
        var config = new ProducerConfig
        {
            BootstrapServers = _options.BootstrapServers,
            EnableIdempotence = true,
            Acks = Acks.All,
            LingerMs = _options.LingerMs,
            // message.timeout.ms bounds a record's time in the producer's queue, but a record already sent
            // to a broker waits for its request's own timeout (request.timeout.ms, 30 s by default) or the
            // socket's (60 s): both are aligned with DeliveryTimeout so every report arrives within it.
            MessageTimeoutMs = (int)_options.DeliveryTimeout.TotalMilliseconds,
            RequestTimeoutMs = (int)_options.DeliveryTimeout.TotalMilliseconds,
            SocketTimeoutMs = Math.Max(10, (int)_options.DeliveryTimeout.TotalMilliseconds),
            QueueBufferingMaxMessages = _options.ProducerQueueMaxMessages,
            QueueBufferingMaxKbytes = _options.ProducerQueueMaxKBytes,
            CompressionType = Enum.Parse<CompressionType>(_options.Compression, ignoreCase: true),
            StatisticsIntervalMs = (int)_statisticsInterval.TotalMilliseconds,
            ClientId = "modelmonitor-ingestion",
            // Reports only need the outcome: not marshalling the timestamp and headers back saves work per record.
            DeliveryReportFields = "status",
        };
        foreach (var (key, value) in _options.Client)
        {
            config.Set(key, value);
        }
        _producer = new ProducerBuilder<byte[], byte[]>(config)
            .SetStatisticsHandler((_, json) => OnStatistics(json))
            .SetErrorHandler((_, error) => OnError(error))
            .SetLogHandler((_, message) => OnLog(message))
            .Build();
    }

    /// <summary>True once statistics showed a broker up and none showed all brokers down since.</summary>
    public bool IsConnected => Interlocked.Read(ref _lastStatisticsTicks) != 0 && Interlocked.Read(ref _allBrokersDownSinceTicks) == 0;

    /// <summary>All brokers have been unreachable for a while: fail fast instead of queueing.</summary>
    public bool IsUnavailable
    {
        get
        {
            var since = Interlocked.Read(ref _allBrokersDownSinceTicks);
            return since != 0 && Stopwatch.GetElapsedTime(since) > _statisticsInterval * 2;
        }
    }

    public string Topic => _options.Topic;

    /// <summary>
    /// Produces every record and waits for Kafka's acknowledgement of each (bounded by
    /// Kafka:DeliveryTimeout). The result lists the positions of the records that were not written.
    /// </summary>
    /// <param name="verbatim">Parallel to <paramref name="logs"/> (or null): a record's JSON to forward as it came,
    /// or empty to encode the log (<see cref="PredictionLogCodec.ValueOf"/>).</param>
    public async Task<DeliveryOutcome> DeliverAsync(IReadOnlyList<PredictionLog> logs, IReadOnlyList<ReadOnlyMemory<byte>>? verbatim = null)
    {
        var pending = new PendingDeliveries(logs.Count);
        var started = Stopwatch.GetTimestamp();
        for (var i = 0; i < logs.Count; i++)
        {
            var log = logs[i];
            var message = new Message<byte[], byte[]>
            {
                Key = Encoding.UTF8.GetBytes(log.PredictionId),
                Value = PredictionLogCodec.ValueOf(log, verbatim is null ? default : verbatim[i]),
            };
            var index = i;
            try
            {
                _producer.Produce(_options.Topic, message, report => pending.Complete(index, report.Error, report.Status));
            }
            catch (KafkaException e)
            {
                // Queue full (saturation) or another local error (ProduceException is one kind of
                // KafkaException): this record and the rest are not written.
                for (var j = i; j < logs.Count; j++)
                {
                    pending.Complete(j, e.Error, PersistenceStatus.NotPersisted);
                }
                break;
            }
        }
        // The caller gets an answer within DeliveryTimeout. librdkafka usually reports by then, but when a
        // broker dies its idempotent producer holds queued records until the dead connection is drained
        // (measured: about twice message.timeout.ms). Records not reported by then are answered as failed and
        // "possibly stored": a broker that comes back at once may still write them.
        var delivered = pending.Task;
        var completed = await Task.WhenAny(delivered, Task.Delay(_options.DeliveryTimeout));
        if (completed != delivered)
        {
            _logger.LogWarning("Kafka did not report delivery of {Count} records within {Timeout}", logs.Count, _options.DeliveryTimeout);
            pending.FailUnreported(new Error(ErrorCode.Local_TimedOut), PersistenceStatus.PossiblyPersisted);
        }
        _metrics.DeliveryDuration.Observe(Stopwatch.GetElapsedTime(started).TotalSeconds);
        var outcome = pending.ToOutcome();
        foreach (var (code, count) in outcome.ErrorCounts)
        {
            _metrics.DeliveryErrors.WithLabels(code).Inc(count);
        }
        if (outcome.Failed.Count > 0)
        {
            _logger.LogWarning("Kafka did not acknowledge {Failed} of {Count} records ({PossiblyStored} possibly stored): {Error}",
                outcome.Failed.Count, logs.Count, outcome.PossiblyStored, outcome.FirstError);
        }
        return outcome;
    }

    /// <summary>Waits for queued messages (shutdown); does nothing once disposed.</summary>
    public void Flush(TimeSpan timeout)
    {
        lock (_lifecycle)
        {
            if (!_disposed)
            {
                _producer.Flush(timeout);
            }
        }
    }

    public void Dispose()
    {
        lock (_lifecycle)
        {
            if (_disposed)
            {
                return;
            }
            _disposed = true;
            try
            {
                _producer.Flush(TimeSpan.FromSeconds(5));
            }
            finally
            {
                _producer.Dispose();
            }
        }
    }

    private void OnStatistics(string json)
    {
        try
        {
            using var doc = JsonDocument.Parse(json);
            var root = doc.RootElement;
            if (root.TryGetProperty("msg_cnt", out var queued))
            {
                _metrics.QueueMessages.Set(queued.GetDouble());
            }
            var anyUp = false;
            if (root.TryGetProperty("brokers", out var brokers))
            {
                foreach (var broker in brokers.EnumerateObject())
                {
                    if (broker.Value.TryGetProperty("nodeid", out var id) && id.GetInt32() >= 0
                        && broker.Value.TryGetProperty("state", out var state) && state.GetString() == "UP")
                    {
                        anyUp = true;
                    }
                }
            }
            if (anyUp)
            {
                Interlocked.Exchange(ref _allBrokersDownSinceTicks, 0);
            }
            else
            {
                Interlocked.CompareExchange(ref _allBrokersDownSinceTicks, Stopwatch.GetTimestamp(), 0);
            }
            Interlocked.Exchange(ref _lastStatisticsTicks, Stopwatch.GetTimestamp());
        }
        catch (JsonException e)
        {
            _logger.LogWarning(e, "Could not read librdkafka statistics");
        }
    }

    private void OnError(Error error)
    {
        if (error.Code == ErrorCode.Local_AllBrokersDown)
        {
            Interlocked.CompareExchange(ref _allBrokersDownSinceTicks, Stopwatch.GetTimestamp(), 0);
        }
        if (error.IsFatal)
        {
            _logger.LogCritical("Kafka producer fatal error {Code}: {Reason}", error.Code, error.Reason);
        }
        else
        {
            _logger.LogWarning("Kafka producer error {Code}: {Reason}", error.Code, error.Reason);
        }
    }

    private void OnLog(LogMessage message)
    {
        var level = message.Level switch
        {
            SyslogLevel.Emergency or SyslogLevel.Alert or SyslogLevel.Critical or SyslogLevel.Error => LogLevel.Error,
            SyslogLevel.Warning => LogLevel.Warning,
            SyslogLevel.Notice or SyslogLevel.Info => LogLevel.Information,
            _ => LogLevel.Debug,
        };
        _logger.Log(level, "librdkafka {Facility}: {Message}", message.Facility, message.Message);
    }

    /// <summary>Counts delivery reports down; the task completes when every record is reported.</summary>
    private sealed class PendingDeliveries
    {
        private readonly Error?[] _errors;
        private readonly bool[] _possiblyStored;
        private readonly bool[] _reported;
        private readonly TaskCompletionSource _done = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly Lock _gate = new();
        private int _remaining;

        public PendingDeliveries(int count)
        {
            _errors = new Error?[count];
            _possiblyStored = new bool[count];
            _reported = new bool[count];
            _remaining = count;
            if (count == 0)
            {
                _done.TrySetResult();
            }
        }

        public Task Task => _done.Task;

        public void Complete(int index, Error error, PersistenceStatus status)
        {
            lock (_gate)
            {
                if (_reported[index])
                {
                    return;
                }
                _reported[index] = true;
                _errors[index] = error.IsError ? error : null;
                // A record whose request timed out in flight may still have been written by the broker.
                _possiblyStored[index] = error.IsError && status == PersistenceStatus.PossiblyPersisted;
                if (--_remaining == 0)
                {
                    _done.TrySetResult();
                }
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
                        Complete(i, error, status);
                    }
                }
            }
        }

        public DeliveryOutcome ToOutcome()
        {
            lock (_gate)
            {
                var failed = new List<int>();
                var counts = new Dictionary<string, int>(StringComparer.Ordinal);
                string? first = null;
                var possiblyStored = 0;
                for (var i = 0; i < _errors.Length; i++)
                {
                    if (_errors[i] is { } error)
                    {
                        failed.Add(i);
                        possiblyStored += _possiblyStored[i] ? 1 : 0;
                        var code = error.Code.ToString();
                        counts[code] = counts.GetValueOrDefault(code) + 1;
                        first ??= string.Create(CultureInfo.InvariantCulture, $"{error.Code}: {error.Reason}");
                    }
                }
                return new DeliveryOutcome(failed, counts, first, possiblyStored);
            }
        }
    }
}

/// <summary>
/// Which records Kafka did not acknowledge (positions in the produced list), and why. PossiblyStored counts
/// failed records whose request timed out in flight: the broker may have written them (Kafka cannot tell).
/// </summary>
public sealed record DeliveryOutcome(IReadOnlyList<int> Failed, IReadOnlyDictionary<string, int> ErrorCounts, string? FirstError,
    int PossiblyStored);
