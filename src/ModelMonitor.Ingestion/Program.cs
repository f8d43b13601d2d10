using ModelMonitor.Hosting;
using ModelMonitor.Ingestion;

// The ingestion API: POST /v1/predictions → validated → Kafka.
var builder = WebApplication.CreateBuilder(args);
builder.AddIngestion();

var app = builder.Build();
app.MapOperationalEndpoints();
app.MapIngestionEndpoints();
app.Run();
