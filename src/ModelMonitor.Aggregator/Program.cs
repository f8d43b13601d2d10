using ModelMonitor.Aggregator;
using ModelMonitor.Hosting;

var builder = WebApplication.CreateBuilder(args);
builder.AddAggregator();

var app = builder.Build();
app.MapOperationalEndpoints();
app.Run();
