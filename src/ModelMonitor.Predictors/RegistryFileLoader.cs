using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using ModelMonitor.Core.Predictors;
using ModelMonitor.Core.Shadows;
using ModelMonitor.Storage;
using ModelMonitor.Storage.Predictors;
using Npgsql;

namespace ModelMonitor.Predictors;

/// <summary>
/// Loads the registry file (Predictors:File) at start: read and validated before the service starts (a bad file stops it,
/// naming the entry and field), then written to Postgres once the schema is migrated (retrying while Postgres is away).
/// </summary>
internal sealed class RegistryFileLoader(
    IOptions<PredictorOptions> options,
    IOptions<ShadowOptions> shadow,
    PredictorRegistryStore store,
    SchemaMigration schema,
    ILogger<RegistryFileLoader> logger) : BackgroundService
{
    private RegistryFileContent? _content;

    public override Task StartAsync(CancellationToken cancellationToken)
    {
        if (options.Value.File is { Length: > 0 } path)
        {
            using var reader = File.OpenText(path);
            _content = RegistryFile.Read(reader, path, shadow.Value.MaxModelsPerPredictor); // FormatException: the host does not start
        }
        return base.StartAsync(cancellationToken);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (_content is null)
        {
            return;
        }
        var path = options.Value.File!;
        var wait = TimeSpan.FromSeconds(1);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await schema.WhenMigratedAsync(stoppingToken);
                var changed = await store.SyncFileAsync(path, _content.Predictors, _content.Models, stoppingToken);
                logger.LogInformation("Loaded the predictor registry file {Path}: {Predictors} predictors, {Models} models, {Changed} changes",
                    path, _content.Predictors.Count, _content.Models.Count, changed);
                return;
            }
            catch (Exception e) when (e is NpgsqlException or TimeoutException)
            {
                logger.LogWarning("Cannot write the predictor registry file {Path} to Postgres ({Error}); retrying in {Wait}", path, e.Message, wait);
                await Task.Delay(wait, stoppingToken);
                wait = TimeSpan.FromTicks(Math.Min(wait.Ticks * 2, TimeSpan.FromSeconds(30).Ticks));
            }
        }
    }
}
