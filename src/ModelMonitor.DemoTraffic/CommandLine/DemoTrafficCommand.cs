using System.CommandLine;
using System.CommandLine.Parsing;
using ModelMonitor.DemoTraffic.Running;
using ModelMonitor.DemoTraffic.Scenarios;
using ModelMonitor.DemoTraffic.Sending;

namespace ModelMonitor.DemoTraffic.CommandLine;

/// <summary>The command line: every option with its default, bound into <see cref="TrafficRunOptions"/>.</summary>
public sealed class DemoTrafficCommand
{
    private readonly Option<string?> _url = new("--url") { Description = "Base URL of the ingestion API (posts to {url}/v1/predictions).", DefaultValueFactory = _ => "http://127.0.0.1:8080" };
    private readonly Option<double> _rate = new("--rate") { Description = "Mean records per second, all models together; follows the demo-day rhythm (±35%).", DefaultValueFactory = _ => 200 };
    private readonly Option<bool> _maxRate = new("--max-rate") { Description = "Benchmark mode: ignore --rate and send as fast as --concurrency allows." };
    private readonly Option<string?> _duration = new("--duration") { Description = "How long live traffic runs, e.g. 90s, 10m, 2h. [default: until Ctrl-C]" };
    private readonly Option<int> _concurrency = new("--concurrency") { Description = "Requests in flight at once.", DefaultValueFactory = _ => 4 };
    private readonly Option<int> _batchSize = new("--batch-size") { Description = "Records per request (1-10000).", DefaultValueFactory = _ => 100 };
    private readonly Option<int> _seed = new("--seed") { Description = "Seed of the record generator: the same seed gives the same records.", DefaultValueFactory = _ => 42 };
    private readonly Option<string?> _runId = new("--run-id") { Description = "Run id embedded in every prediction_id (letters, digits, - and _). [default: random 8 hex digits]" };
    private readonly Option<PayloadFormat> _format = new("--format") { Description = "Request body: json (an array per batch) or ndjson.", DefaultValueFactory = _ => PayloadFormat.Json };
    private readonly Option<string?> _demoDay = new("--demo-day") { Description = "How long one compressed day lasts; the rate and busy-ness features follow it.", DefaultValueFactory = _ => "10m" };
    private readonly Option<bool> _noIncidents = new("--no-incidents") { Description = "Turn every incident off (benchmarks)." };
    private readonly Option<string?> _defaultStuckAt = new("--default-stuck-at") { Description = $"When {DemoScenarios.PrepTimeModel}'s {DemoScenarios.StuckDefaultFeature} gets stuck on its default (offset from live start, or off).", DefaultValueFactory = _ => "30s" };
    private readonly Option<string?> _nanAt = new("--nan-at") { Description = $"When {DemoScenarios.FraudModel}'s {DemoScenarios.NaNFeature} becomes NaN in ~20% of records (or off).", DefaultValueFactory = _ => "2m" };
    private readonly Option<string?> _shiftAt = new("--shift-at") { Description = $"When {DemoScenarios.EtaPrimaryModel}'s prediction_result shifts by +40% (or off).", DefaultValueFactory = _ => "3m" };
    private readonly Option<string?> _typeMismatchAt = new("--type-mismatch-at") { Description = $"When {DemoScenarios.FraudModel}'s {DemoScenarios.TypeMismatchFeature} starts arriving as a string in ~10% of records (or off).", DefaultValueFactory = _ => "5m" };
    private readonly Option<string?> _unitChangeAt = new("--unit-change-at") { Description = $"When {DemoScenarios.EtaPredictor}'s {DemoScenarios.UnitChangeFeature} starts arriving in metres (or off).", DefaultValueFactory = _ => "2m" };
    private readonly Option<string?> _gradualDriftAt = new("--gradual-drift-at") { Description = $"When {DemoScenarios.EtaPredictor}'s {DemoScenarios.GradualDriftFeature} starts warming by 2 °C a minute (or off).", DefaultValueFactory = _ => "1m" };
    private readonly Option<string?> _qualityDropAt = new("--quality-drop-at") { Description = $"When a courier shortage makes deliveries in {string.Join(", ", DemoScenarios.ShortageMarkets)} 40% longer: {DemoScenarios.EtaPrimaryModel}'s error against the actual outcomes more than doubles, its shadow follows (or off).", DefaultValueFactory = _ => "90s" };
    private readonly Option<bool> _noOutcomes = new("--no-outcomes") { Description = $"Do not send actual outcomes (POST {{url}}/v1/outcomes) for {DemoScenarios.EtaPredictor} and {DemoScenarios.FraudPredictor}." };
    private readonly Option<bool> _noTrainingReference = new("--no-training-reference") { Description = $"Do not upload the training reference of {DemoScenarios.EtaPrimaryModel} at start." };
    private readonly Option<bool> _noRegistry = new("--no-registry") { Description = $"Do not register {DemoScenarios.EtaPredictor} (primary and shadow) and {DemoScenarios.PrepTimePredictor} (a model older than its limit) at start (PUT {{url}}/v1/predictors/...)." };
    private readonly Option<string?> _silenceAt = new("--silence-at") { Description = $"When predictor {DemoScenarios.PrepTimePredictor} stops sending for the rest of the run (or off).", DefaultValueFactory = _ => "4m" };
    private readonly Option<int> _backfillHours = new("--backfill-hours") { Description = $"Hours of history to send before live traffic (0-{BackfillPlan.MaxHours}).", DefaultValueFactory = _ => 0 };
    private readonly Option<int> _backfillPerHour = new("--backfill-per-hour") { Description = "Backfilled predictions per hour per predictor (so records per hour per model).", DefaultValueFactory = _ => 200 };
    private readonly Option<FileInfo?> _ledger = new("--ledger") { Description = "Append the prediction_id of every acknowledged record to this file, one per line. [default: none]" };
    private readonly Option<bool> _ledgerWithModel = new("--ledger-with-model") { Description = "Ledger lines are prediction_id<TAB>model_id (primary and shadow share a prediction_id)." };
    private readonly Option<bool> _jsonSummary = new("--json-summary") { Description = "Also print the summary as one JSON line at the end (for benchmarks)." };
    private readonly Option<string?> _statusInterval = new("--status-interval") { Description = "How often the status line is printed.", DefaultValueFactory = _ => "10s" };
    private readonly Option<string?> _requestTimeout = new("--request-timeout") { Description = "Timeout of one HTTP request (then it is retried).", DefaultValueFactory = _ => "30s" };
    private readonly Option<int> _maxRetries = new("--max-retries") { Description = "Resends of a batch after connection errors, timeouts or 5xx other than 503 before giving up (429/503 are always retried after Retry-After).", DefaultValueFactory = _ => 10 };

