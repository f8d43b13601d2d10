using System.Text;
using Confluent.Kafka;
using Dapper;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using ModelMonitor.Core.Contracts;
using ModelMonitor.Storage;
using ModelMonitor.Testing.Kafka;
using ModelMonitor.Testing.Postgres;
using ModelMonitor.Testing.Waiting;
using Npgsql;

namespace ModelMonitor.Aggregator.Tests;

/// <summary>Crashes, rebalances, Postgres outages and bad input: stored counts stay exactly the records produced.</summary>
[Trait("Speed", "Slow")]
public sealed class ExactlyOnceTests : IDisposable
{
    private readonly KafkaMockCluster _kafka = new();

    public void Dispose() => _kafka.Dispose();

    /// <summary>As the API writes them: requests of 25 records, one message per partition of each request. Returns the message count.</summary>
    private int Produce(string topic, IEnumerable<PredictionLog> logs)
    {
        var messages = AggregatorHarness.ApiMessages(logs, 25).ToList();
        _kafka.Produce(topic, messages.Select(m => ((byte[]?)null, m)));
        return messages.Count;
    }

    [Fact]
    public async Task Poison_and_late_records_are_skipped_counted_and_their_offsets_still_advance()
    {
        await using var database = await PostgresDatabaseFixture.CreateAsync("poison");
        var topic = KafkaMockCluster.UniqueTopic("poison");
        var good = TestData.Generate(200, seed: 1, TestData.BaseHour());
        var late = TestData.Generate(30, seed: 2, DateTimeOffset.UtcNow.AddDays(-8));
        var poison = new[]
        {
            Encoding.UTF8.GetBytes("not json at all"),
            Encoding.UTF8.GetBytes("{\"v\":99,\"sent_at\":\"2026-01-01T00:00:00Z\"}"),
            Encoding.UTF8.GetBytes("{\"v\":1}"),
            Array.Empty<byte>(),
        };
        // One message holds good records around a bad line: the line is skipped, the records around it are counted.
        var mixed = Encoding.UTF8.GetBytes(string.Join('\n',
            good.Skip(100).Take(5).Select(l => Encoding.UTF8.GetString(PredictionLogCodec.Encode(l)))
                .Append("{\"v\":1,\"truncated\":")
                .Concat(good.Skip(105).Take(5).Select(l => Encoding.UTF8.GetString(PredictionLogCodec.Encode(l))))));
        var messages = good.Take(100).Select(PredictionLogCodec.Encode)
            .Concat(poison)
            .Concat(late.Select(PredictionLogCodec.Encode))
            .Append(mixed)
            .Concat(AggregatorHarness.ApiMessages(good.Skip(110), 20))
            .ToList();
        _kafka.Produce(topic, messages.Select(m => ((byte[]?)null, m)));

        using var host = await AggregatorHarness.StartAsync(AggregatorHarness.Settings(database.ConnectionString, _kafka.BootstrapServers, topic, "poison"));
        await AggregatorHarness.WaitForCountAsync(database.ConnectionString, good.Count, TimeSpan.FromSeconds(60));
        await Eventually.UntilAsync(async () => await AggregatorHarness.StoredOffsetSumAsync(database.ConnectionString, "poison") == messages.Count, TimeSpan.FromSeconds(20), "the poison messages' offsets committed");

        Assert.Equal(poison.Length + 1, AggregatorHarness.Metric(host, "modelmonitor_aggregator_records_poison_total"));
        Assert.Equal(late.Count, AggregatorHarness.Metric(host, "modelmonitor_aggregator_records_late_total"));
        Assert.Equal(good.Count + poison.Length + 1 + late.Count, AggregatorHarness.Metric(host, "modelmonitor_aggregator_records_consumed_total"));
        Assert.Equal(messages.Count, AggregatorHarness.Metric(host, "modelmonitor_aggregator_messages_consumed_total"));
        Assert.True(AggregatorHarness.Metric(host, "modelmonitor_aggregator_flushes_total") >= 1);
        Assert.True(AggregatorHarness.Metric(host, "modelmonitor_aggregator_rows_written_total") >= 1);
        Assert.True(AggregatorHarness.Metric(host, "modelmonitor_aggregator_last_flush_timestamp_seconds") > 0);
        Assert.Contains("modelmonitor_aggregator_flush_duration_seconds_count", AggregatorHarness.MetricsText(host), StringComparison.Ordinal);
        await host.StopAsync();
    }

