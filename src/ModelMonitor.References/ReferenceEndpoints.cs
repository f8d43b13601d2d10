using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;
using ModelMonitor.Core.References;
using ModelMonitor.Core.Security;
using ModelMonitor.References.Upload;
using ModelMonitor.Security;
using ModelMonitor.Storage.References;

namespace ModelMonitor.References;

/// <summary>
/// The reference endpoints (README "Drift"):
/// POST /v1/references/{predictor_name}/{model_id}?name=training with a CSV, NDJSON or Parquet body uploads one;
/// GET /v1/references/{predictor_name}/{model_id} lists them; DELETE …?name=… removes one.
/// </summary>
public static class ReferenceEndpoints
{
    public const string CsvType = "text/csv";
    public const string NdjsonType = "application/x-ndjson";
    public const string ParquetType = "application/vnd.apache.parquet";

    /// <summary>The name an upload gets when none is given.</summary>
    public const string DefaultUploadName = "training";

    /// <summary>The name a pinned period gets when none is given.</summary>
    public const string DefaultPinnedName = "pinned";

    /// <summary>The name of the reference built from the model's own traffic: not uploadable.</summary>
    public const string ProductionName = "production";

    private const int MaxNameLength = 200;

    public static IEndpointRouteBuilder MapReferenceEndpoints(this IEndpointRouteBuilder endpoints)
    {
        var references = endpoints.MapGroup("/v1/references/{predictor_name}/{model_id}");
        references.MapPost("", UploadAsync).WithName("UploadReference").DisableAntiforgery()
            .RequireScope(ApiScopes.Admin).RequirePredictorAccess("predictor_name");
        references.MapGet("", ListAsync).WithName("ListReferences")
            .RequireAnyKey().RequirePredictorAccess("predictor_name");
        references.MapDelete("", DeleteAsync).WithName("DeleteReference")
            .RequireScope(ApiScopes.Admin).RequirePredictorAccess("predictor_name");
        return endpoints;
    }

    /// <summary>What the endpoints answer with when this host has no Postgres: every reference call, 503 saying so.</summary>
    internal static IEndpointRouteBuilder MapUnavailableReferenceEndpoints(this IEndpointRouteBuilder endpoints)
    {
        endpoints.Map("/v1/references/{predictor_name}/{model_id}", () => TypedResults.Problem(
            detail: "Reference profiles are stored in Postgres and this service has none: set ConnectionStrings:Postgres.",
            statusCode: StatusCodes.Status503ServiceUnavailable));
        return endpoints;
    }

