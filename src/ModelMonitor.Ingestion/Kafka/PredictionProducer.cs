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
    private readonly BrokerHealth _health;

    private readonly TopicPartitionCount _partitions;
    private readonly TopicPartitionCount _outcomePartitions;

    public PredictionProducer(IOptions<KafkaOptions> options, IngestionMetrics metrics, ILogger<PredictionProducer> logger)
    {
        _options = options.Value;
        _metrics = metrics;
        _logger = logger;
        _health = new BrokerHealth(_statisticsInterval);
        var metadataTimeout = TimeSpan.FromTicks(Math.Min(_options.DeliveryTimeout.Ticks, TimeSpan.FromSeconds(5).Ticks));
        _partitions = new TopicPartitionCount(_options.Topic, timeout => ReadTopicMetadata(_options.Topic, timeout), metadataTimeout, logger);
        _outcomePartitions = new TopicPartitionCount(_options.OutcomesTopic, timeout => ReadTopicMetadata(_options.OutcomesTopic, timeout),
            metadataTimeout, logger);
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
    public bool IsConnected => _health.IsConnected;

    /// <summary>All brokers have been unreachable for a while: fail fast instead of queueing.</summary>
    public bool IsUnavailable => _health.IsUnavailable;

    public string Topic => _options.Topic;

    /// <summary>
    /// Produces every record and waits for Kafka's acknowledgement of each (bounded by
    /// Kafka:DeliveryTimeout). The result lists the positions of the records that were not written.
    /// </summary>
    /// <param name="verbatim">Parallel to <paramref name="logs"/> (or null): a record's JSON to forward as it came,
    /// or empty to encode the log (<see cref="PredictionLogCodec.ValueOf"/>).</param>
    public Task<DeliveryOutcome> DeliverAsync(IReadOnlyList<PredictionLog> logs, IReadOnlyList<ReadOnlyMemory<byte>>? verbatim = null) =>
        DeliverAsync(_options.Topic, _partitions, logs.Count, partitions => PredictionMessages.Plan(logs, verbatim, partitions, _options.MaxMessageBytes));

    /// <summary>
    /// Produces every outcome to the outcomes topic, in the partition of its prediction_id (as its predictions), and waits
    /// for Kafka's acknowledgement of each, as <see cref="DeliverAsync(IReadOnlyList{PredictionLog}, IReadOnlyList{ReadOnlyMemory{byte}}?)"/>.
    /// Refused (listed as failed, not written) while the two topics' partition counts differ: the outcome would miss its predictions.
    /// </summary>
    public async Task<DeliveryOutcome> DeliverOutcomesAsync(IReadOnlyList<Outcome> outcomes)
    {
        var predictions = await _partitions.GetAsync();
        return await DeliverAsync(_options.OutcomesTopic, _outcomePartitions, outcomes.Count, partitions =>
            predictions > 0 && predictions != partitions
                ? throw new KafkaException(new Error(ErrorCode.Local_UnknownPartition,
                    CoPartitioning.Problem(_options, predictions, partitions)))
                : OutcomeMessages.Plan(outcomes, partitions, _options.MaxMessageBytes));
    }

    private async Task<DeliveryOutcome> DeliverAsync(string topic, TopicPartitionCount partitionCount, int count, Func<int, MessagePlan> plan)
    {
        var pending = new PendingDeliveries(count);
        lock (_waiting)
        {
            _waiting.Add(pending);
        }
        try
        {
            return await DeliverAsync(topic, partitionCount, count, plan, pending);
        }
        finally
        {
            lock (_waiting)
            {
                _waiting.Remove(pending);
            }
        }
    }

    private async Task<DeliveryOutcome> DeliverAsync(string topic, TopicPartitionCount partitionCount, int count, Func<int, MessagePlan> planOf,
        PendingDeliveries pending)
    {
        var started = Stopwatch.GetTimestamp();
        var partitions = await partitionCount.GetAsync();
        MessagePlan? plan = null;
        if (partitions == 0)
        {
            pending.FailUnreported(new Error(ErrorCode.Local_UnknownTopic, $"the partitions of topic {topic} are not known yet"),
                PersistenceStatus.NotPersisted);
        }
        else
        {
            try
            {
                plan = planOf(partitions);
            }
            catch (KafkaException e)
            {
                pending.FailUnreported(e.Error, PersistenceStatus.NotPersisted);
            }
        }
        if (plan is not null)
        {
            foreach (var (record, bytes) in plan.TooLarge)
            {
                pending.Refuse(record, $"the record is too large for Kafka: {bytes} bytes as a message, over the limit of {_options.MaxMessageBytes} (Kafka:MaxMessageBytes)");
            }
            for (var m = 0; m < plan.Messages.Count; m++)
            {
                var message = plan.Messages[m];
                try
                {
                    _producer.Produce(new TopicPartition(topic, new Partition(message.Partition)),
                        new Message<byte[], byte[]>
                        {
                            Value = message.Value,
                            Headers = message.Keys is null ? null : new Headers { { PredictionKeyHeader.Name, message.Keys } },
                        },
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
            _logger.LogWarning("Kafka did not report delivery of {Count} records within {Timeout}", count, _options.DeliveryTimeout);
            pending.FailUnreported(new Error(ErrorCode.Local_TimedOut), PersistenceStatus.PossiblyPersisted);
        }
        _metrics.DeliveryDuration.Observe(Stopwatch.GetElapsedTime(started).TotalSeconds);
        var outcome = pending.ToOutcome();
        foreach (var (code, errors) in outcome.ErrorCounts)
        {
            _metrics.DeliveryErrors.WithLabels(code).Inc(errors);
            if (code is nameof(ErrorCode.UnknownTopicOrPart) or nameof(ErrorCode.Local_UnknownPartition))
            {
                partitionCount.Invalidate(); // the topic changed under us: read its metadata again
            }
        }
        if (outcome.Failed.Count > 0)
        {
            _logger.LogWarning("Kafka did not acknowledge {Failed} of {Count} records ({PossiblyStored} possibly stored): {Error}",
                outcome.Failed.Count, count, outcome.PossiblyStored, outcome.FirstError);
        }
        return outcome;
    }

    /// <summary>The topic's metadata (null: not in the answer), through a dependent client over the producer's own
    /// handle and connections (no second client). Throws ObjectDisposedException once the producer is disposed.</summary>
    private TopicMetadata? ReadTopicMetadata(string topic, TimeSpan timeout)
    {
        lock (_lifecycle) // not while Dispose destroys the handle
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            using var metadata = new DependentAdminClientBuilder(_producer.Handle).Build();
            return metadata.GetMetadata(topic, timeout).Topics.FirstOrDefault(t => t.Topic == topic);
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
            if (_health.Observe(doc.RootElement) is { } queued)
            {
                _metrics.QueueMessages.Set(queued);
            }
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
            _health.AllDown();
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
}
