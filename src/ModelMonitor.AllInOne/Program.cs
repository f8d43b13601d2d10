using ModelMonitor.Aggregator;
using ModelMonitor.Aggregator.Retirement;
using ModelMonitor.AllInOne;
using ModelMonitor.Exporter;
using ModelMonitor.Hosting;
using ModelMonitor.Ingestion;
using ModelMonitor.Predictors;
using ModelMonitor.References;
using ModelMonitor.Security;
using ModelMonitor.Storage;

// Operator subcommands (retire / unretire / retired, keys create / list / revoke, migrate) run and exit.
if (RetireCommand.Matches(args))
{
    return await RetireCommand.RunAsync(args, Console.Out, Console.Error);
}
if (KeysCommand.Matches(args))
{
    return await KeysCommand.RunAsync(args, Console.Out, Console.Error);
}
if (MigrateCommand.Matches(args))
{
    return await MigrateCommand.RunAsync(args, Console.Out, Console.Error);
}

// The whole pipeline in one process, for the local run:
// POST /v1/predictions → Kafka → aggregator → Postgres → exporter → GET /metrics.
// Kafka is embedded (in memory) unless Kafka:BootstrapServers is set.
var builder = WebApplication.CreateBuilder(args);
using var embeddedKafka = EmbeddedKafka.StartUnlessConfigured(builder);
builder.AddIngestion();
builder.AddReferences();
builder.AddPredictorRegistry();
builder.AddAggregator();
builder.AddExporter();

var app = builder.Build();
if (embeddedKafka is not null)
{
    EmbeddedKafka.LogWarning(app.Logger, embeddedKafka);
}
app.MapOperationalEndpoints();
app.MapIngestionEndpoints();
app.MapReferences();
app.MapPredictorRegistry();
app.MapExporterEndpoints();
app.MapLocalAlertWebhook();
app.Run();
return Environment.ExitCode; // non-zero when a check stopped the service (e.g. CoPartitioningCheck)