    internal static async Task<Results<Created<ReferenceSummary>, ProblemHttpResult>> UploadAsync(
        [Microsoft.AspNetCore.Mvc.FromRoute(Name = "predictor_name")] string predictorName,
        [Microsoft.AspNetCore.Mvc.FromRoute(Name = "model_id")] string modelId,
        string? name,
        HttpContext context,
        ReferenceStore store,
        StoredWindowReader windows,
        IOptions<ReferenceOptions> options,
        ILoggerFactory loggers)
    {
        var settings = options.Value;
        name ??= DefaultUploadName;
        if ((Invalid(predictorName, "predictor_name") ?? Invalid(modelId, "model_id") ?? Invalid(name, "name")) is { } invalid)
        {
            return Problem(StatusCodes.Status400BadRequest, invalid);
        }

        if (name == ProductionName)
        {
            return Problem(StatusCodes.Status400BadRequest,
                "The reference named \"production\" is built from the model's own traffic; upload under another name (default \"training\").");
        }

        if (!MediaTypeHeaderValue.TryParse(context.Request.ContentType, out var contentType) || contentType.MediaType.Value is not { } mediaType)
        {
            return Problem(StatusCodes.Status415UnsupportedMediaType, $"Send the reference as {CsvType}, {NdjsonType} or {ParquetType}, or a period to pin as application/json.");
        }

        if (contentType.Charset.HasValue && !contentType.Charset.Equals("utf-8", StringComparison.OrdinalIgnoreCase))
        {
            return Problem(StatusCodes.Status400BadRequest, $"Unsupported encoding {contentType.Charset}: send the file as UTF-8.");
        }

        if (mediaType.Equals("application/json", StringComparison.OrdinalIgnoreCase))
        {
            return await PinAsync(predictorName, modelId, context.Request.Query["name"].Count > 0 ? name : DefaultPinnedName, context, store, windows, settings, loggers);
        }

        Func<Stream, ReferenceBuilder, UploadLimits, CancellationToken, Task>? read = mediaType.ToLowerInvariant() switch
        {
            CsvType => CsvReferenceReader.ReadAsync,
            NdjsonType => NdjsonReferenceReader.ReadAsync,
            ParquetType => ParquetReferenceReader.ReadAsync,
            _ => null,
        };
        if (read is null)
        {
            return Problem(StatusCodes.Status415UnsupportedMediaType, $"Unsupported media type {mediaType}: send the reference as {CsvType}, {NdjsonType} or {ParquetType}.");
        }

        if (context.Request.ContentLength > settings.MaxUploadBytes)
        {
            return TooLarge(settings);
        }

        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
        {
            limit.MaxRequestBodySize = settings.MaxUploadBytes;
        }

        var builder = new ReferenceBuilder(ReferenceStore.CategoryCapacity, settings.ChunkRows, settings.MaxChunks);
        var started = TimeProvider.System.GetTimestamp();
        try
        {
            await read(context.Request.Body, builder, UploadLimits.From(settings), context.RequestAborted);
        }
        catch (ReferenceUploadException e)
        {
            return TypedResults.Problem(
                detail: $"The reference was not stored (the previous one, if any, is unchanged): {e.Detail}",
                statusCode: e.Status,
                extensions: new Dictionary<string, object?> { ["line"] = e.Line, ["column"] = e.Column });
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return TooLarge(settings);
        }

        var (profile, thresholds) = builder.Complete();
        var key = new ReferenceKey(predictorName, modelId, name);
        var actor = context.Caller().Actor;
        var summary = await store.ReplaceAsync(key, ReferenceKinds.Uploaded, mediaType.ToLowerInvariant(), period: null, profile,
            [.. thresholds.Select(t => new StoredThreshold(0, t))], context.RequestAborted, actor);
        loggers.CreateLogger(typeof(ReferenceEndpoints)).LogInformation(
            "Audit: {Actor} {Action} {Reference} of {Predictor}/{Model}: {Rows} rows, {Features} features, from {MediaType} in {Elapsed:0} ms",
            actor, "replace_reference", name, predictorName, modelId, profile.RowCount, profile.Features.Count, mediaType,
            TimeProvider.System.GetElapsedTime(started).TotalMilliseconds);
        return TypedResults.Created(
            $"/v1/references/{Uri.EscapeDataString(predictorName)}/{Uri.EscapeDataString(modelId)}?name={Uri.EscapeDataString(name)}", summary);
    }

    /// <summary>A pinned reference: {"from": "...", "to": "..."} freezes the model's stored windows of that production period.</summary>
    private static async Task<Results<Created<ReferenceSummary>, ProblemHttpResult>> PinAsync(string predictorName, string modelId, string name,
        HttpContext context, ReferenceStore store, StoredWindowReader windows, ReferenceOptions settings, ILoggerFactory loggers)
    {
        PinRequest? request;
        try
        {
            request = await context.Request.ReadFromJsonAsync<PinRequest>(context.RequestAborted);
        }
        catch (System.Text.Json.JsonException e)
        {
            return Problem(StatusCodes.Status400BadRequest, $"A pinned reference takes {{\"from\": \"<RFC 3339 time>\", \"to\": \"<RFC 3339 time>\"}}: {e.Message}");
        }

        if (request is not { From: { } from, To: { } to } || to <= from)
        {
            return Problem(StatusCodes.Status400BadRequest, "A pinned reference takes {\"from\": \"<RFC 3339 time>\", \"to\": \"<RFC 3339 time>\"} with from before to.");
        }

        var built = await new WindowReferenceBuilder(windows, settings.ThresholdWindows).BuildAsync(predictorName, modelId, from, to, context.RequestAborted);
        if (built is null)
        {
            return Problem(StatusCodes.Status400BadRequest, $"{predictorName}/{modelId} has no stored windows between {from:u} and {to:u} (older ones may have been removed by retention).");
        }

        var actor = context.Caller().Actor;
        var summary = await store.ReplaceAsync(new ReferenceKey(predictorName, modelId, name), ReferenceKinds.Pinned, "windows", (from, to),
            built.Profile, built.Thresholds, context.RequestAborted, actor);
        loggers.CreateLogger(typeof(ReferenceEndpoints)).LogInformation(
            "Audit: {Actor} {Action} {Reference} of {Predictor}/{Model}: pinned {From:u} to {To:u}", actor, "replace_reference", name, predictorName, modelId, from, to);
        return TypedResults.Created(
            $"/v1/references/{Uri.EscapeDataString(predictorName)}/{Uri.EscapeDataString(modelId)}?name={Uri.EscapeDataString(name)}", summary);
    }