    public RootCommand Root { get; }

    public DemoTrafficCommand(TextWriter output)
    {
        Root = new RootCommand("ModelMonitor demo traffic: plays realistic prediction services (eta_prediction with a shadow model, fraud_score, prep_time) and the actual outcomes of the first two against the ingestion API, with incidents the shipped alerts catch.");
        Option[] options =
        [
            _url, _rate, _maxRate, _duration, _concurrency, _batchSize, _seed, _runId, _format, _demoDay, _noIncidents,
            _defaultStuckAt, _nanAt, _shiftAt, _silenceAt, _typeMismatchAt, _unitChangeAt, _gradualDriftAt, _qualityDropAt, _noOutcomes, _noTrainingReference, _noRegistry, _backfillHours, _backfillPerHour, _ledger, _ledgerWithModel,
            _jsonSummary, _statusInterval, _requestTimeout, _maxRetries,
        ];
        foreach (var option in options)
        {
            Root.Options.Add(option);
        }

        foreach (var option in new Option<string?>[] { _duration, _demoDay, _defaultStuckAt, _nanAt, _shiftAt, _silenceAt, _typeMismatchAt, _unitChangeAt, _gradualDriftAt, _qualityDropAt, _statusInterval, _requestTimeout })
        {
            option.Validators.Add(result =>
            {
                if (result.GetValueOrDefault<string?>() is { } text && !DurationText.TryParse(text, out _))
                {
                    result.AddError($"{result.Option.Name}: '{text}' is not a duration like 500ms, 30s, 2m, 1h or off.");
                }
            });
        }

        Root.SetAction(async (parseResult, cancellation) =>
        {
            var options = Bind(parseResult.CommandResult);
            var problems = options.Validate();
            if (problems.Count > 0)
            {
                foreach (var problem in problems)
                {
                    await parseResult.InvocationConfiguration.Error.WriteLineAsync(problem);
                }

                return 1;
            }

            var summary = await new TrafficRun(options, output).RunAsync(cancellation);
            return summary.GaveUp > 0 && summary.Acknowledged == 0 ? 2 : 0;
        });
    }

    private TrafficRunOptions Bind(CommandResult result) => new()
    {
        Url = BaseUrl(result.GetValue(_url)),
        Rate = result.GetValue(_rate),
        MaxRate = result.GetValue(_maxRate),
        Duration = Duration(result.GetValue(_duration)),
        Concurrency = result.GetValue(_concurrency),
        BatchSize = result.GetValue(_batchSize),
        Seed = result.GetValue(_seed),
        RunId = result.GetValue(_runId) ?? Guid.NewGuid().ToString("N")[..8],
        Format = result.GetValue(_format),
        DemoDay = Duration(result.GetValue(_demoDay)) ?? TimeSpan.FromMinutes(10),
        Incidents = result.GetValue(_noIncidents)
            ? IncidentSchedule.None
            : new IncidentSchedule(
                Duration(result.GetValue(_defaultStuckAt)),
                Duration(result.GetValue(_nanAt)),
                Duration(result.GetValue(_shiftAt)),
                Duration(result.GetValue(_silenceAt)),
                Duration(result.GetValue(_typeMismatchAt)),
                Duration(result.GetValue(_unitChangeAt)),
                Duration(result.GetValue(_gradualDriftAt)),
                Duration(result.GetValue(_qualityDropAt))),
        Outcomes = !result.GetValue(_noOutcomes),
        UploadTrainingReference = !result.GetValue(_noTrainingReference),
        Register = !result.GetValue(_noRegistry),
        BackfillHours = result.GetValue(_backfillHours),
        BackfillPerHour = result.GetValue(_backfillPerHour),
        LedgerPath = result.GetValue(_ledger)?.FullName,
        LedgerWithModel = result.GetValue(_ledgerWithModel),
        JsonSummary = result.GetValue(_jsonSummary),
        StatusInterval = Duration(result.GetValue(_statusInterval)) ?? TimeSpan.FromSeconds(10),
        RequestTimeout = Duration(result.GetValue(_requestTimeout)) ?? TimeSpan.FromSeconds(30),
        Sender = SenderPolicy.Default with { MaxTransientRetries = result.GetValue(_maxRetries) },
    };

    private static TimeSpan? Duration(string? text) => text is not null && DurationText.TryParse(text, out var value) ? value : null;

    /// <summary>The base URL with a trailing slash (so v1/predictions is appended, not substituted); about:blank when unreadable, which validation reports.</summary>
    private static Uri BaseUrl(string? text)
    {
        if (text is null || !Uri.TryCreate(text, UriKind.Absolute, out var url))
        {
            return new Uri("about:blank");
        }

        return url.AbsolutePath.EndsWith('/') ? url : new Uri(url.AbsoluteUri + "/");
    }
}