    [Fact]
    public async Task Records_Postgres_refuses_are_isolated_as_poison_and_every_other_record_is_stored_exactly_once()
    {
        await using var database = await PostgresDatabaseFixture.CreateAsync("refused");
        var topic = KafkaMockCluster.UniqueTopic("refused");
        using var host = await AggregatorHarness.StartAsync(AggregatorHarness.Settings(database.ConnectionString, _kafka.BootstrapServers, topic, "refused"));
        await using var connection = new NpgsqlConnection(database.ConnectionString);
        // The whole schema, not just the table: a later version's grants (V8) update the table's catalog row, and a
        // trigger created meanwhile fails with "tuple concurrently updated".
        await Eventually.UntilAsync(async () => await connection.ExecuteScalarAsync<bool>(
            $"SELECT to_regclass('{SchemaMigrator.MetadataTable}') IS NOT NULL AND EXISTS (SELECT 1 FROM {SchemaMigrator.MetadataTable} WHERE version = '{SchemaMigrator.Versions[^1]}' AND success)"),
            TimeSpan.FromSeconds(30), "the aggregator to migrate the schema");
        // Fault injection in the real server: a data exception for one feature name, as Postgres raises 22P05 for
        // text it cannot hold; unlike U+0000 (refused when decoding), nothing before Postgres can know this one.
        await connection.ExecuteAsync("""
            CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION 'refused by the test' USING ERRCODE = '22023'; END $$;
            CREATE TRIGGER refuse BEFORE INSERT OR UPDATE ON feature_window_stats
            FOR EACH ROW WHEN (NEW.feature = 'refused_by_postgres') EXECUTE FUNCTION refuse();
            """);

        var good = TestData.Generate(400, seed: 11, TestData.BaseHour());
        var refused = good[7] with { PredictionId = "refused", Features = [.. good[7].Features, new("refused_by_postgres", FeatureValue.FromNumber(1))] };
        var nul = Encoding.UTF8.GetString(PredictionLogCodec.Encode(good[8] with { PredictionId = "nul" }))
            .Replace("\"market\":", "\"market\":\"a\\u0000b\",\"was_market\":", StringComparison.Ordinal);
        Assert.Contains("\\u0000", nul, StringComparison.Ordinal);
        // The refused record travels inside a message of good ones; the NUL one inside another.
        var messages = AggregatorHarness.ApiMessages(good.Take(100).Append(refused).Concat(good.Skip(100).Take(100)), 25).ToList();
        messages.Add(Encoding.UTF8.GetBytes(string.Join('\n', good.Skip(200).Take(5).Select(l => Encoding.UTF8.GetString(PredictionLogCodec.Encode(l))).Append(nul))));
        messages.AddRange(AggregatorHarness.ApiMessages(good.Skip(205), 25));
        _kafka.Produce(topic, messages.Select(m => ((byte[]?)null, m)));

        await AggregatorHarness.WaitForCountAsync(database.ConnectionString, good.Count, TimeSpan.FromSeconds(60));
        await Eventually.UntilAsync(async () => await AggregatorHarness.StoredOffsetSumAsync(database.ConnectionString, "refused") == messages.Count, TimeSpan.FromSeconds(20), "the refused message's offsets committed");
        Assert.Equal(2, AggregatorHarness.Metric(host, "modelmonitor_aggregator_records_poison_total"));
        Assert.True(AggregatorHarness.Metric(host, "modelmonitor_aggregator_flush_errors_total") >= 1);
        var health = await host.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync();
        Assert.Equal(HealthStatus.Healthy, health.Status);

        // And the pipeline keeps aggregating: a later record reaches Postgres.
        var later = TestData.Generate(5, seed: 12, TestData.BaseHour());
        var total = messages.Count + Produce(topic, later);
        await AggregatorHarness.WaitForCountAsync(database.ConnectionString, good.Count + later.Count, TimeSpan.FromSeconds(30));
        await Eventually.UntilAsync(async () => await AggregatorHarness.StoredOffsetSumAsync(database.ConnectionString, "refused") == total, TimeSpan.FromSeconds(20), "every offset committed after the refused message");
        Assert.Equal(0, await connection.ExecuteScalarAsync<long>("SELECT count(*) FROM feature_window_stats WHERE feature = 'refused_by_postgres'"));
        await host.StopAsync();
    }

