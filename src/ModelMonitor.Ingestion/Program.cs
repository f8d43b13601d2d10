using ModelMonitor.Hosting;
using ModelMonitor.Ingestion;
using ModelMonitor.Predictors;
using ModelMonitor.References;
using ModelMonitor.Security;

// The ingestion API: POST /v1/predictions → validated → Kafka; and the reference profiles drift is measured against
// (POST/GET/DELETE /v1/references/…, stored in Postgres); the predictor registry (PUT/GET/DELETE /v1/predictors/…).
// The operator's keys command (keys create / list / revoke) runs and exits.
if (KeysCommand.Matches(args))
{
    return await KeysCommand.RunAsync(args, Console.Out, Console.Error);
}

var builder = WebApplication.CreateBuilder(args);
builder.AddIngestion();
builder.AddReferences();
builder.AddPredictorRegistry();

var app = builder.Build();
app.MapOperationalEndpoints();
app.MapIngestionEndpoints();
app.MapReferences();
app.MapPredictorRegistry();
app.Run();
return 0;
