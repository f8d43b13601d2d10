using System.Diagnostics;
using Confluent.Kafka;
using Microsoft.Extensions.Options;
using ModelMonitor.Aggregator.Consuming;
using ModelMonitor.Core.Aggregation;
using ModelMonitor.Core.Contracts;
using ModelMonitor.Kafka;
using ModelMonitor.Storage;
using ModelMonitor.Storage.Statistics;
using Npgsql;

namespace ModelMonitor.Aggregator;

/// <summary>
/// Consumes prediction logs, accumulates a delta per (window, predictor, model[, feature]) for each window size and
/// flushes each size on its own cadence (<see cref="FlushCadence"/>) with that size's consumed offsets, in one Postgres
/// transaction per flush (see <see cref="StatisticsStore"/>). Postgres holds the offsets: on assignment the consumer
/// seeks to the lowest of them; Kafka commits are only for lag visibility in Kafka tools.
/// </summary>
internal sealed class ConsumerWorker(
    IOptions<AggregatorOptions> aggregatorOptions,
    IOptions<KafkaOptions> kafkaOptions,
    StatisticsStore store,
    SchemaMigration schema,
    AggregatorMetrics metrics,
    AggregatorStatus status,
    TimeProvider time,
    ILogger<ConsumerWorker> logger) : BackgroundService
{
    private static readonly TimeSpan PollTimeout = TimeSpan.FromMilliseconds(100);

    private readonly AggregatorOptions _options = aggregatorOptions.Value;
    private readonly string _topic = kafkaOptions.Value.Topic;
    private readonly List<WindowSink> _sinks = WindowSink.ForEachSize(aggregatorOptions.Value, time.GetUtcNow());
    // The records every window size still needs, counted once in the shortest size's windows and handed to the sizes when
    // any is written (RollUp); null when a size is not a multiple of the shortest (its windows would not nest).
    private readonly AggregationDelta? _staging = WindowSink.Staging(aggregatorOptions.Value);
    // With three sizes or more: the staged records the shortest size took that the longer sizes still need, in windows of
    // the second size, handed to the longer sizes when one of them is written (RollUp); null otherwise.
    private readonly AggregationDelta? _rolled = WindowSink.Rolled(aggregatorOptions.Value);
    private AggregationDelta[]? _heldDeltas;
    private readonly List<PredictionLog> _decoded = [];
    private readonly List<string> _decodeErrors = [];
    private readonly PoisonReplay _replay = new();
    private readonly PartitionOffsets _offsets = new(store, aggregatorOptions.Value.ConsumerGroup, kafkaOptions.Value.Topic,
        [.. aggregatorOptions.Value.ParsedWindows.Select(w => w.Seconds)]);
    private readonly RetrySchedule _retry = new(aggregatorOptions.Value.MaxRetryBackoff, time);
    private readonly ConsumerLag _lag = new(metrics, time);
    private readonly PoisonIsolation _poison = new(store, aggregatorOptions.Value, metrics, kafkaOptions.Value.Topic, logger);

    // Partition → the offset after the last message read for the first time (poison and late records count once).
    private readonly Dictionary<int, long> _firstUnread = [];

    // The write in progress: Postgres writes these sizes' deltas while the consumer reads on into the staging delta.
    private Flight? _flight;
    private CancellationToken _stopping;
    private DateTimeOffset _nextMemorySample;
    private long _deltaBytes;
    private double _bytesPerRow;
    private DateTimeOffset _nextMemoryWalk;
    private bool _paused;
    private bool _rewindNeeded;
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
            "Aggregating topic {Topic} as group {Group} into windows {Windows}, written every {Intervals}",
            _topic,
            _options.ConsumerGroup,
            _options.Windows,
            string.Join(", ", _sinks.Select(s => $"{s.Window}: {s.Interval.TotalSeconds:0.#} s")));
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
                        if (_flight is not null && !Staged(result.Partition.Value, result.Offset.Value))
                        {
                            // Only the staging delta may change while a write reads the sizes' deltas.
                            await LandAsync(consumer);
                        }

                        Process(result);
                    }
                }

                if (_rewindNeeded)
                {
                    Rewind(consumer);
                }

                await MaybeFlushAsync(consumer, force: false, stoppingToken);
                _lag.Update(consumer, _offsets);
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
        await FlushAllAsync(consumer, shutdown.Token);
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
        if (!_offsets.Owns(partition))
        {
            // A message of a partition we no longer own (fetched before a rebalance): not ours to count.
            return;
        }

        if (_offsets.Read(partition, result.Offset.Value) is { } gapFrom)
        {
            // Counted once: offsets below the first-read high-water mark were seen (or counted lost) before a rewind.
            var from = Math.Max(gapFrom, _firstUnread.GetValueOrDefault(partition));
            if (result.Offset.Value > from)
            {
                metrics.MessagesLost.Inc(result.Offset.Value - from);
                logger.LogError(
                    "Kafka no longer holds offsets {From} to {To} of {Topic} partition {Partition}: {Lost} messages were deleted (retention) before they were aggregated; continuing at offset {Offset}",
                    from,
                    result.Offset.Value - 1,
                    _topic,
                    partition,
                    result.Offset.Value - from,
                    result.Offset.Value);
            }
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
            if (log.SentAt < oldest && firstRead)
            {
                metrics.RecordsLate.Inc();
                logger.LogWarning(
                    "Skipping late record at partition {Partition} offset {Offset}: sent_at {SentAt} is older than the allowed lateness {Lateness}",
                    partition,
                    result.Offset.Value,
                    log.SentAt,
                    _options.AllowedLateness);
            }
        }
        _decoded.RemoveAll(log => log.SentAt < oldest); // what is left is what the deltas hold of this message

        // Into every window size that has not stored this message yet: once, into the staging delta, when that is all of
        // them (always, but after a rewind, where some sizes may have stored it), else into each size that needs it.
        if (Staged(partition, result.Offset.Value))
        {
            Add(_staging, partition, result.Offset.Value, records);
        }
        else
        {
            foreach (var sink in _sinks)
            {
                if (_offsets.Needs(partition, sink.Seconds, result.Offset.Value))
                {
                    Add(sink.Delta, partition, result.Offset.Value, records);
                }
            }
        }

        metrics.OpenWindowRows.Set(HeldRows);
    }

    /// <summary>Whether a message goes to the staging delta: every window size still needs it.</summary>
    [System.Diagnostics.CodeAnalysis.MemberNotNullWhen(true, nameof(_staging))]
    private bool Staged(int partition, long offset) =>
        _staging is not null && _sinks.TrueForAll(s => _offsets.Needs(partition, s.Seconds, offset));

    private void Add(AggregationDelta delta, int partition, long offset, int records)
    {
        foreach (var log in _decoded)
        {
            delta.Add(log);
        }

        delta.Advance(partition, offset + 1, records);
    }

    /// <summary>
    /// Hands the staged records to the window sizes before a write, and empties the staging delta: the shortest size takes
    /// them as they are; the longer sizes get them merged into <see cref="_rolled"/> when there is one, and from there only
    /// when one of them is written (<paramref name="intoLonger"/>): the 1m rows are written every few seconds and the 5m and
    /// 1h rows every half minute or minute, so each staged accumulator is merged once at each write of the 1m rows instead
    /// of once per longer size (the merges were a tenth of the aggregator's CPU at 1,000 × 50, BENCHMARKS.md §11).
    /// </summary>
    private void RollUp(bool intoLonger)
    {
        if (_staging is { IsEmpty: false })
        {
            if (_rolled is not null)
            {
                _staging.MergeInto(_rolled);
            }
            else
            {
                for (var i = _sinks.Count - 1; i > 0; i--)
                {
                    _staging.MergeInto(_sinks[i].Delta);
                }
            }

            // The shortest size last: it takes the staged windows as they are when it holds nothing (the usual case).
            _staging.MoveInto(_sinks[0].Delta);
        }

        if (intoLonger && _rolled is { IsEmpty: false })
        {
            for (var i = _sinks.Count - 1; i > 1; i--)
            {
                _rolled.MergeInto(_sinks[i].Delta);
            }

            _rolled.MoveInto(_sinks[1].Delta);
        }
    }

    /// <summary>What a size still has to receive besides its own delta: the staged records, and for a longer size the
    /// rolled-up ones.</summary>
    private AggregationDelta? RolledFor(WindowSink sink) => ReferenceEquals(sink, _sinks[0]) ? null : _rolled;

    /// <summary>Every delta holding records not yet written: each size's, the staging one and the rolled-up one (fixed
    /// objects, listed once: <see cref="AllEmpty"/> and <see cref="HeldRows"/> are read for every message).</summary>
    private AggregationDelta[] HeldDeltas => _heldDeltas ??= [.. _sinks.Select(s => s.Delta), .. new[] { _staging, _rolled }.OfType<AggregationDelta>()];

    private bool AllEmpty => Array.TrueForAll(HeldDeltas, d => d.IsEmpty);

    private int HeldRows
    {
        get
        {
            var rows = 0;
            foreach (var delta in HeldDeltas)
            {
                rows += delta.RowCount;
            }

            return rows;
        }
    }

    /// <summary>Records read since the oldest unflushed point of any window size.</summary>
    private int HeldRecords => _sinks.Max(s => s.Delta.RecordCount + (RolledFor(s)?.RecordCount ?? 0)) + (_staging?.RecordCount ?? 0);

    private bool OverMemory => _deltaBytes >= _options.MaxDeltaBytes;

    private bool OverBound => OverMemory || HeldRecords >= _options.MaxBufferedRecords;

    private async Task MaybeFlushAsync(IConsumer<Ignore, byte[]> consumer, bool force, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        SampleMemory(now);
        if (_flight is not null)
        {
            // Postgres writes while the consumer reads on, up to the bounds; then the consumer waits for the write.
            if (!force && !_flight.Write.IsCompleted && !OverBound)
            {
                return;
            }

            await LandAsync(consumer);
            now = time.GetUtcNow();
        }

        if (AllEmpty)
        {
            return;
        }

        var all = force || OverMemory;
        // Checked for every message read: the shortest due size, if any (one size per write, see below).
        var due = all ? null : _sinks.Find(s => s.IsDue(now, _options.FlushInterval, _options.MaxBufferedRecords, _staging, RolledFor(s)));
        if (!all && due is null)
        {
            return;
        }

        if (!all && !OverBound && FlushCadence.WaitsForShortest(due!, _sinks[0], !_sinks[0].Delta.IsEmpty || _staging is { IsEmpty: false }, now))
        {
            return; // the shortest size goes first, this one right after it
        }

        if (!force && _retry.Waiting)
        {
            // Postgres is failing: keep reading until the bound, then stop fetching (memory stays bounded).
            if (OverBound && !_paused)
            {
                consumer.Pause(consumer.Assignment);
                _paused = true;
                logger.LogWarning("Paused consumption: {Rows} rows ({Bytes} bytes) and {Records} records wait for Postgres", HeldRows, _deltaBytes, HeldRecords);
            }

            return;
        }

        // One size per write, the shortest due first (the sizes' offsets are their own): the rows SQL sees first never
        // wait behind a longer size's in the same transaction, and the others follow, each as soon as the last landed.
        Launch(due is null ? _sinks : [due], cancellationToken);
    }

    /// <summary>
    /// The estimated memory of the deltas, at most every 5 s. Walking every row held costs O(rows) (2.5% of the CPU at
    /// 200k rows every 5 s, BENCHMARKS.md §11), so it is done at most once a minute, or as soon as the estimate reaches
    /// half of <see cref="AggregatorOptions.MaxDeltaBytes"/>; in between the estimate is the rows held × the bytes per
    /// row of the last walk.
    /// </summary>
    private void SampleMemory(DateTimeOffset now)
    {
        if (now < _nextMemorySample)
        {
            return;
        }

        _nextMemorySample = now + TimeSpan.FromSeconds(5);
        var rows = HeldRows;
        var scaled = (long)(rows * _bytesPerRow);
        if (now >= _nextMemoryWalk || _bytesPerRow == 0 || scaled >= _options.MaxDeltaBytes / 2)
        {
            _deltaBytes = HeldDeltas.Sum(d => d.EstimatedBytes());
            _bytesPerRow = rows == 0 ? 0 : (double)_deltaBytes / rows;
            _nextMemoryWalk = now + TimeSpan.FromMinutes(1);
        }
        else
        {
            _deltaBytes = scaled;
        }

        metrics.DeltaBytes.Set(_deltaBytes);
    }

    private void ClearAll()
    {
        foreach (var delta in HeldDeltas)
        {
            delta.Clear();
        }

        _deltaBytes = 0;
        metrics.OpenWindowRows.Set(0);
        metrics.DeltaBytes.Set(0);
    }

    private Task<bool> FlushAllAsync(IConsumer<Ignore, byte[]> consumer, CancellationToken cancellationToken) =>
        FlushOnceAsync(consumer, _sinks, cancellationToken);

    /// <summary>One flush of the non-empty deltas of <paramref name="sinks"/>, waited for (the write in progress first);
    /// on failure schedules a retry with exponential backoff.</summary>
    private async Task<bool> FlushOnceAsync(IConsumer<Ignore, byte[]> consumer, IReadOnlyList<WindowSink> sinks, CancellationToken cancellationToken)
    {
        if (_flight is not null && !await LandAsync(consumer) && _rewindNeeded)
        {
            return false; // the deltas were dropped (fenced, or refused data to replay): nothing is left to write
        }

        return !Launch(sinks, cancellationToken) || await LandAsync(consumer);
    }

    /// <summary>
    /// Starts writing the non-empty deltas of <paramref name="sinks"/> (the staged records merged into every size first)
    /// and their offsets, in one transaction on a thread-pool thread: the consumer reads on meanwhile, into the staging
    /// delta only, and <see cref="LandAsync"/> takes the outcome. False when there is nothing to write.
    /// </summary>
    private bool Launch(IReadOnlyList<WindowSink> sinks, CancellationToken cancellationToken)
    {
        Debug.Assert(_flight is null, "one write at a time");
        RollUp(intoLonger: sinks.Any(s => !ReferenceEquals(s, _sinks[0])));
        var flushing = sinks.Where(s => !s.Delta.IsEmpty).ToList();
        if (flushing.Count == 0)
        {
            return false;
        }

        // The shortest size is written every FlushInterval: its rows are the ones worth keeping (WrittenRowCache).
        var flushes = flushing.Select(s => new WindowFlush(
            s.Seconds, s.Delta, _offsets.StoredFor(s.Seconds), ReuseWrittenRows: _options.ReuseWrittenRows && ReferenceEquals(s, _sinks[0]))).ToList();
        var started = Stopwatch.GetTimestamp();
        var write = Task.Run(async () =>
        {
            var (outcome, rows) = await store.FlushAsync(_options.ConsumerGroup, _topic, flushes, cancellationToken);
            return (outcome, rows, Stopwatch.GetElapsedTime(started));
        });
        _flight = new Flight(flushing, write, flushing.Sum(s => s.Delta.RowCount));
        return true;
    }

    /// <summary>Waits for the write in progress and takes its outcome: committed (offsets advance, deltas cleared),
    /// fenced or refused data (everything held dropped and read again), or failed (deltas kept, retried after a backoff).
    /// True when it committed or there was none.</summary>
    private async Task<bool> LandAsync(IConsumer<Ignore, byte[]> consumer)
    {
        if (_flight is not { } flight)
        {
            return true;
        }

        var flushing = flight.Sinks;
        var heldRows = flight.Rows;
        try
        {
            var (outcome, rows, elapsed) = await flight.Write;
            _flight = null;
            if (outcome == FlushOutcome.Fenced)
            {
                metrics.FlushErrors.Inc();
                logger.LogWarning(
                    "Offsets in Postgres moved under us (another consumer owned these partitions): dropping {Records} records and rewinding to the stored offsets",
                    HeldRecords);
                ClearAll();
                _rewindNeeded = true;
                return false;
            }

            var partitions = new HashSet<int>();
            foreach (var sink in flushing)
            {
                _offsets.Committed(sink.Seconds, sink.Delta.NextOffsets);
                partitions.UnionWith(sink.Delta.NextOffsets.Keys);
            }

            var now = time.GetUtcNow();
            metrics.Flushes.Inc();
            metrics.RowsWritten.Inc(rows);
            metrics.RowsReused.IncTo(store.RowsReused);
            metrics.RowsStale.IncTo(store.RowsStale);
            metrics.FlushDuration.Observe(elapsed.TotalSeconds);
            metrics.LastFlush.Set(now.ToUnixTimeMilliseconds() / 1000.0);
            logger.LogDebug(
                "Flushed {Rows} rows of windows {Windows} in {Elapsed:0} ms",
                rows,
                flushing.Select(s => s.Window.ToString()),
                elapsed.TotalMilliseconds);
            foreach (var sink in flushing)
            {
                sink.Delta.Clear();
                sink.Flushed(now, elapsed);
            }

            metrics.OpenWindowRows.Set(HeldRows);
            if (OverMemory)
            {
                _nextMemorySample = now; // re-measure at once: what was flushed no longer counts
            }

            status.FlushSucceeded();
            _retry.Succeeded();
            if (_paused)
            {
                consumer.Resume(consumer.Assignment);
                _paused = false;
                logger.LogInformation("Postgres is back: resumed consumption");
            }

            CommitToKafkaForVisibility(consumer, partitions);
            return true;
        }
        catch (Exception e) when (PoisonReplay.IsDataError(e))
        {
            // Retrying the same values would fail forever and stop every model's statistics: drop the deltas and
            // replay their messages one at a time to find the records Postgres refuses (see ReplayAloneAsync).
            _flight = null;
            metrics.FlushErrors.Inc();
            var until = new Dictionary<int, long>();
            foreach (var (partition, next) in HeldDeltas.SelectMany(d => d.NextOffsets))
            {
                until[partition] = Math.Max(next, until.GetValueOrDefault(partition));
            }

            logger.LogError(
                "Flush of {Rows} rows failed on its data ({SqlState}: {Error}); replaying up to offsets {Offsets} one message at a time to isolate the records",
                heldRows,
                ((Npgsql.PostgresException)e).SqlState,
                e.Message,
                until);
            _replay.Begin(until);
            ClearAll();
            _rewindNeeded = true;
            return false;
        }
        catch (Exception e)
        {
            // Postgres unreachable, restarting, timing out, a deadlock, or cancelled at shutdown: the
            // transaction did not commit (or, if the commit's answer was lost, the offset compare-and-set
            // of the retry will tell). Keep the deltas and retry later.
            _flight = null;
            var wait = RecordFailure(e.Message);
            logger.LogWarning(
                "Flush of {Rows} rows failed, retrying in {Backoff}: {Error}",
                heldRows,
                wait,
                e.Message);
            return false;
        }
    }

    /// <summary>A write in progress: the sizes it writes, the write (its outcome, rows and duration), and the rows held
    /// when it started.</summary>
    private sealed record Flight(List<WindowSink> Sinks, Task<(FlushOutcome Outcome, int Rows, TimeSpan Elapsed)> Write, int Rows);

    /// <summary>Commits to Kafka, for Kafka tools only, where each partition resumes: the lowest offset any window size
    /// still needs.</summary>
    private void CommitToKafkaForVisibility(IConsumer<Ignore, byte[]> consumer, IEnumerable<int> partitions)
    {
        var owned = partitions.Where(_offsets.Owns)
            .Select(p => _offsets.Resume(p) is { } offset ? new TopicPartitionOffset(_topic, p, offset) : null)
            .OfType<TopicPartitionOffset>()
            .ToList();
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
        var retry = new RetrySchedule(_options.MaxRetryBackoff, time);
        while (true)
        {
            try
            {
                var starts = _offsets.LoadAsync(partitions, _stopping).GetAwaiter().GetResult();
                logger.LogInformation(
                    "Assigned partitions {Partitions}; starting at stored offsets {Offsets}",
                    starts.Select(p => p.Partition.Value),
                    starts.Select(p => p.Offset.IsSpecial ? "earliest" : p.Offset.Value.ToString(System.Globalization.CultureInfo.InvariantCulture)));
                _paused = false;
                return starts;
            }
            catch (Exception e) when (e is NpgsqlException or TimeoutException)
            {
                // Without the stored offsets we must not consume: wait for Postgres (the stop token ends this).
                var wait = retry.Failed();
                logger.LogWarning("Cannot read stored offsets ({Error}); retrying in {Backoff}", e.Message, wait);
                _stopping.WaitHandle.WaitOne(wait);
                _stopping.ThrowIfCancellationRequested();
            }
        }
    }

    private void OnRevoked(IConsumer<Ignore, byte[]> consumer, List<TopicPartitionOffset> partitions)
    {
        // Flush before giving the partitions up; if that fails the delta is dropped: the next owner
        // starts from the offsets in Postgres, so nothing is lost or counted twice either way.
        var flushed = !AllEmpty && FlushAllAsync(consumer, _stopping.IsCancellationRequested ? CancellationToken.None : _stopping).GetAwaiter().GetResult();
        if (!AllEmpty && !flushed)
        {
            logger.LogWarning("Partitions revoked before a successful flush: dropping {Records} unflushed records", HeldRecords);
            ClearAll();
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
        if (!AllEmpty && !await FlushAllAsync(consumer, cancellationToken))
        {
            // The previous message waits for Postgres (not its data: that was checked): give both back to Kafka and
            // read them again at the retry time the failed flush set, so the replay stays one message per flush.
            ClearAll();
            _rewindNeeded = true;
            var wait = _retry.RetryAt - time.GetUtcNow();
            if (wait > TimeSpan.Zero)
            {
                await Task.Delay(wait, time, cancellationToken);
            }
            return;
        }

        var partition = result.Partition.Value;
        var offset = result.Offset.Value;
        Process(result);
        RollUp(intoLonger: true);
        _replay.Passed(partition, offset);
        var holding = _sinks.Where(s => !s.Delta.IsEmpty).Select(s => s.Delta).ToList();
        if (holding.Count == 0)
        {
            return; // a message of a partition we no longer own, or one every window size has stored
        }

        var logs = _decoded.ToArray();
        var records = holding[0].RecordCount;
        try
        {
            await _poison.IsolateAsync(holding, partition, offset, logs, records, cancellationToken);
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException)
        {
            // Postgres itself is failing: read this message again after the backoff.
            var wait = RecordFailure(e.Message);
            logger.LogWarning("Replay of partition {Partition} offset {Offset} failed, retrying in {Backoff}: {Error}", partition, offset, wait, e.Message);
            ClearAll();
            _rewindNeeded = true;
            await Task.Delay(wait, time, cancellationToken);
            return;
        }

        await FlushAllAsync(consumer, cancellationToken);
    }

    /// <summary>Counts a failed write to Postgres, marks the aggregator failing, and returns how long to wait before
    /// the next attempt (exponential backoff up to Aggregator:MaxRetryBackoff).</summary>
    private TimeSpan RecordFailure(string error)
    {
        metrics.FlushErrors.Inc();
        status.FlushFailed(error, time.GetUtcNow());
        return _retry.Failed();
    }

    private void OnLost(IConsumer<Ignore, byte[]> consumer, List<TopicPartitionOffset> partitions)
    {
        // A write in progress reads the deltas: let it end first (its offsets compare-and-set keeps it safe).
        LandAsync(consumer).GetAwaiter().GetResult();
        logger.LogWarning("Partitions lost: dropping {Records} unflushed records", HeldRecords);
        ClearAll();
        _rewindNeeded = true;
        Forget(partitions.Select(p => p.Partition.Value));
    }

    private void Forget(IEnumerable<int> partitions)
    {
        var numbers = partitions.ToList();
        _replay.Forget(numbers);
        _offsets.Forget(numbers);

        metrics.OpenWindowRows.Set(HeldRows);
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
            foreach (var start in _offsets.LoadAsync(assignment, _stopping).GetAwaiter().GetResult())
            {
                consumer.Seek(start);
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
            _stopping.WaitHandle.WaitOne(RetrySchedule.MinBackoff);
        }
    }
}