    [Fact]
    public async Task Stored_counts_equal_the_records_produced_after_repeated_crashes()
    {
        await using var database = await PostgresDatabaseFixture.CreateAsync("crash");
        var topic = KafkaMockCluster.UniqueTopic("crash");
        var settings = AggregatorHarness.Settings(database.ConnectionString, _kafka.BootstrapServers, topic, "crash");
        var logs = TestData.Generate(8_000, seed: 3, TestData.BaseHour());
        var chunks = logs.Chunk(1_000).ToList();

        var messages = Produce(topic, chunks[0]);
        var produced = chunks[0].Length;
        for (var crash = 0; crash < 3; crash++)
        {
            using var process = AggregatorHarness.StartProcess(settings);
            // Let it consume and flush some, produce more while it runs, then kill it mid-stream:
            // no Close(), no final flush, possibly in the middle of a transaction.
            await Eventually.UntilAsync(async () => (await AggregatorHarness.PredictionCountsAsync(database.ConnectionString)).Values.DefaultIfEmpty().Max() > 0, TimeSpan.FromSeconds(60), "the first records stored before the crash");
            messages += Produce(topic, chunks[1 + (2 * crash)]);
            produced += chunks[1 + (2 * crash)].Length;
            await Task.Delay(300 + (crash * 200));
            await process.KillAsync();
            messages += Produce(topic, chunks[2 + (2 * crash)]);
            produced += chunks[2 + (2 * crash)].Length;
            var stored = await AggregatorHarness.PredictionCountsAsync(database.ConnectionString);
            Assert.All(stored.Values, count => Assert.True(count <= produced, $"stored {count} > produced {produced}"));
        }

        messages += Produce(topic, chunks[7]);
        produced += chunks[7].Length;
        Assert.Equal(logs.Count, produced);

        using (var last = AggregatorHarness.StartProcess(settings))
        {
            await AggregatorHarness.WaitForCountAsync(database.ConnectionString, produced, TimeSpan.FromSeconds(90));
            await last.KillAsync();
        }

        Assert.Equal(messages, await AggregatorHarness.StoredOffsetSumAsync(database.ConnectionString, "crash"));
    }

    [Fact]
    public async Task Messages_the_broker_deleted_before_they_were_read_are_counted_lost_and_the_rest_is_stored_exactly()
    {
        // One partition filled well past what the mock broker keeps (about 5 MiB per partition) before any aggregator
        // runs: its oldest messages are gone when the aggregator starts from the beginning.
        await using var database = await PostgresDatabaseFixture.CreateAsync("lost");
        var topic = KafkaMockCluster.UniqueTopic("lost");
        var padding = new string('x', 4_000);
        var logs = TestData.Generate(3_000, seed: 12, TestData.BaseHour())
            .Select(log => log with { Features = [.. log.Features, new("note", FeatureValue.FromString(padding))] })
            .ToList();
        _kafka.Produce(topic, logs.Select(log => ((byte[]?)"one-partition"u8.ToArray(), AggregatorHarness.Encode(log))), Partitioner.Murmur2);
        using var reader = new ConsumerBuilder<Ignore, Ignore>(new ConsumerConfig { BootstrapServers = _kafka.BootstrapServers, GroupId = "watermarks" }).Build();
        var (partition, low, high) = Enumerable.Range(0, 4)
            .Select(p => (p, reader.QueryWatermarkOffsets(new TopicPartition(topic, p), TimeSpan.FromSeconds(10))))
            .Where(w => w.Item2.High.Value > 0)
            .Select(w => (w.p, w.Item2.Low.Value, w.Item2.High.Value))
            .Single();
        Assert.Equal(logs.Count, high);
        Assert.True(low > 0, $"the mock broker kept all {high} messages of partition {partition}: the test no longer fills it past its retention");

        using var host = await AggregatorHarness.StartAsync(AggregatorHarness.Settings(database.ConnectionString, _kafka.BootstrapServers, topic, "lost"));
        await Eventually.UntilAsync(async () => await AggregatorHarness.StoredOffsetSumAsync(database.ConnectionString, "lost") == high,
            TimeSpan.FromSeconds(60), "the aggregator to commit the partition's last offset");

        Assert.Equal(low, AggregatorHarness.Metric(host, "modelmonitor_aggregator_messages_lost_total"));
        var counts = await AggregatorHarness.PredictionCountsAsync(database.ConnectionString);
        Assert.All(counts.Values, count => Assert.Equal(high - low, count)); // every message still held, once
    }

