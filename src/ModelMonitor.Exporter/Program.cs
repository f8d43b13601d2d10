using ModelMonitor.Exporter;

var builder = WebApplication.CreateBuilder(args);
builder.AddExporter();

var app = builder.Build();
app.MapExporterEndpoints();
app.Run();

/// <summary>Entry point, visible to WebApplicationFactory in the tests.</summary>
public partial class Program;
