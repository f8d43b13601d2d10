using Confluent.Kafka;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace ModelMonitor.Kafka;

/// <summary>
/// The invariant evaluation rests on: the predictions and outcomes topics have the same partition count, so that
/// murmur2(prediction_id) puts an outcome in the partition number of its predictions and one join instance owns both
/// (Kafka's range assignor gives a consumer the same partition numbers of co-partitioned topics). Checked at start by
/// every service that writes or joins them (<see cref="CoPartitioningCheck"/>): they refuse to run when the counts
/// differ, and log an error if partitions are later added to one topic only.
/// </summary>
public static class CoPartitioning
{
    /// <summary>The partition counts of both topics (0: the topic does not exist yet).</summary>
    /// <param name="log">Where librdkafka's own log lines go (never to stderr: services log through Serilog).</param>
    public static (int Predictions, int Outcomes) Read(KafkaOptions options, TimeSpan timeout, ILogger log)
    {
        var config = new AdminClientConfig { BootstrapServers = options.BootstrapServers };
        foreach (var (key, value) in options.Client)
        {
            config.Set(key, value);
        }
        using var admin = new AdminClientBuilder(config)
            .SetLogHandler((_, m) => log.LogDebug("librdkafka {Facility}: {Message}", m.Facility, m.Message))
            .SetErrorHandler((_, e) => log.LogDebug("Kafka error {Code}: {Reason}", e.Code, e.Reason))
            .Build();
        var metadata = admin.GetMetadata(timeout);
        int CountOf(string topic) =>
            metadata.Topics.FirstOrDefault(t => t.Topic == topic) is { Error.IsError: false } t ? t.Partitions.Count : 0;
        return (CountOf(options.Topic), CountOf(options.OutcomesTopic));
    }

    /// <summary>The message of a violation, or null when the counts agree (or a topic does not exist yet).</summary>
    public static string? Problem(KafkaOptions options, int predictions, int outcomes) =>
        predictions > 0 && outcomes > 0 && predictions != outcomes
            ? $"Kafka topics {options.Topic} ({predictions} partitions) and {options.OutcomesTopic} ({outcomes} partitions) must have the " +
              "same partition count: an outcome is placed by murmur2(prediction_id) in the partition number of its predictions, and " +
              $"the evaluation join reads both partitions together. Add partitions to the smaller one (kafka-topics.sh --alter " +
              $"--partitions {Math.Max(predictions, outcomes)}) or recreate it."
            : null;
}

/// <summary>
/// Stops the service at start when the two topics are not co-partitioned (see <see cref="CoPartitioning"/>); afterwards
/// checks again every minute and logs an error. Tolerates a broker that is not reachable yet (checks again).
/// </summary>
public sealed class CoPartitioningCheck(IOptions<KafkaOptions> options, IHostApplicationLifetime lifetime, ILogger<CoPartitioningCheck> logger)
    : BackgroundService
{
    private static readonly TimeSpan Recheck = TimeSpan.FromMinutes(1);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var kafka = options.Value;
        var started = false;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                var (predictions, outcomes) = await Task.Run(() => CoPartitioning.Read(kafka, TimeSpan.FromSeconds(10), logger), stoppingToken);
                if (CoPartitioning.Problem(kafka, predictions, outcomes) is { } problem)
                {
                    if (!started)
                    {
                        logger.LogCritical("Refusing to run: {Problem}", problem);
                        Environment.ExitCode = 3;
                        lifetime.StopApplication();
                        return;
                    }
                    logger.LogError("{Problem}", problem);
                }
                started |= predictions > 0 && outcomes > 0;
            }
            catch (Exception e) when (e is KafkaException or TimeoutException)
            {
                logger.LogDebug("Co-partitioning check could not read Kafka metadata: {Error}", e.Message);
            }
            await Task.Delay(started ? Recheck : TimeSpan.FromSeconds(5), stoppingToken).ContinueWith(_ => { }, TaskScheduler.Default);
        }
    }
}