    [Fact]
    public async Task Two_instances_in_one_group_store_the_same_totals_as_one()
    {
        await using var single = await PostgresDatabaseFixture.CreateAsync("single");
        await using var pair = await PostgresDatabaseFixture.CreateAsync("pair");
        var topic = KafkaMockCluster.UniqueTopic("pair");
        var logs = TestData.Generate(4_000, seed: 4, TestData.BaseHour());
        var chunks = logs.Chunk(500).ToList();
        _ = Produce(topic, chunks[0]);

        using var one = await AggregatorHarness.StartAsync(AggregatorHarness.Settings(single.ConnectionString, _kafka.BootstrapServers, topic, "single"));
        using var first = await AggregatorHarness.StartAsync(AggregatorHarness.Settings(pair.ConnectionString, _kafka.BootstrapServers, topic, "pair"));
        using var second = await AggregatorHarness.StartAsync(AggregatorHarness.Settings(pair.ConnectionString, _kafka.BootstrapServers, topic, "pair"));
        foreach (var chunk in chunks.Skip(1))
        {
            _ = Produce(topic, chunk);
            await Task.Delay(150);
        }

        await AggregatorHarness.WaitForCountAsync(single.ConnectionString, logs.Count, TimeSpan.FromSeconds(60));
        await AggregatorHarness.WaitForCountAsync(pair.ConnectionString, logs.Count, TimeSpan.FromSeconds(60));
        Assert.True(AggregatorHarness.Metric(first, "modelmonitor_aggregator_records_consumed_total") > 0, "the first instance consumed nothing");
        Assert.True(AggregatorHarness.Metric(second, "modelmonitor_aggregator_records_consumed_total") > 0, "the second instance consumed nothing");
        await Task.WhenAll(one.StopAsync(), first.StopAsync(), second.StopAsync());

        // Counts, extremes and sketches are exact (sketch merges add bins); means and M2 only differ by rounding.
        const string Rows = """
            SELECT window_seconds || '|' || window_start || '|' || predictor_name || '|' || model_id || '|' || feature || '|' ||
                   value_count || '|' || null_count || '|' || default_count || '|' || nonfinite_count || '|' || numeric_count || '|' ||
                   coalesce(min::text, '') || '|' || coalesce(max::text, '') || '|' || coalesce(p05::text, '') || '|' || coalesce(p50::text, '') || '|' ||
                   coalesce(p95::text, '') || '|' || coalesce(encode(sketch, 'hex'), '') || '|' || categories::text || '|' || coalesce(round(mean::numeric, 6)::text, '')
            FROM feature_window_stats
            UNION ALL
            SELECT window_seconds || '|' || window_start || '|' || predictor_name || '|' || model_id || '|' || prediction_count || '|' ||
                   nonfinite_count || '|' || coalesce(encode(sketch, 'hex'), '') || '|' || coalesce(round(stddev::numeric, 6)::text, '')
            FROM model_window_stats
            ORDER BY 1
            """;
        Assert.Equal(await QueryStringsAsync(single.ConnectionString, Rows), await QueryStringsAsync(pair.ConnectionString, Rows));
    }

