using System.Diagnostics;
using Confluent.Kafka;
using Microsoft.Extensions.Options;
using ModelMonitor.Core.Aggregation;
using ModelMonitor.Core.Contracts;
using ModelMonitor.Kafka;
using ModelMonitor.Storage;
using ModelMonitor.Storage.Statistics;
using Npgsql;

namespace ModelMonitor.Aggregator;

/// <summary>
/// Consumes prediction logs, accumulates a delta per (window, predictor, model[, feature]) and flushes
/// it with the consumed offsets in one Postgres transaction (see <see cref="StatisticsStore"/>).
/// Postgres holds the offsets: on assignment the consumer seeks to them; Kafka commits are only for
/// lag visibility in Kafka tools.
/// </summary>
internal sealed class ConsumerWorker(
    IOptions<AggregatorOptions> aggregatorOptions,
    IOptions<KafkaOptions> kafkaOptions,
    NpgsqlDataSource dataSource,
    SchemaMigration schema,
    AggregatorMetrics metrics,
    AggregatorStatus status,
    TimeProvider time,
    ILogger<ConsumerWorker> logger) : BackgroundService
{
    private static readonly TimeSpan PollTimeout = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan MinBackoff = TimeSpan.FromMilliseconds(500);
    private static readonly TimeSpan LagInterval = TimeSpan.FromSeconds(1);

    private readonly AggregatorOptions _options = aggregatorOptions.Value;
    private readonly string _topic = kafkaOptions.Value.Topic;
    private readonly StatisticsStore _store = new(dataSource, aggregatorOptions.Value.CategoryCapacity);
    private readonly AggregationDelta _delta = new(aggregatorOptions.Value.ParsedWindows, aggregatorOptions.Value.CategoryCapacity);
    private readonly List<PredictionLog> _decoded = [];
    private readonly List<string> _decodeErrors = [];
    private readonly PoisonReplay _replay = new();

    // Partition → the offset after the last message read for the first time (poison and late records count once).
    private readonly Dictionary<int, long> _firstUnread = [];

    // Partition → next_offset stored in Postgres (absent: no row yet), for the partitions we own.
    private readonly Dictionary<int, long> _stored = [];
    private readonly HashSet<int> _assigned = [];
    private CancellationToken _stopping;
    private DateTimeOffset _nextFlushAt;
    private DateTimeOffset _retryAt;
    private TimeSpan _backoff = MinBackoff;
    private bool _paused;
    private bool _rewindNeeded;
    private DateTimeOffset _nextLagAt;
    private bool _waitingForTopic;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        _stopping = stoppingToken;
        try
        {
            await schema.WhenMigratedAsync(stoppingToken);
        }
        catch (OperationCanceledException)
        {
            return;
        }
        if (stoppingToken.IsCancellationRequested)
        {
            return;
        }

        using var consumer = BuildConsumer();
        consumer.Subscribe(_topic);
        status.Running(true);
        logger.LogInformation(
            "Aggregating topic {Topic} as group {Group} into windows {Windows}",
            _topic,
            _options.ConsumerGroup,
            _options.Windows);
        _nextFlushAt = time.GetUtcNow() + _options.FlushInterval;
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                ConsumeResult<Ignore, byte[]>? result;
                try
                {
                    result = consumer.Consume(PollTimeout);
                }
                catch (ConsumeException e) when (e.Error.Code == ErrorCode.UnknownTopicOrPart)
                {
                    // The topic is created by the first write (or by an operator): not an error, and said once.
                    if (!_waitingForTopic)
                    {
                        _waitingForTopic = true;
                        logger.LogInformation("Waiting for Kafka topic {Topic} to exist ({Reason})", _topic, e.Error.Reason);
                    }
                    continue;
                }
                catch (ConsumeException e) when (!e.Error.IsFatal)
                {
                    logger.LogWarning("Kafka consume error {Code}: {Reason}", e.Error.Code, e.Error.Reason);
                    continue;
                }

                if (result?.Message is not null)
                {
                    if (_replay.Active)
                    {
                        await ReplayAloneAsync(consumer, result, stoppingToken);
                    }
                    else
                    {
                        Process(result);
                    }
                }

                if (_rewindNeeded)
                {
                    Rewind(consumer);
                }

                await MaybeFlushAsync(consumer, force: false, stoppingToken);
                UpdateLag(consumer);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        catch (KafkaException e) when (e.Error.IsFatal)
        {
            logger.LogCritical(e, "Fatal Kafka error {Code}: {Reason}; the aggregator stops", e.Error.Code, e.Error.Reason);
            throw;
        }
        finally
        {
            status.Running(false);
        }

        // Graceful stop: one last flush (bounded in time), then Close() so the group rebalances at once.
        // Close() runs the revocation handler, which flushes again if anything is left.
        using var shutdown = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await FlushOnceAsync(consumer, shutdown.Token);
        _stopping = shutdown.Token;
        consumer.Close();
        logger.LogInformation("Aggregator consumer closed");
    }

    private IConsumer<Ignore, byte[]> BuildConsumer()
    {
        var kafka = kafkaOptions.Value;
        if (string.IsNullOrWhiteSpace(kafka.BootstrapServers))
        {
            throw new InvalidOperationException("Kafka:BootstrapServers is empty: the aggregator needs a Kafka to consume from.");
        }

        var config = new ConsumerConfig
        {
            BootstrapServers = kafka.BootstrapServers,
            GroupId = _options.ConsumerGroup,
            EnableAutoCommit = false,
            EnableAutoOffsetStore = false,
            AutoOffsetReset = AutoOffsetReset.Earliest,
            EnablePartitionEof = false,
            // Only the value, partition and offset are read: not marshalling topic name, timestamp and headers
            // saves work per record.
            ConsumeResultFields = "none",
        };
        foreach (var (key, value) in kafka.Client.Concat(_options.Consumer))
        {
            config.Set(key, value);
        }

        return new ConsumerBuilder<Ignore, byte[]>(config)
            .SetPartitionsAssignedHandler(OnAssigned)
            .SetPartitionsRevokedHandler(OnRevoked)
            .SetPartitionsLostHandler(OnLost)
            .SetErrorHandler((_, e) => logger.LogWarning("Kafka error {Code}: {Reason}", e.Code, e.Reason))
            .SetLogHandler((_, m) => logger.LogDebug("librdkafka {Facility}: {Message}", m.Facility, m.Message))
            .Build();
    }

    private void Process(ConsumeResult<Ignore, byte[]> result)
    {
        metrics.MessagesConsumed.Inc();
        var partition = result.Partition.Value;
        if (!_assigned.Contains(partition))
        {
            // A message of a partition we no longer own (fetched before a rebalance): not ours to count.
            return;
        }

        _decoded.Clear();
        _decodeErrors.Clear();
        var records = 1;
        if (result.Message.Value is null)
        {
            _decodeErrors.Add("null value");
        }
        else
        {
            records = PredictionMessages.Decode(result.Message.Value, _decoded, _decodeErrors);
        }
        metrics.RecordsConsumed.Inc(records);
        // A message read again (after a rewind or during a poison replay) is not counted as poison or late twice.
        var firstRead = result.Offset.Value >= _firstUnread.GetValueOrDefault(partition);
        if (firstRead)
        {
            _firstUnread[partition] = result.Offset.Value + 1;
        }
        if (_decodeErrors.Count > 0 && firstRead)
        {
            metrics.RecordsPoison.Inc(_decodeErrors.Count);
            logger.LogWarning(
                "Skipping {Count} malformed of {Records} records at {Topic} partition {Partition} offset {Offset}: {Error}",
                _decodeErrors.Count,
                records,
                _topic,
                partition,
                result.Offset.Value,
                _decodeErrors[0]);
        }

        var oldest = time.GetUtcNow() - _options.AllowedLateness;
        foreach (var log in _decoded)
        {
            if (log.SentAt < oldest)
            {
                if (!firstRead)
                {
                    continue;
                }
                metrics.RecordsLate.Inc();
                logger.LogWarning(
                    "Skipping late record at partition {Partition} offset {Offset}: sent_at {SentAt} is older than the allowed lateness {Lateness}",
                    partition,
                    result.Offset.Value,
                    log.SentAt,
                    _options.AllowedLateness);
            }
            else
            {
                _delta.Add(log);
            }
        }
        _decoded.RemoveAll(log => log.SentAt < oldest); // what is left is what the delta holds of this message

        _delta.Advance(partition, result.Offset.Value + 1, records);
        metrics.OpenWindowRows.Set(_delta.RowCount);
    }

    private bool OverBound => _delta.RowCount >= _options.MaxOpenRows || _delta.RecordCount >= _options.MaxBufferedRecords;

    private async Task MaybeFlushAsync(IConsumer<Ignore, byte[]> consumer, bool force, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        if (_delta.IsEmpty || (!force && now < _nextFlushAt && !OverBound))
        {
            return;
        }

        if (!force && now < _retryAt)
        {
            // Postgres is failing: keep reading until the bound, then stop fetching (memory stays bounded).
            if (OverBound && !_paused)
            {
                consumer.Pause(consumer.Assignment);
                _paused = true;
                logger.LogWarning("Paused consumption: {Rows} rows and {Records} records wait for Postgres", _delta.RowCount, _delta.RecordCount);
            }

            return;
        }

        await FlushOnceAsync(consumer, cancellationToken);
    }

    /// <summary>One flush attempt; on failure schedules a retry with exponential backoff.</summary>
    private async Task<bool> FlushOnceAsync(IConsumer<Ignore, byte[]> consumer, CancellationToken cancellationToken)
    {
        if (_delta.IsEmpty)
        {
            return true;
        }

        var started = Stopwatch.GetTimestamp();
        try
        {
            var (outcome, rows) = await _store.FlushAsync(_options.ConsumerGroup, _topic, _delta, _stored, cancellationToken);
            if (outcome == FlushOutcome.Fenced)
            {
                metrics.FlushErrors.Inc();
                logger.LogWarning(
                    "Offsets in Postgres moved under us (another consumer owned these partitions): dropping {Records} records and rewinding to the stored offsets",
                    _delta.RecordCount);
                _delta.Clear();
                _rewindNeeded = true;
                return false;
            }

            foreach (var (partition, next) in _delta.NextOffsets)
            {
                _stored[partition] = next;
            }

            var offsets = _delta.NextOffsets.Select(p => new TopicPartitionOffset(_topic, p.Key, p.Value)).ToList();
            metrics.Flushes.Inc();
            metrics.RowsWritten.Inc(rows);
            metrics.FlushDuration.Observe(Stopwatch.GetElapsedTime(started).TotalSeconds);
            metrics.LastFlush.Set(time.GetUtcNow().ToUnixTimeMilliseconds() / 1000.0);
            logger.LogDebug("Flushed {Rows} rows and {Records} records", rows, _delta.RecordCount);
            _delta.Clear();
            metrics.OpenWindowRows.Set(0);
            status.FlushSucceeded();
            _backoff = MinBackoff;
            _retryAt = default;
            _nextFlushAt = time.GetUtcNow() + _options.FlushInterval;
            if (_paused)
            {
                consumer.Resume(consumer.Assignment);
                _paused = false;
                logger.LogInformation("Postgres is back: resumed consumption");
            }

            CommitToKafkaForVisibility(consumer, offsets);
            return true;
        }
        catch (Exception e) when (PoisonReplay.IsDataError(e))
        {
            // Retrying the same values would fail forever and stop every model's statistics: drop the delta and
            // replay its messages one at a time to find the records Postgres refuses (see ReplayAloneAsync).
            metrics.FlushErrors.Inc();
            logger.LogError(
                "Flush of {Rows} rows failed on its data ({SqlState}: {Error}); replaying up to offsets {Offsets} one message at a time to isolate the records",
                _delta.RowCount,
                ((Npgsql.PostgresException)e).SqlState,
                e.Message,
                _delta.NextOffsets);
            _replay.Begin(_delta.NextOffsets);
            _delta.Clear();
            metrics.OpenWindowRows.Set(0);
            _rewindNeeded = true;
            return false;
        }
        catch (Exception e)
        {
            // Postgres unreachable, restarting, timing out, a deadlock, or cancelled at shutdown: the
            // transaction did not commit (or, if the commit's answer was lost, the offset compare-and-set
            // of the retry will tell). Keep the delta and retry later.
            var wait = RecordFailure(e.Message);
            _retryAt = time.GetUtcNow() + wait;
            logger.LogWarning(
                "Flush of {Rows} rows failed, retrying in {Backoff}: {Error}",
                _delta.RowCount,
                wait,
                e.Message);
            return false;
        }
    }

    private void CommitToKafkaForVisibility(IConsumer<Ignore, byte[]> consumer, List<TopicPartitionOffset> offsets)
    {
        var owned = offsets.Where(o => _assigned.Contains(o.Partition.Value)).ToList();
        if (owned.Count == 0)
        {
            return;
        }

        try
        {
            consumer.Commit(owned);
        }
        catch (KafkaException e)
        {
            // Not the source of truth (Postgres is): a failed commit only delays what Kafka tools show.
            logger.LogDebug("Kafka offset commit (visibility only) failed: {Reason}", e.Error.Reason);
        }
    }

    private IEnumerable<TopicPartitionOffset> OnAssigned(IConsumer<Ignore, byte[]> consumer, List<TopicPartition> partitions)
    {
        var numbers = partitions.Select(p => p.Partition.Value).ToList();
        var backoff = MinBackoff;
        while (true)
        {
            try
            {
                var stored = _store.LoadOffsetsAsync(_options.ConsumerGroup, _topic, numbers, _stopping).GetAwaiter().GetResult();
                foreach (var partition in numbers)
                {
                    _assigned.Add(partition);
                    if (stored.TryGetValue(partition, out var next))
                    {
                        _stored[partition] = next;
                    }
                    else
                    {
                        _stored.Remove(partition);
                    }
                }

                logger.LogInformation(
                    "Assigned partitions {Partitions}; starting at stored offsets {Offsets}",
                    numbers,
                    numbers.Select(p => stored.TryGetValue(p, out var o) ? o.ToString(System.Globalization.CultureInfo.InvariantCulture) : "earliest"));
                _paused = false;
                return partitions.Select(p => new TopicPartitionOffset(p, stored.TryGetValue(p.Partition.Value, out var o) ? new Offset(o) : Offset.Beginning)).ToList();
            }
            catch (Exception e) when (e is NpgsqlException or TimeoutException)
            {
                // Without the stored offsets we must not consume: wait for Postgres (the stop token ends this).
                logger.LogWarning("Cannot read stored offsets ({Error}); retrying in {Backoff}", e.Message, backoff);
                _stopping.WaitHandle.WaitOne(backoff);
                _stopping.ThrowIfCancellationRequested();
                backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, _options.MaxRetryBackoff.Ticks));
            }
        }
    }

    private void OnRevoked(IConsumer<Ignore, byte[]> consumer, List<TopicPartitionOffset> partitions)
    {
        // Flush before giving the partitions up; if that fails the delta is dropped: the next owner
        // starts from the offsets in Postgres, so nothing is lost or counted twice either way.
        var flushed = !_delta.IsEmpty && FlushOnceAsync(consumer, _stopping.IsCancellationRequested ? CancellationToken.None : _stopping).GetAwaiter().GetResult();
        if (!_delta.IsEmpty && !flushed)
        {
            logger.LogWarning("Partitions revoked before a successful flush: dropping {Records} unflushed records", _delta.RecordCount);
            _delta.Clear();
            _rewindNeeded = true;
        }

        Forget(partitions.Select(p => p.Partition.Value));
    }

    /// <summary>
    /// During a replay (see <see cref="PoisonReplay"/>): the message is flushed alone. Its records are first written
    /// in a transaction that is rolled back; if Postgres refuses them, bisection finds the records it refuses, which
    /// are counted as poison and logged, and the others are committed with the message's offset (exactly once).
    /// </summary>
    private async Task ReplayAloneAsync(IConsumer<Ignore, byte[]> consumer, ConsumeResult<Ignore, byte[]> result, CancellationToken cancellationToken)
    {
        if (!_delta.IsEmpty && !await FlushOnceAsync(consumer, cancellationToken))
        {
            // The previous message waits for Postgres (not its data: that was checked): give both back to Kafka and
            // read them again at the retry time the failed flush set, so the replay stays one message per flush.
            _delta.Clear();
            _rewindNeeded = true;
            var wait = _retryAt - time.GetUtcNow();
            if (wait > TimeSpan.Zero)
            {
                await Task.Delay(wait, time, cancellationToken);
            }
            return;
        }

        var partition = result.Partition.Value;
        var offset = result.Offset.Value;
        Process(result);
        _replay.Passed(partition, offset);
        if (_delta.IsEmpty)
        {
            return; // a message of a partition we no longer own
        }

        var logs = _decoded.ToArray();
        var records = _delta.RecordCount;
        try
        {
            await IsolatePoisonAsync(partition, offset, logs, records, cancellationToken);
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException)
        {
            // Postgres itself is failing: read this message again after the backoff.
            var wait = RecordFailure(e.Message);
            logger.LogWarning("Replay of partition {Partition} offset {Offset} failed, retrying in {Backoff}: {Error}", partition, offset, wait, e.Message);
            _delta.Clear();
            _rewindNeeded = true;
            await Task.Delay(wait, time, cancellationToken);
            return;
        }

        await FlushOnceAsync(consumer, cancellationToken);
    }

    /// <summary>Leaves in the delta the records of this message Postgres accepts, counting and logging the others.</summary>
    private async Task IsolatePoisonAsync(int partition, long offset, PredictionLog[] logs, int records, CancellationToken cancellationToken)
    {
        if (await RefusedAsync(_delta, cancellationToken))
        {
            var poison = await PoisonReplay.FindPoisonAsync(logs.Length, async set =>
            {
                var trial = new AggregationDelta(_options.ParsedWindows, _options.CategoryCapacity);
                foreach (var i in set)
                {
                    trial.Add(logs[i]);
                }
                return await RefusedAsync(trial, cancellationToken);
            });
            if (poison.Count == 0)
            {
                // Each record alone is accepted but not all together: nothing narrower to skip than the message.
                poison = [.. Enumerable.Range(0, logs.Length)];
            }

            _delta.Clear();
            var skipped = new HashSet<int>(poison);
            for (var i = 0; i < logs.Length; i++)
            {
                if (!skipped.Contains(i))
                {
                    _delta.Add(logs[i]);
                }
            }

            _delta.Advance(partition, offset + 1, records);
            metrics.RecordsPoison.Inc(poison.Count);
            logger.LogError(
                "Postgres refuses {Count} of {Records} records at {Topic} partition {Partition} offset {Offset} (records {Positions}, predictor {Predictor}, model {Model}): skipped as poison, the others are committed",
                poison.Count,
                logs.Length,
                _topic,
                partition,
                offset,
                poison.Take(10),
                logs[poison[0]].PredictorName,
                logs[poison[0]].ModelId);
        }
    }

    /// <summary>Counts a failed write to Postgres, marks the aggregator failing, and returns how long to wait before
    /// the next attempt (exponential backoff up to Aggregator:MaxRetryBackoff).</summary>
    private TimeSpan RecordFailure(string error)
    {
        metrics.FlushErrors.Inc();
        status.FlushFailed(error, time.GetUtcNow());
        var wait = _backoff;
        _backoff = TimeSpan.FromTicks(Math.Min(_backoff.Ticks * 2, _options.MaxRetryBackoff.Ticks));
        return wait;
    }

    /// <summary>Whether Postgres refuses the values of <paramref name="delta"/> (a data error); other errors propagate.</summary>
    private async Task<bool> RefusedAsync(AggregationDelta delta, CancellationToken cancellationToken)
    {
        try
        {
            await _store.TryWriteAsync(delta, cancellationToken);
            return false;
        }
        catch (Exception e) when (PoisonReplay.IsDataError(e))
        {
            return true;
        }
    }

    private void OnLost(IConsumer<Ignore, byte[]> consumer, List<TopicPartitionOffset> partitions)
    {
        logger.LogWarning("Partitions lost: dropping {Records} unflushed records", _delta.RecordCount);
        _delta.Clear();
        _rewindNeeded = true;
        Forget(partitions.Select(p => p.Partition.Value));
    }

    private void Forget(IEnumerable<int> partitions)
    {
        _replay.Forget(partitions);
        foreach (var partition in partitions)
        {
            _assigned.Remove(partition);
            _stored.Remove(partition);
        }

        metrics.OpenWindowRows.Set(_delta.RowCount);
    }

    /// <summary>After a dropped delta: reload the stored offsets of what we still own and seek there.</summary>
    private void Rewind(IConsumer<Ignore, byte[]> consumer)
    {
        _rewindNeeded = false;
        var assignment = consumer.Assignment;
        if (assignment.Count == 0)
        {
            return;
        }

        try
        {
            var stored = _store.LoadOffsetsAsync(_options.ConsumerGroup, _topic, assignment.Select(p => p.Partition.Value).ToList(), _stopping).GetAwaiter().GetResult();
            foreach (var partition in assignment)
            {
                var number = partition.Partition.Value;
                if (stored.TryGetValue(number, out var next))
                {
                    _stored[number] = next;
                }
                else
                {
                    _stored.Remove(number);
                }

                consumer.Seek(new TopicPartitionOffset(partition, stored.TryGetValue(number, out var o) ? new Offset(o) : Offset.Beginning));
            }

            if (_paused)
            {
                consumer.Resume(assignment);
                _paused = false;
            }

            logger.LogInformation("Rewound partitions {Partitions} to their stored offsets", assignment.Select(p => p.Partition.Value));
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException or KafkaException)
        {
            logger.LogWarning("Rewind failed ({Error}); retrying", e.Message);
            _rewindNeeded = true;
            _stopping.WaitHandle.WaitOne(MinBackoff);
        }
    }

    private void UpdateLag(IConsumer<Ignore, byte[]> consumer)
    {
        var now = time.GetUtcNow();
        if (now < _nextLagAt)
        {
            return;
        }

        _nextLagAt = now + LagInterval;
        var lag = new Dictionary<int, long>();
        foreach (var partition in consumer.Assignment)
        {
            // Cached watermarks from fetch responses: no broker round trip, no AdminClient.
            var watermarks = consumer.GetWatermarkOffsets(partition);
            var position = consumer.Position(partition);
            if (watermarks.High.IsSpecial)
            {
                continue;
            }

            var from = position.IsSpecial ? (_stored.TryGetValue(partition.Partition.Value, out var s) ? s : watermarks.Low.Value) : position.Value;
            lag[partition.Partition.Value] = Math.Max(0, watermarks.High.Value - from);
        }

        metrics.SetLag(lag);
    }
}
