using System.Collections.Concurrent;
using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using ModelMonitor.Testing.Kafka;
using ModelMonitor.Testing.Waiting;

namespace ModelMonitor.Ingestion.Tests;

/// <summary>Every error is RFC 9457 problem details with a traceId; nothing of the code reaches a client, in any environment.</summary>
public sealed class ErrorResponseTests(KafkaMockCluster kafka) : IClassFixture<KafkaMockCluster>
{
    private static string Valid() =>
        $$"""{"sent_at":"{{DateTimeOffset.UtcNow:O}}","prediction_id":"a","predictor_name":"p","model_id":"m","features":{"x":1},"prediction_result":1}""";

    private static async Task<(HttpResponseMessage Response, JsonElement Problem, string Body)> PostAsync(HttpClient client, string body, string path = "/v1/predictions")
    {
        var response = await client.PostAsync(path, new StringContent(body, Encoding.UTF8, "application/json"));
        var text = await response.Content.ReadAsStringAsync();
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        return (response, JsonDocument.Parse(text).RootElement.Clone(), text);
    }

    [Fact]
    public async Task An_unhandled_error_is_a_500_problem_with_the_trace_id_of_its_log_line_and_no_stack_trace_even_in_Development()
    {
        var logs = new CapturingLoggerProvider();
        await using var api = IngestionApiFactory.For(kafka).WithWebHostBuilder(web =>
        {
            web.UseEnvironment("Development"); // where ASP.NET Core would otherwise render the developer exception page
            web.ConfigureTestServices(services =>
            {
                services.AddSingleton<TimeProvider>(new BrokenClock());
                services.AddSingleton<ILoggerProvider>(logs);
            });
        });
        using var client = api.CreateClient();

        var (response, problem, body) = await PostAsync(client, Valid());

        Assert.Equal(HttpStatusCode.InternalServerError, response.StatusCode);
        Assert.Equal(500, problem.GetProperty("status").GetInt32());
        Assert.Equal("Internal Server Error", problem.GetProperty("title").GetString());
        var traceId = problem.GetProperty("trace_id").GetString()!; // snake_case, as every member of the API's JSON
        Assert.False(problem.TryGetProperty("traceId", out _)); // one trace id, not two
        Assert.False(string.IsNullOrWhiteSpace(traceId));
        foreach (var leak in new[] { "BrokenClock", "Exception", " at ", ".cs", "clock is broken" })
        {
            Assert.DoesNotContain(leak, body, StringComparison.Ordinal);
        }
        var line = Assert.Single(logs.Lines, l => l.Contains("Unhandled error", StringComparison.Ordinal));
        Assert.Contains(traceId, line, StringComparison.Ordinal);
        Assert.Contains("clock is broken", line, StringComparison.Ordinal); // the log has the cause
        // And one request line, by route template, status and time, at Error (written once the response is sent).
        await Eventually.UntilAsync(
            () => Task.FromResult(logs.Lines.Any(l => l.StartsWith("HTTP POST /v1/predictions responded 500 in ", StringComparison.Ordinal) && l.Contains(" ms", StringComparison.Ordinal))),
            TimeSpan.FromSeconds(10), () => "the request's log line; logged: " + string.Join(" | ", logs.Lines));
    }

    [Fact]
    public async Task Whole_request_errors_and_unknown_paths_are_problem_details_with_a_trace_id()
    {
        await using var api = IngestionApiFactory.For(kafka);
        using var client = api.CreateClient();

        var (malformed, problem, _) = await PostAsync(client, "{\"sent_at\":");
        Assert.Equal(HttpStatusCode.BadRequest, malformed.StatusCode);
        Assert.StartsWith("malformed JSON at line 1", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Equal(400, problem.GetProperty("status").GetInt32());
        Assert.False(string.IsNullOrEmpty(problem.GetProperty("trace_id").GetString()));

        var (missing, notFound, _) = await PostAsync(client, Valid(), "/v1/nothing-here");
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        Assert.Equal(404, notFound.GetProperty("status").GetInt32());
    }

    [Fact]
    public async Task When_no_record_is_stored_the_400_is_a_problem_carrying_the_per_record_errors()
    {
        await using var api = IngestionApiFactory.For(kafka);
        using var client = api.CreateClient();

        var (response, problem, _) = await PostAsync(client, "[{\"prediction_id\":[]},{\"prediction_id\":\"x\",\"sent_at\":{}}]");

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal(0, problem.GetProperty("accepted").GetInt32());
        Assert.Equal(2, problem.GetProperty("rejected").GetInt32());
        var errors = problem.GetProperty("errors").EnumerateArray().ToList();
        Assert.Equal(["prediction_id", "sent_at"], errors.Select(e => e.GetProperty("field").GetString()));
        Assert.Equal("must be a string, got an array", errors[0].GetProperty("message").GetString());
        Assert.Contains("got an object", errors[1].GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.False(errors[0].GetProperty("retryable").GetBoolean());
        Assert.Contains("record 0: prediction_id must be a string", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    private sealed class BrokenClock : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => throw new InvalidOperationException("the clock is broken");
    }

    private sealed class CapturingLoggerProvider : ILoggerProvider
    {
        private readonly ConcurrentQueue<string> _lines = new();

        public IReadOnlyCollection<string> Lines => _lines;

        public ILogger CreateLogger(string categoryName) => new Logger(_lines);

        public void Dispose()
        {
        }

        private sealed class Logger(ConcurrentQueue<string> lines) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                if (IsEnabled(logLevel))
                {
                    lines.Enqueue(formatter(state, exception) + " " + exception?.Message);
                }
            }
        }
    }
}
