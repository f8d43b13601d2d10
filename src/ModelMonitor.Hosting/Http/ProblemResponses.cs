using System.Diagnostics;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace ModelMonitor.Hosting.Http;

/// <summary>
/// Every error response is an RFC 9457 problem details document (application/problem+json) with a trace id (traceId, or trace_id
/// where the service's JSON is snake_case) that the service's log line for the same request carries too. An unhandled exception gives a 500 that says nothing
/// of the code (no stack trace, no exception type) in every environment, Development included: the log has it.
/// </summary>
public static class ProblemResponses
{
    /// <summary>The id a problem response and its log line share: the W3C trace id of the request's activity when
    /// there is one (what a tracing backend shows), else ASP.NET Core's request id.</summary>
    public static string TraceId(HttpContext context) => Activity.Current?.TraceId.ToString() ?? context.TraceIdentifier;

    public static IServiceCollection AddProblemResponses(this IServiceCollection services)
    {
        services.AddProblemDetails();
        // The member ASP.NET Core itself names "traceId" through the service's JSON naming policy ("trace_id" for the
        // snake_case API): set under that name (worked out once), so the response has one, holding the id the log line has.
        services.AddOptions<ProblemDetailsOptions>().Configure<IOptions<JsonOptions>>((options, json) =>
        {
            var name = json.Value.SerializerOptions.PropertyNamingPolicy?.ConvertName("traceId") ?? "traceId";
            options.CustomizeProblemDetails = problem => problem.ProblemDetails.Extensions[name] = TraceId(problem.HttpContext);
        });
        services.AddExceptionHandler<UnhandledExceptionHandler>();
        return services;
    }

    /// <summary>First in the pipeline: exceptions and bodiless error statuses (404, 405) become problem details.</summary>
    public static IApplicationBuilder UseProblemResponses(this IApplicationBuilder app)
    {
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        return app;
    }

    private sealed class UnhandledExceptionHandler(IProblemDetailsService problems, ILogger<UnhandledExceptionHandler> logger) : IExceptionHandler
    {
        public async ValueTask<bool> TryHandleAsync(HttpContext httpContext, Exception exception, CancellationToken cancellationToken)
        {
            if (exception is OperationCanceledException && httpContext.RequestAborted.IsCancellationRequested)
            {
                return true; // the client went away: nobody to answer, nothing to report
            }
            if (exception is BadHttpRequestException bad)
            {
                // Kestrel refusing what the client sent (a bad chunk size, a body cut short): the client's error, a 4xx.
                logger.LogDebug("Bad request {Method} {Path} (trace {TraceId}): {Reason}", httpContext.Request.Method, httpContext.Request.Path.Value,
                    TraceId(httpContext), bad.Message);
                httpContext.Response.StatusCode = bad.StatusCode;
                return await problems.TryWriteAsync(new ProblemDetailsContext
                {
                    HttpContext = httpContext,
                    ProblemDetails = { Status = bad.StatusCode, Detail = bad.Message },
                });
            }
            logger.LogError(exception, "Unhandled error answering {Method} {Path} (trace {TraceId})",
                httpContext.Request.Method, httpContext.Request.Path.Value, TraceId(httpContext));
            httpContext.Response.StatusCode = StatusCodes.Status500InternalServerError;
            return await problems.TryWriteAsync(new ProblemDetailsContext
            {
                HttpContext = httpContext,
                Exception = null, // never rendered into the response
                ProblemDetails =
                {
                    Status = StatusCodes.Status500InternalServerError,
                    Title = "Internal Server Error",
                    Detail = "The service failed to answer this request; its log has the cause under this traceId.",
                },
            });
        }
    }
}
