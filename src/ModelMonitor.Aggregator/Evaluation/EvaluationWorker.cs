using System.Diagnostics;
using Confluent.Kafka;
using Microsoft.Extensions.Options;
using ModelMonitor.Aggregator.Consuming;
using ModelMonitor.Aggregator.Shadows;
using ModelMonitor.Core.Contracts;
using ModelMonitor.Core.Evaluation;
using ModelMonitor.Core.Shadows;
using ModelMonitor.Core.Windows;
using ModelMonitor.Kafka;
using ModelMonitor.Storage;
using ModelMonitor.Storage.Evaluation;
using ModelMonitor.Storage.Shadows;
using Npgsql;

namespace ModelMonitor.Aggregator.Evaluation;

/// <summary>
/// The evaluation join: reads the predictions and outcomes topics in its own consumer group (Evaluation:ConsumerGroup),
/// which Kafka's range assignor splits so that an instance owns the same partition numbers of both topics (they are
/// co-partitioned: <see cref="CoPartitioning"/>), so a prediction and its outcome are always joined by one instance.
/// It keeps the predictions of evaluated predictors and every outcome, and writes them, the quality they change and
/// the offsets of both topics in one Postgres transaction (<see cref="EvaluationStore"/>) every Evaluation:FlushInterval:
/// exactly once, as the statistics are. Postgres holds the offsets: on assignment the consumer seeks there.
/// <para>
/// The same consumer joins predictions with predictions: the shadow comparison (<see cref="ShadowStore"/>) pairs the
/// predictions of two models of one predictor for the same prediction_id (same partition, by the key) in the same
/// transaction. With Evaluation:Enabled=false and Shadow:Enabled=true it reads the predictions topic only.
/// </para>
/// </summary>
internal sealed class EvaluationWorker(
    IOptions<EvaluationOptions> evaluationOptions,
    IOptions<AggregatorOptions> aggregatorOptions,
    IOptions<KafkaOptions> kafkaOptions,
    EvaluationStore store,
    SchemaMigration schema,
    EvaluationMetrics metrics,
    IOptions<ShadowOptions> shadowOptions,
    ShadowStore shadowStore,
    ShadowMetrics shadowMetrics,
    TimeProvider time,
    ILogger<EvaluationWorker> logger) : BackgroundService
{
    private static readonly TimeSpan PollTimeout = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan PredictorReload = TimeSpan.FromSeconds(30);

    private readonly EvaluationOptions _options = evaluationOptions.Value;
    private readonly ShadowOptions _shadow = shadowOptions.Value;
    private readonly Dictionary<string, EvaluationTask> _configuredTasks = evaluationOptions.Value.Predictors
        .Where(p => p.Value.Task is not null)
        .ToDictionary(p => p.Key, p => EvaluationOptions.ParseTask(p.Value.Task!)!.Value, StringComparer.Ordinal);

    private readonly KafkaOptions _kafka = kafkaOptions.Value;
    private readonly IReadOnlyList<WindowSize> _windows = [.. aggregatorOptions.Value.ParsedWindows.Order()];
    private readonly RetrySchedule _retry = new(aggregatorOptions.Value.MaxRetryBackoff, time);

    // Offsets stored in Postgres for the partitions this instance owns (absent: none stored yet).
    private readonly Dictionary<TopicPartitionKey, long> _stored = [];
    private readonly HashSet<TopicPartitionKey> _owned = [];
    // Predictors committed as evaluated, by name.
    private readonly Dictionary<string, EvaluatedPredictor> _evaluated = new(StringComparer.Ordinal);
    private readonly List<PredictionKey> _keys = [];
    private readonly List<Outcome> _outcomes = [];
    private readonly List<string> _errors = [];

    // What was read since the last write.
    private readonly Dictionary<TopicPartitionKey, long> _next = [];
    private readonly Dictionary<(string, string, string), PendingPrediction> _predictions = [];
    private readonly Dictionary<(string, string), Outcome> _pendingOutcomes = [];
    private readonly Dictionary<string, EvaluatedPredictor> _switchedOn = new(StringComparer.Ordinal);
    private readonly ShadowBatch _shadowBatch = new();
    // Predictors the shadow join compares, as last reloaded.
    private Dictionary<string, ShadowPredictor> _compared = new(StringComparer.Ordinal);
    private ShadowWriteResult _shadowResult = ShadowWriteResult.Nothing;
    // Unregistered predictors whose models do not score the same requests stop being compared for a while.
    private readonly ComparisonProbation _probation = new();
    private DateTimeOffset _nextComparedReload;
    private long _held;
    private int _identicalInBatch;
    private int _replacedInBatch;
    private DateTimeOffset _firstHeldAt;

    private CancellationToken _stopping;
    private bool _paused;
    private bool _rewindNeeded;
    private DateTimeOffset _nextPredictorReload;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        _stopping = stoppingToken;
        if (!_options.Enabled)
        {
            logger.LogInformation("Evaluation is off (Evaluation:Enabled=false): outcomes are not joined");
        }
        if (!_shadow.Enabled)
        {
            logger.LogInformation("The shadow comparison is off (Shadow:Enabled=false): models of a predictor are not compared");
        }
        if (!_options.Enabled && !_shadow.Enabled)
        {
            return;
        }
        try
        {
            await schema.WhenMigratedAsync(stoppingToken);
            await LoadPredictorsAsync(stoppingToken);
            _nextPredictorReload = time.GetUtcNow() + PredictorReload;
        }
        catch (OperationCanceledException)
        {
            return;
        }

        using var consumer = BuildConsumer();
        consumer.Subscribe(_options.Enabled ? [_kafka.Topic, _kafka.OutcomesTopic] : [_kafka.Topic]);
        Func<string, bool> wanted = Wanted;
        logger.LogInformation("Joining {What} of {Topic} as group {Group} into windows {Windows}",
            string.Join(" and ", new[] { _options.Enabled ? $"outcomes of {_kafka.OutcomesTopic} with predictions" : null, _shadow.Enabled ? "predictions of a predictor's models with each other" : null }.OfType<string>()),
            _kafka.Topic, _options.ConsumerGroup, string.Join(",", _windows));
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                ConsumeResult<Ignore, byte[]>? result = null;
                try
                {
                    result = consumer.Consume(PollTimeout);
                }
                catch (ConsumeException e) when (!e.Error.IsFatal)
                {
                    logger.LogDebug("Kafka consume error {Code}: {Reason}", e.Error.Code, e.Error.Reason);
                }

                if (result?.Message is not null)
                {
                    Process(result, wanted);
                }
                if (_rewindNeeded)
                {
                    Rewind(consumer);
                }
                if (Due())
                {
                    await WriteAsync(consumer, stoppingToken);
                }
                await ReloadPredictorsWhenDueAsync(stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        catch (KafkaException e) when (e.Error.IsFatal)
        {
            logger.LogCritical(e, "Fatal Kafka error {Code}: {Reason}; the evaluation join stops", e.Error.Code, e.Error.Reason);
            throw;
        }

        using var shutdown = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        _stopping = shutdown.Token;
        await WriteAsync(consumer, shutdown.Token);
        consumer.Close();
        logger.LogInformation("Evaluation consumer closed");
    }

    private IConsumer<Ignore, byte[]> BuildConsumer()
    {
        var config = new ConsumerConfig
        {
            BootstrapServers = _kafka.BootstrapServers,
            GroupId = _options.ConsumerGroup,
            EnableAutoCommit = false,
            EnableAutoOffsetStore = false,
            AutoOffsetReset = AutoOffsetReset.Earliest,
            // The range assignor gives a member the same partition numbers of topics with the same partition count: the
            // join needs a prediction and its outcome in one instance.
            PartitionAssignmentStrategy = PartitionAssignmentStrategy.Range,
            // An outcomes topic created after start (by the first outcome) is assigned within seconds, not minutes.
            TopicMetadataRefreshIntervalMs = 10_000,
            ConsumeResultFields = "topic,headers", // the predictions' keys header (PredictionKeyHeader)
        };
        // The aggregator's consumer properties apply to this consumer too (e.g. session.timeout.ms: how soon a killed
        // instance's partitions go to another).
        foreach (var (key, value) in _kafka.Client.Concat(aggregatorOptions.Value.Consumer))
        {
            config.Set(key, value);
        }
        return new ConsumerBuilder<Ignore, byte[]>(config)
            .SetValueDeserializer(new KeyedValueDeserializer(_kafka.Topic))
            .SetPartitionsAssignedHandler(OnAssigned)
            .SetPartitionsRevokedHandler(OnRevoked)
            .SetPartitionsLostHandler(OnLost)
            .SetErrorHandler((_, e) => logger.LogDebug("Kafka error {Code}: {Reason}", e.Code, e.Reason))
            .SetLogHandler((_, m) => logger.LogDebug("librdkafka {Facility}: {Message}", m.Facility, m.Message))
            .Build();
    }

    private async Task LoadPredictorsAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            try
            {
                foreach (var predictor in await store.LoadPredictorsAsync(cancellationToken))
                {
                    Commit(predictor);
                }
                await LoadComparedAsync(cancellationToken);
                return;
            }
            catch (Exception e) when (e is NpgsqlException or TimeoutException)
            {
                var wait = _retry.Failed();
                logger.LogWarning("Cannot read the evaluated predictors ({Error}); retrying in {Backoff}", e.Message, wait);
                await Task.Delay(wait, time, cancellationToken);
            }
        }
    }

    /// <summary>Which predictors the shadow join compares, and their models (the registry's first, up to the cap): a model
    /// seen for the first time is compared from the next reload on.</summary>
    private async Task LoadComparedAsync(CancellationToken cancellationToken)
    {
        if (!_shadow.Enabled)
        {
            return;
        }
        var compared = new Dictionary<string, ShadowPredictor>(StringComparer.Ordinal);
        foreach (var (predictor, models, registered) in await shadowStore.LoadComparedAsync(_shadow.MaxModelsPerPredictor, time.GetUtcNow() - TimeSpan.FromDays(1), cancellationToken))
        {
            compared[predictor] = new ShadowPredictor(predictor, models.ToHashSet(StringComparer.Ordinal), BinaryThresholdOf(predictor), registered);
        }
        _compared = compared;
        _nextComparedReload = time.GetUtcNow() + _shadow.ReloadInterval;
        shadowMetrics.Predictors.Set(compared.Count);
    }

    /// <summary>A binary predictor's threshold (Shadow:Predictors:&lt;name&gt;:Threshold, else its evaluation threshold when it
    /// is evaluated as binary); null for any other.</summary>
    private double? BinaryThresholdOf(string predictor)
    {
        if (_shadow.Predictors.TryGetValue(predictor, out var p) && p.Threshold is { } threshold)
        {
            return threshold;
        }
        var binary = _configuredTasks.TryGetValue(predictor, out var task)
            ? task == EvaluationTask.Binary
            : _evaluated.TryGetValue(predictor, out var evaluated) && evaluated.Task == EvaluationTask.Binary;
        return binary ? _options.ThresholdOf(predictor) : null;
    }

    /// <summary>Another instance may have switched a predictor on (its first outcome came through another partition): the
    /// predictions this instance reads for it are stored from the next reload on.</summary>
    private async Task ReloadPredictorsWhenDueAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        if (_shadow.Enabled && now >= _nextComparedReload)
        {
            try
            {
                await LoadComparedAsync(cancellationToken);
            }
            catch (Exception e) when (e is NpgsqlException or TimeoutException)
            {
                _nextComparedReload = now + _shadow.ReloadInterval;
                logger.LogDebug("Reloading the compared predictors failed ({Error}); retrying later", e.Message);
            }
        }
        if (now < _nextPredictorReload)
        {
            return;
        }
        _nextPredictorReload = now + PredictorReload;
        try
        {
            foreach (var predictor in await store.LoadPredictorsAsync(cancellationToken))
            {
                if (!_evaluated.ContainsKey(predictor.PredictorName))
                {
                    Commit(predictor);
                }
            }
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException)
        {
            logger.LogDebug("Reloading the evaluated predictors failed ({Error}); retrying later", e.Message);
        }
    }

    private void Commit(EvaluatedPredictor predictor)
    {
        _evaluated[predictor.PredictorName] = predictor;
        metrics.Enabled.WithLabels(predictor.PredictorName, EvaluationOptions.TaskName(TaskOf(predictor.PredictorName)), predictor.Source).Set(1);
    }

    /// <param name="wanted">Whether a predictor's predictions are kept (<see cref="Wanted"/>, one delegate for the loop).</param>
    private void Process(ConsumeResult<Ignore, byte[]> result, Func<string, bool> wanted)
    {
        var key = new TopicPartitionKey(result.Topic, result.Partition.Value);
        if (!_owned.Contains(key))
        {
            return; // fetched before a rebalance took the partition away
        }
        var value = result.Message.Value ?? [];
        _errors.Clear();
        var now = time.GetUtcNow();
        if (result.Topic == _kafka.OutcomesTopic)
        {
            _outcomes.Clear();
            metrics.OutcomesConsumed.Inc(OutcomeMessages.Decode(value, _outcomes, _errors));
            foreach (var outcome in _outcomes)
            {
                if (!IsEvaluated(outcome.PredictorName))
                {
                    var configured = _configuredTasks.TryGetValue(outcome.PredictorName, out var task);
                    SwitchOn(outcome.PredictorName, configured ? task : EvaluationOptions.InferTask(outcome.Actual), configured ? "configured" : "inferred");
                }
                // The last one read counts; one already read in this batch is replaced (or, the same value again, ignored)
                // before it is ever stored, and counted as the store counts the others.
                if (_pendingOutcomes.TryGetValue((outcome.PredictorName, outcome.PredictionId), out var earlier))
                {
                    if (earlier.Actual == outcome.Actual)
                    {
                        _identicalInBatch++;
                    }
                    else
                    {
                        _replacedInBatch++;
                    }
                }
                _pendingOutcomes[(outcome.PredictorName, outcome.PredictionId)] = outcome;
            }
            _held += _outcomes.Count;
        }
        else
        {
            _keys.Clear();
            ReadKeys(result.Message.Headers, value, wanted);
            foreach (var log in _keys)
            {
                Compare(log, now);
                if (!_options.Enabled)
                {
                    continue;
                }
                if (!IsEvaluated(log.PredictorName))
                {
                    if (!_configuredTasks.TryGetValue(log.PredictorName, out var task))
                    {
                        continue; // compared only
                    }
                    SwitchOn(log.PredictorName, task, "configured");
                }
                if (log.SentAt < now - _options.HorizonOf(log.PredictorName))
                {
                    continue; // past its horizon already: no outcome could be joined any more
                }
                _predictions.TryAdd((log.PredictorName, log.PredictionId, log.ModelId),
                    new PendingPrediction(log.PredictorName, log.PredictionId, log.ModelId, log.SentAt, log.PredictionResult));
                _held++;
            }
        }
        if (_errors.Count > 0)
        {
            metrics.RecordsPoison.WithLabels(result.Topic).Inc(_errors.Count);
            logger.LogWarning("Evaluation skips {Count} malformed records at {Topic} partition {Partition} offset {Offset}: {Error}",
                _errors.Count, result.Topic, result.Partition.Value, result.Offset.Value, _errors[0]);
        }
        if (_next.Count == 0)
        {
            _firstHeldAt = now;
        }
        _next[key] = result.Offset.Value + 1;
    }

    /// <summary>The keys of a predictions message: from its keys header when the API wrote one, else from its JSON.</summary>
    private void ReadKeys(Headers? headers, byte[] value, Func<string, bool> wanted)
    {
        if (headers is not null && headers.TryGetLastBytes(PredictionKeyHeader.Name, out var header))
        {
            try
            {
                PredictionKeyHeader.Decode(header, wanted, _keys);
                return;
            }
            catch (FormatException e)
            {
                logger.LogDebug("Unreadable {Header} header ({Error}): reading the records' JSON", PredictionKeyHeader.Name, e.Message);
            }
        }
        if (value.Length == 0 && headers is not null && headers.TryGetLastBytes(PredictionKeyHeader.Name, out _))
        {
            _errors.Add($"an unreadable {PredictionKeyHeader.Name} header (the message's records were not copied: see {nameof(KeyedValueDeserializer)})");
            return;
        }
        PredictionKeys.Decode(value, wanted, _keys, _errors);
    }

    /// <summary>
    /// A predictions message with a keys header is read from the header only: its value (the records' JSON, ~40 times the
    /// header) is not copied out of librdkafka's buffer. Outcomes, and predictions without the header, are copied.
    /// </summary>
    private sealed class KeyedValueDeserializer(string predictionsTopic) : IDeserializer<byte[]>
    {
        public byte[] Deserialize(ReadOnlySpan<byte> data, bool isNull, SerializationContext context) =>
            context.Topic == predictionsTopic && context.Headers is { } headers && headers.TryGetLastBytes(PredictionKeyHeader.Name, out var header)
                && header.Length > 0 && header[0] == PredictionKeyHeader.Version
                ? []
                : isNull ? [] : data.ToArray();
    }

    /// <summary>Judges the unregistered predictors of the last write (<see cref="ComparisonProbation"/>).</summary>
    private void Probate(Dictionary<string, ShadowPredictor> compared)
    {
        var now = time.GetUtcNow();
        foreach (var (predictor, (predictions, pairs)) in _shadowResult.PerPredictor ?? new Dictionary<string, (long, long)>())
        {
            if (compared.TryGetValue(predictor, out var p) && !p.Registered && _probation.Record(predictor, predictions, pairs, now))
            {
                logger.LogInformation("The models of predictor {Predictor} do not score the same requests (fewer than {Ratio:P0} of its last {Count} predictions paired): " +
                    "not compared for {Suspension} (register its shadows to compare them always)", predictor, _probation.MinPairRatio, _probation.MinPredictions,
                    _probation.Suspension);
            }
        }
        shadowMetrics.Suspended.Set(_probation.Suspended(now).Count());
    }

    /// <summary>Keeps a prediction of a compared model for the shadow join (the first of its id and model in the batch).</summary>
    private void Compare(PredictionKey log, DateTimeOffset now)
    {
        if (!_shadow.Enabled || !_compared.TryGetValue(log.PredictorName, out var compared))
        {
            return;
        }
        if (!compared.Registered && _probation.IsSuspended(log.PredictorName, now))
        {
            shadowMetrics.PredictionsSkipped.WithLabels("no_shared_ids").Inc();
        }
        else if (!compared.Models.Contains(log.ModelId))
        {
            shadowMetrics.PredictionsSkipped.WithLabels("over_cap").Inc();
        }
        else if (log.SentAt < now - _shadow.JoinWindow)
        {
            shadowMetrics.PredictionsSkipped.WithLabels("late").Inc();
        }
        else if (!double.IsFinite(log.PredictionResult))
        {
            shadowMetrics.PredictionsSkipped.WithLabels("non_finite").Inc();
        }
        else if (_shadowBatch.Add(new ShadowPrediction(log.PredictorName, log.PredictionId, log.ModelId, log.SentAt, log.PredictionResult), compared.Models.Count))
        {
            _held++;
        }
        else
        {
            shadowMetrics.PredictionsRepeated.Inc(); // a repeat within the batch: the first counts, as the store's ON CONFLICT does
        }
    }

    private bool IsEvaluated(string predictor) => _evaluated.ContainsKey(predictor) || _switchedOn.ContainsKey(predictor);

    /// <summary>Whether a prediction of this predictor is kept: evaluated already, or configured (switched on by it).</summary>
    private bool Wanted(string predictor) =>
        (_options.Enabled && (IsEvaluated(predictor) || _configuredTasks.ContainsKey(predictor))) || (_shadow.Enabled && _compared.ContainsKey(predictor));

    private void SwitchOn(string predictor, EvaluationTask task, string source)
    {
        _switchedOn[predictor] = new EvaluatedPredictor(predictor, task, source);
        logger.LogInformation("Evaluation switched on for predictor {Predictor}: task {Task} ({Source})", predictor,
            EvaluationOptions.TaskName(task), source);
    }

    /// <summary>The task a predictor is evaluated with: configured, else the one its first outcome gave.</summary>
    private EvaluationTask TaskOf(string predictor) =>
        _configuredTasks.TryGetValue(predictor, out var configured) ? configured
        : _switchedOn.TryGetValue(predictor, out var p) || _evaluated.TryGetValue(predictor, out p) ? p.Task
        : EvaluationTask.Regression;

    private PredictorEvaluation SettingsOf(string predictor) =>
        new(TaskOf(predictor), _options.ThresholdOf(predictor), actual => _options.IsPositive(predictor, actual));

    private bool Due()
    {
        if (_next.Count == 0 || _retry.Waiting)
        {
            return false;
        }
        return _held >= _options.MaxBufferedRecords || time.GetUtcNow() - _firstHeldAt >= _options.FlushInterval;
    }

    /// <summary>Writes what was read, with the offsets; keeps it and pauses reading while Postgres fails.</summary>
    private async Task<bool> WriteAsync(IConsumer<Ignore, byte[]> consumer, CancellationToken cancellationToken)
    {
        if (_next.Count == 0)
        {
            return true;
        }
        var batch = new EvaluationBatch(
            new Dictionary<TopicPartitionKey, long>(_next),
            _next.Keys.Where(_stored.ContainsKey).ToDictionary(k => k, k => _stored[k]),
            [.. _predictions.Values],
            [.. _pendingOutcomes.Values],
            [.. _switchedOn.Values]);
        var started = Stopwatch.GetTimestamp();
        try
        {
            var compared = _compared;
            _shadowResult = ShadowWriteResult.Nothing;
            var result = await store.WriteAsync(_options.ConsumerGroup, batch, _windows, SettingsOf, _options.HorizonOf, cancellationToken,
                async (connection, transaction, token) => _shadowResult = await ShadowStore.WriteAsync(connection, transaction, _shadowBatch, _shadowBatch.Predictions, _windows,
                    _shadow.JoinWindow, compared, token));
            if (result.Fenced)
            {
                metrics.WriteErrors.Inc();
                logger.LogWarning("Evaluation offsets in Postgres moved under us (another consumer owned these partitions): dropping {Records} records and rewinding",
                    _held);
                Clear();
                _rewindNeeded = true;
                return false;
            }

            foreach (var (key, next) in batch.NextOffsets)
            {
                _stored[key] = next;
            }
            foreach (var predictor in batch.NewPredictors)
            {
                Commit(predictor);
            }
            metrics.Writes.Inc();
            metrics.WriteDuration.Observe(Stopwatch.GetElapsedTime(started).TotalSeconds);
            metrics.LastWrite.Set(time.GetUtcNow().ToUnixTimeMilliseconds() / 1000.0);
            metrics.PredictionsStored.Inc(result.PredictionsStored);
            metrics.PredictionsRepeated.Inc(result.PredictionsRepeated);
            metrics.Outcomes.WithLabels("new").Inc(result.OutcomesNew);
            metrics.Outcomes.WithLabels("replaced").Inc(result.OutcomesReplaced + _replacedInBatch);
            metrics.Outcomes.WithLabels("identical").Inc(result.OutcomesIdentical + _identicalInBatch);
            metrics.Pairs.Inc(result.Pairs);
            metrics.PairsUnusable.Inc(result.Unusable);
            shadowMetrics.PredictionsStored.Inc(_shadowResult.Stored);
            shadowMetrics.PredictionsRepeated.Inc(_shadowResult.Repeated);
            shadowMetrics.Pairs.Inc(_shadowResult.Pairs);
            Probate(compared);
            logger.LogDebug("Joined {Predictions} predictions and {Outcomes} outcomes: {Pairs} pairs into {Rows} window rows in {Elapsed:0} ms",
                batch.Predictions.Count, batch.Outcomes.Count, result.Pairs, result.Rows, Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            Clear();
            _retry.Succeeded();
            if (_paused)
            {
                consumer.Resume(consumer.Assignment);
                _paused = false;
            }
            return true;
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException or OperationCanceledException or InvalidOperationException)
        {
            // Not committed (or its answer lost: the retry's compare-and-set tells). Keep what was read, stop fetching
            // more until Postgres takes it.
            metrics.WriteErrors.Inc();
            var wait = _retry.Failed();
            logger.LogWarning("Evaluation write of {Records} records failed, retrying in {Backoff}: {Error}", _held, wait, e.Message);
            if (!_paused && consumer.Assignment.Count > 0)
            {
                consumer.Pause(consumer.Assignment);
                _paused = true;
            }
            return false;
        }
    }

    private void Clear()
    {
        _next.Clear();
        _predictions.Clear();
        _pendingOutcomes.Clear();
        _switchedOn.Clear();
        _shadowBatch.Clear();
        _held = 0;
        _identicalInBatch = 0;
        _replacedInBatch = 0;
    }

    private IEnumerable<TopicPartitionOffset> OnAssigned(IConsumer<Ignore, byte[]> consumer, List<TopicPartition> partitions)
    {
        var keys = partitions.Select(p => new TopicPartitionKey(p.Topic, p.Partition.Value)).ToList();
        var byTopic = keys.GroupBy(k => k.Topic).ToDictionary(g => g.Key, g => g.Select(k => k.Partition).Order().ToList());
        if (byTopic.Count == 2 && !byTopic[_kafka.Topic].SequenceEqual(byTopic[_kafka.OutcomesTopic]))
        {
            logger.LogError("Assigned different partitions of {Topic} ({Predictions}) and {OutcomesTopic} ({Outcomes}): the topics are not co-partitioned " +
                "or the group uses another assignor; outcomes may miss their predictions", _kafka.Topic, byTopic[_kafka.Topic], _kafka.OutcomesTopic,
                byTopic[_kafka.OutcomesTopic]);
        }
        var retry = new RetrySchedule(aggregatorOptions.Value.MaxRetryBackoff, time);
        while (true)
        {
            try
            {
                var stored = store.LoadOffsetsAsync(_options.ConsumerGroup, keys, _stopping).GetAwaiter().GetResult();
                foreach (var key in keys)
                {
                    _owned.Add(key);
                    if (stored.TryGetValue(key, out var offset))
                    {
                        _stored[key] = offset;
                    }
                }
                logger.LogInformation("Evaluation assigned {Partitions}", keys.Select(k => $"{k.Topic}[{k.Partition}]"));
                return partitions.Select(p => new TopicPartitionOffset(p,
                    stored.TryGetValue(new TopicPartitionKey(p.Topic, p.Partition.Value), out var offset) ? new Offset(offset) : Offset.Beginning));
            }
            catch (Exception e) when (e is NpgsqlException or TimeoutException)
            {
                var wait = retry.Failed();
                logger.LogWarning("Cannot read the evaluation offsets ({Error}); retrying in {Backoff}", e.Message, wait);
                _stopping.WaitHandle.WaitOne(wait);
                _stopping.ThrowIfCancellationRequested();
            }
        }
    }

    private void OnRevoked(IConsumer<Ignore, byte[]> consumer, List<TopicPartitionOffset> partitions)
    {
        // Write before giving the partitions up; if that fails, drop: the next owner starts from the stored offsets.
        if (_next.Count > 0 && !WriteAsync(consumer, _stopping.IsCancellationRequested ? CancellationToken.None : _stopping).GetAwaiter().GetResult())
        {
            logger.LogWarning("Evaluation partitions revoked before a successful write: dropping {Records} records", _held);
            Clear();
        }
        Forget(partitions.Select(p => new TopicPartitionKey(p.Topic, p.Partition.Value)));
    }

    private void OnLost(IConsumer<Ignore, byte[]> consumer, List<TopicPartitionOffset> partitions)
    {
        logger.LogWarning("Evaluation partitions lost: dropping {Records} records", _held);
        Clear();
        Forget(partitions.Select(p => new TopicPartitionKey(p.Topic, p.Partition.Value)));
    }

    private void Forget(IEnumerable<TopicPartitionKey> keys)
    {
        foreach (var key in keys)
        {
            _owned.Remove(key);
            _stored.Remove(key);
        }
        _paused = false;
    }

    /// <summary>After a dropped batch: reload the stored offsets of what we own and seek there.</summary>
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
            var keys = assignment.Select(p => new TopicPartitionKey(p.Topic, p.Partition.Value)).ToList();
            var stored = store.LoadOffsetsAsync(_options.ConsumerGroup, keys, _stopping).GetAwaiter().GetResult();
            foreach (var partition in assignment)
            {
                var key = new TopicPartitionKey(partition.Topic, partition.Partition.Value);
                _stored.Remove(key);
                if (stored.TryGetValue(key, out var offset))
                {
                    _stored[key] = offset;
                }
                consumer.Seek(new TopicPartitionOffset(partition, stored.TryGetValue(key, out var o) ? new Offset(o) : Offset.Beginning));
            }
            if (_paused)
            {
                consumer.Resume(assignment);
                _paused = false;
            }
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException or KafkaException)
        {
            logger.LogWarning("Evaluation rewind failed ({Error}); retrying", e.Message);
            _rewindNeeded = true;
            _stopping.WaitHandle.WaitOne(RetrySchedule.MinBackoff);
        }
    }
}