    [Fact]
    public async Task Postgres_restarted_during_consumption_loses_and_duplicates_nothing()
    {
        await using var server = await PostgresServer.CreateAsync();
        var connectionString = await server.CreateDatabaseAsync("restart");
        var topic = KafkaMockCluster.UniqueTopic("restart");
        var logs = TestData.Generate(6_000, seed: 5, TestData.BaseHour());
        var chunks = logs.Chunk(2_000).ToList();
        var settings = AggregatorHarness.Settings(connectionString, _kafka.BootstrapServers, topic, "restart");
        // A small bound, so the outage also exercises pausing the partitions.
        settings["Aggregator:MaxBufferedRecords"] = "500";

        var messages = Produce(topic, chunks[0]);
        using var host = await AggregatorHarness.StartAsync(settings);
        await AggregatorHarness.WaitForCountAsync(connectionString, chunks[0].Length, TimeSpan.FromSeconds(60));

        await server.StopAsync();
        messages += Produce(topic, chunks[1]);
        await Eventually.UntilAsync(() => Task.FromResult(AggregatorHarness.Metric(host, "modelmonitor_aggregator_flush_errors_total") >= 2), TimeSpan.FromSeconds(30), "two failed flushes");
        // Consumption stopped at the bound instead of buffering the whole backlog.
        Assert.True(AggregatorHarness.Metric(host, "modelmonitor_aggregator_records_consumed_total") < chunks[0].Length + chunks[1].Length);

        await server.StartAsync();
        messages += Produce(topic, chunks[2]);
        await AggregatorHarness.WaitForCountAsync(connectionString, logs.Count, TimeSpan.FromSeconds(90));
        Assert.Equal(messages, await AggregatorHarness.StoredOffsetSumAsync(connectionString, "restart"));
        await host.StopAsync();
    }

    [Fact]
    public async Task A_write_that_Postgres_holds_up_does_not_stop_consumption_up_to_the_bound_and_lands_exactly_once()
    {
        await using var database = await PostgresDatabaseFixture.CreateAsync("inflight");
        var topic = KafkaMockCluster.UniqueTopic("inflight");
        var logs = TestData.Generate(9_000, seed: 8, TestData.BaseHour());
        var settings = AggregatorHarness.Settings(database.ConnectionString, _kafka.BootstrapServers, topic, "inflight");
        settings["Aggregator:MaxBufferedRecords"] = "4000";
        var messages = Produce(topic, logs.Take(1_000));
        using var host = await AggregatorHarness.StartAsync(settings);
        await AggregatorHarness.WaitForCountAsync(database.ConnectionString, 1_000, TimeSpan.FromSeconds(60));

        // Writes to the window tables wait for this transaction (reads do not).
        await using var blocker = new NpgsqlConnection(database.ConnectionString);
        await blocker.OpenAsync();
        await using var transaction = await blocker.BeginTransactionAsync();
        await blocker.ExecuteAsync("LOCK TABLE model_window_stats, feature_window_stats IN EXCLUSIVE MODE", transaction: transaction);
        messages += Produce(topic, logs.Skip(1_000).Take(1_500));
        await Eventually.UntilAsync(
            async () => await blocker.ExecuteScalarAsync<long>("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()", transaction: transaction) > 0,
            TimeSpan.FromSeconds(30),
            "a write waiting for the lock");
        var flushes = AggregatorHarness.Metric(host, "modelmonitor_aggregator_flushes_total");

        // The consumer reads on while the write waits...
        messages += Produce(topic, logs.Skip(2_500).Take(1_000));
        await Eventually.UntilAsync(
            () => Task.FromResult(AggregatorHarness.Metric(host, "modelmonitor_aggregator_records_consumed_total") >= 3_500),
            TimeSpan.FromSeconds(30),
            "records read during the write");
        // ...until what it holds reaches Aggregator:MaxBufferedRecords (the write's 1,500 and 2,500 more), then waits too.
        messages += Produce(topic, logs.Skip(3_500));
        await Task.Delay(TimeSpan.FromSeconds(3));
        var consumed = AggregatorHarness.Metric(host, "modelmonitor_aggregator_records_consumed_total");
        Assert.InRange(consumed, 3_500, 1_000 + 4_000 + 25);
        Assert.Equal(flushes, AggregatorHarness.Metric(host, "modelmonitor_aggregator_flushes_total"));

        await transaction.RollbackAsync();
        await AggregatorHarness.WaitForCountAsync(database.ConnectionString, logs.Count, TimeSpan.FromSeconds(60));
        Assert.Equal(messages, await AggregatorHarness.StoredOffsetSumAsync(database.ConnectionString, "inflight"));
        await host.StopAsync();
    }

    private static async Task<List<string>> QueryStringsAsync(string connectionString, string sql)
    {
        await using var connection = new Npgsql.NpgsqlConnection(connectionString);
        return [.. await Dapper.SqlMapper.QueryAsync<string>(connection, sql)];
    }
}