    internal static async Task<Results<Ok<ReferenceList>, ProblemHttpResult>> ListAsync(
        [Microsoft.AspNetCore.Mvc.FromRoute(Name = "predictor_name")] string predictorName,
        [Microsoft.AspNetCore.Mvc.FromRoute(Name = "model_id")] string modelId,
        ReferenceStore store,
        CancellationToken cancellationToken)
    {
        if ((Invalid(predictorName, "predictor_name") ?? Invalid(modelId, "model_id")) is { } invalid)
        {
            return Problem(StatusCodes.Status400BadRequest, invalid);
        }

        return TypedResults.Ok(new ReferenceList(await store.ListAsync(predictorName, modelId, cancellationToken)));
    }

    internal static async Task<Results<NoContent, ProblemHttpResult>> DeleteAsync(
        [Microsoft.AspNetCore.Mvc.FromRoute(Name = "predictor_name")] string predictorName,
        [Microsoft.AspNetCore.Mvc.FromRoute(Name = "model_id")] string modelId,
        string? name,
        HttpContext context,
        ReferenceStore store,
        ILoggerFactory loggers,
        CancellationToken cancellationToken)
    {
        if (name is null)
        {
            return Problem(StatusCodes.Status400BadRequest, "Say which reference to delete: ?name=…");
        }

        if ((Invalid(predictorName, "predictor_name") ?? Invalid(modelId, "model_id") ?? Invalid(name, "name")) is { } invalid)
        {
            return Problem(StatusCodes.Status400BadRequest, invalid);
        }

        var actor = context.Caller().Actor;
        if (!await store.DeleteAsync(new ReferenceKey(predictorName, modelId, name), cancellationToken, actor))
        {
            return Problem(StatusCodes.Status404NotFound, $"{predictorName}/{modelId} has no reference named \"{name}\".");
        }
        loggers.CreateLogger(typeof(ReferenceEndpoints)).LogInformation("Audit: {Actor} {Action} {Reference} of {Predictor}/{Model}", actor, "delete_reference",
            name, predictorName, modelId);
        return TypedResults.NoContent();
    }

    private static string? Invalid(string value, string what) =>
        value.Length == 0 || value.Length > MaxNameLength || value.Any(char.IsControl)
            ? $"{what} must be 1 to {MaxNameLength} characters without control characters."
            : null;

    private static ProblemHttpResult TooLarge(ReferenceOptions settings) =>
        Problem(StatusCodes.Status413PayloadTooLarge, $"The upload is larger than {settings.MaxUploadBytes:N0} bytes (References:MaxUploadBytes).");

    private static ProblemHttpResult Problem(int status, string detail) => TypedResults.Problem(detail: detail, statusCode: status);
}

/// <summary>POST /v1/references/{predictor_name}/{model_id} with application/json: the production period to freeze.</summary>
public sealed record PinRequest(
    [property: JsonPropertyName("from")] DateTimeOffset? From,
    [property: JsonPropertyName("to")] DateTimeOffset? To);

/// <summary>GET /v1/references/{predictor_name}/{model_id}.</summary>
public sealed record ReferenceList([property: JsonPropertyName("references")] IReadOnlyList<ReferenceSummary> References);
