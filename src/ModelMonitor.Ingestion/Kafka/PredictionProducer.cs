using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Confluent.Kafka;
using Microsoft.Extensions.Options;
using ModelMonitor.Core.Contracts;
using ModelMonitor.Kafka;

namespace ModelMonitor.Ingestion.Kafka;

/// <summary>
/// Writes prediction logs to Kafka and reports, per record, whether Kafka acknowledged it. One idempotent
/// producer per process (acks=all), so a record acknowledged here is durably in Kafka. A record's partition is
/// Kafka's default partitioning of its prediction_id (<see cref="PredictionPartitioner"/>): records spread over
/// all partitions even when one model sends most of the traffic, and the records of one prediction (primary and
/// shadow models, later its outcome) share a partition. The records of one request that share a partition
/// travel as one message (<see cref="PredictionMessages"/>): Kafka's cost is per message, not per record.
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

    // Requests waiting for their reports: those still unreported when the producer is disposed are answered then
    // (librdkafka drops the reports of what it purges at destroy), not after the whole DeliveryTimeout.
    private readonly HashSet<PendingDeliveries> _waiting = [];
    private long _allBrokersDownSinceTicks; // 0 = some broker up (or not known yet)
    private long _lastStatisticsTicks;

    // The topic's partition count, from metadata through the producer's own connections (no second client).
    private static readonly TimeSpan PartitionsRefresh = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan PartitionsRetry = TimeSpan.FromSeconds(1);
    private readonly SemaphoreSlim _metadataGate = new(1, 1);
    private volatile int _partitionCount; // 0 = not known yet
    private long _partitionsCheckedTicks;
    private long _partitionsFailedTicks;

    public PredictionProducer(IOptions<KafkaOptions> options, IngestionMetrics metrics, ILogger<PredictionProducer> logger)
    {
        _options = options.Value;
        _metrics = metrics;
        _logger = logger;
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
        lock (_waiting)
        {
            _waiting.Add(pending);
        }
        try
        {
            return await DeliverAsync(logs, verbatim, pending);
        }
        finally
        {
            lock (_waiting)
            {
                _waiting.Remove(pending);
            }
        }
    }

    private async Task<DeliveryOutcome> DeliverAsync(IReadOnlyList<PredictionLog> logs, IReadOnlyList<ReadOnlyMemory<byte>>? verbatim, PendingDeliveries pending)
    {
        var started = Stopwatch.GetTimestamp();
        var partitions = await PartitionCountAsync();
        if (partitions == 0)
        {
            pending.FailUnreported(new Error(ErrorCode.Local_UnknownTopic, $"the partitions of topic {_options.Topic} are not known yet"),
                PersistenceStatus.NotPersisted);
        }
        else
        {
            var plan = PredictionMessages.Plan(logs, verbatim, partitions, _options.MaxMessageBytes);
            foreach (var (record, bytes) in plan.TooLarge)
            {
                pending.Refuse(record, $"the record is too large for Kafka: {bytes} bytes as a message, over the limit of {_options.MaxMessageBytes} (Kafka:MaxMessageBytes)");
            }
            for (var m = 0; m < plan.Messages.Count; m++)
            {
                var message = plan.Messages[m];
                try
                {
                    _producer.Produce(new TopicPartition(_options.Topic, new Partition(message.Partition)),
                        new Message<byte[], byte[]> { Value = message.Value },
                        report => pending.Complete(message.Records, report.Error, report.Status));
                }
                catch (KafkaException e) when (e.Error.Code == ErrorCode.MsgSizeTooLarge)
                {
                    // Over librdkafka's message.max.bytes (set below Kafka:MaxMessageBytes): this message only.
                    pending.Complete(message.Records, e.Error, PersistenceStatus.NotPersisted);
                }
                catch (KafkaException e)
                {
                    // Queue full (saturation) or another local error (ProduceException is one kind of
                    // KafkaException): this message and the rest are not written.
                    for (var rest = m; rest < plan.Messages.Count; rest++)
                    {
                        pending.Complete(plan.Messages[rest].Records, e.Error, PersistenceStatus.NotPersisted);
                    }
                    break;
                }
            }
        }
        // The caller gets an answer within DeliveryTimeout. librdkafka usually reports by then, but when a
        // broker dies its idempotent producer holds queued records until the dead connection is drained
        // (measured: about twice message.timeout.ms). Records not reported by then are answered as failed and
        // "possibly stored": a broker that comes back at once may still write them.
        // WaitAsync removes its timer when the reports are in (a Task.Delay would stay queued for the whole timeout).
        try
        {
            await pending.Task.WaitAsync(_options.DeliveryTimeout);
        }
        catch (TimeoutException)
        {
            _logger.LogWarning("Kafka did not report delivery of {Count} records within {Timeout}", logs.Count, _options.DeliveryTimeout);
            pending.FailUnreported(new Error(ErrorCode.Local_TimedOut), PersistenceStatus.PossiblyPersisted);
        }
        _metrics.DeliveryDuration.Observe(Stopwatch.GetElapsedTime(started).TotalSeconds);
        var outcome = pending.ToOutcome();
        foreach (var (code, count) in outcome.ErrorCounts)
        {
            _metrics.DeliveryErrors.WithLabels(code).Inc(count);
            if (code is nameof(ErrorCode.UnknownTopicOrPart) or nameof(ErrorCode.Local_UnknownPartition))
            {
                Interlocked.Exchange(ref _partitionsCheckedTicks, 0); // the topic changed under us: read its metadata again
            }
        }
        if (outcome.Failed.Count > 0)
        {
            _logger.LogWarning("Kafka did not acknowledge {Failed} of {Count} records ({PossiblyStored} possibly stored): {Error}",
                outcome.Failed.Count, logs.Count, outcome.PossiblyStored, outcome.FirstError);
        }
        return outcome;
    }

    /// <summary>
    /// The topic's partition count: read once, then refreshed in the background every 30 s (partitions can be added
    /// while we run). 0 while it cannot be read (broker unreachable, topic missing); a request then fails at once
    /// rather than waiting, and the next attempt is at most once a second.
    /// </summary>
    private async ValueTask<int> PartitionCountAsync()
    {
        var known = _partitionCount;
        if (known > 0)
        {
            if (Stopwatch.GetElapsedTime(Interlocked.Read(ref _partitionsCheckedTicks)) > PartitionsRefresh
                && Stopwatch.GetElapsedTime(Interlocked.Read(ref _partitionsFailedTicks)) > PartitionsRetry
                && _metadataGate.Wait(0))
            {
                _ = Task.Run(() =>
                {
                    try
                    {
                        ReadPartitionCount();
                    }
                    finally
                    {
                        _metadataGate.Release();
                    }
                });
            }
            return known;
        }
        var failed = Interlocked.Read(ref _partitionsFailedTicks);
        if (failed != 0 && Stopwatch.GetElapsedTime(failed) < PartitionsRetry)
        {
            return 0;
        }
        await _metadataGate.WaitAsync();
        try
        {
            if (_partitionCount == 0)
            {
                await Task.Run(ReadPartitionCount);
            }
            return _partitionCount;
        }
        finally
        {
            _metadataGate.Release();
        }
    }

    private void ReadPartitionCount()
    {
        try
        {
            var timeout = TimeSpan.FromTicks(Math.Min(_options.DeliveryTimeout.Ticks, TimeSpan.FromSeconds(5).Ticks));
            TopicMetadata? topic;
            lock (_lifecycle) // not while Dispose destroys the handle
            {
                if (_disposed)
                {
                    return;
                }
                // A dependent client over the producer's own handle and connections, for this call only.
                using var metadata = new DependentAdminClientBuilder(_producer.Handle).Build();
                topic = metadata.GetMetadata(_options.Topic, timeout).Topics.FirstOrDefault(t => t.Topic == _options.Topic);
            }
            if (topic is null || topic.Error.IsError || topic.Partitions.Count == 0)
            {
                throw new KafkaException(topic?.Error ?? new Error(ErrorCode.UnknownTopicOrPart));
            }
            if (topic.Partitions.Count != _partitionCount)
            {
                _logger.LogInformation("Kafka topic {Topic} has {Partitions} partitions", _options.Topic, topic.Partitions.Count);
            }
            _partitionCount = topic.Partitions.Count;
            Interlocked.Exchange(ref _partitionsCheckedTicks, Stopwatch.GetTimestamp());
            Interlocked.Exchange(ref _partitionsFailedTicks, 0);
        }
        catch (KafkaException e)
        {
            Interlocked.Exchange(ref _partitionsFailedTicks, Stopwatch.GetTimestamp());
            _logger.LogWarning("Cannot read the partitions of Kafka topic {Topic}: {Reason}", _options.Topic, e.Error.Reason);
        }
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
                FailWaiting();
            }
        }
    }

    /// <summary>After the client is gone: whatever it did not report may or may not have reached a broker.</summary>
    private void FailWaiting()
    {
        PendingDeliveries[] waiting;
        lock (_waiting)
        {
            waiting = [.. _waiting];
        }
        foreach (var pending in waiting)
        {
            pending.FailUnreported(new Error(ErrorCode.Local_Destroy, "the API shut down before Kafka reported the delivery"), PersistenceStatus.PossiblyPersisted);
        }
        if (waiting.Length > 0)
        {
            _logger.LogWarning("Shut down with {Requests} requests not yet acknowledged by Kafka: answered as failed, possibly stored", waiting.Length);
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
}

/// <summary>
/// Which records Kafka did not acknowledge (positions in the produced list), and why. PossiblyStored counts
/// failed records whose request timed out in flight: the broker may have written them (Kafka cannot tell).
/// Refused records are too large for a Kafka message: not written, and resending them cannot help.
/// </summary>
public sealed record DeliveryOutcome(IReadOnlyList<int> Failed, IReadOnlyDictionary<string, int> ErrorCounts, string? FirstError,
    int PossiblyStored, IReadOnlyList<(int Record, string Why)> Refused);
