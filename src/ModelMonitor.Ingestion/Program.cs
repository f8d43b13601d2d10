using ModelMonitor.Hosting;
using ModelMonitor.Ingestion;
using ModelMonitor.Predictors;
using ModelMonitor.References;

// The ingestion API: POST /v1/predictions → validated → Kafka; and the reference profiles drift is measured against
// (POST/GET/DELETE /v1/references/…, stored in Postgres); the predictor registry (PUT/GET/DELETE /v1/predictors/…).
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
