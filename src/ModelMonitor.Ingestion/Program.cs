using ModelMonitor.Hosting;
using ModelMonitor.Ingestion;
using ModelMonitor.References;

// The ingestion API: POST /v1/predictions → validated → Kafka; and the reference profiles drift is measured against
// (POST/GET/DELETE /v1/references/…, stored in Postgres).
var builder = WebApplication.CreateBuilder(args);
builder.AddIngestion();
builder.AddReferences();

var app = builder.Build();
app.MapOperationalEndpoints();
app.MapIngestionEndpoints();
app.MapReferences();
app.Run();
