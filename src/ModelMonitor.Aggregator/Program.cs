using ModelMonitor.Aggregator;
using ModelMonitor.Aggregator.Retirement;
using ModelMonitor.Hosting;
using ModelMonitor.Storage;

// Operator subcommands (retire / unretire / retired, migrate) run and exit; otherwise the service.
if (RetireCommand.Matches(args))
{
    return await RetireCommand.RunAsync(args, Console.Out, Console.Error);
}
if (MigrateCommand.Matches(args))
{
    return await MigrateCommand.RunAsync(args, Console.Out, Console.Error);
}

// The aggregator: Kafka → windowed statistics → Postgres, exactly once.
var builder = WebApplication.CreateBuilder(args);
builder.AddAggregator();

var app = builder.Build();
app.MapOperationalEndpoints();
app.Run();
return Environment.ExitCode; // non-zero when a check stopped the service (e.g. CoPartitioningCheck)
