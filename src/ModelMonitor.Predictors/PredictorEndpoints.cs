using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using ModelMonitor.Core.Json;
using ModelMonitor.Core.Predictors;
using ModelMonitor.Core.Security;
using ModelMonitor.Core.Shadows;
using ModelMonitor.Security;
using ModelMonitor.Storage.Predictors;

namespace ModelMonitor.Predictors;

/// <summary>
/// The predictor registry's API: PUT/GET/DELETE /v1/predictors/{name}, PUT/DELETE /v1/predictors/{name}/models/{model_id},
/// GET /v1/predictors. Every change is audit-logged (admin_audit and the service log: who, when, what).
/// </summary>
internal static class PredictorEndpoints
{
    /// <summary>A registry body is small: a predictor's fields, or a model's with its version_info.</summary>
    internal const int MaxBodyBytes = 64 * 1024;

    public static IEndpointRouteBuilder MapPredictorEndpoints(this IEndpointRouteBuilder endpoints)
    {
        var predictors = endpoints.MapGroup("/v1/predictors");
        // Writes need the admin scope; reads any key; both only for predictors within the key's patterns.
        predictors.MapGet("", ListAsync).RequireAnyKey();
        predictors.MapPut("/{predictor_name}", PutPredictorAsync).RequireScope(ApiScopes.Admin).RequirePredictorAccess("predictor_name");
        predictors.MapGet("/{predictor_name}", GetAsync).RequireAnyKey().RequirePredictorAccess("predictor_name");
        predictors.MapDelete("/{predictor_name}", (string predictor_name, HttpContext context, PredictorRegistryStore store, ILoggerFactory loggers, CancellationToken ct) =>
            DeleteAsync(predictor_name, null, context, store, loggers, ct)).RequireScope(ApiScopes.Admin).RequirePredictorAccess("predictor_name");
        predictors.MapPut("/{predictor_name}/models/{model_id}", PutModelAsync).RequireScope(ApiScopes.Admin).RequirePredictorAccess("predictor_name");
        predictors.MapDelete("/{predictor_name}/models/{model_id}", (string predictor_name, string model_id, HttpContext context, PredictorRegistryStore store,
            ILoggerFactory loggers, CancellationToken ct) => DeleteAsync(predictor_name, model_id, context, store, loggers, ct))
            .RequireScope(ApiScopes.Admin).RequirePredictorAccess("predictor_name");
        return endpoints;
    }

    internal static IEndpointRouteBuilder MapUnavailablePredictorEndpoints(this IEndpointRouteBuilder endpoints)
    {
        endpoints.Map("/v1/predictors/{**rest}", () => TypedResults.Problem(
            detail: "The predictor registry is stored in Postgres and this service has none: set ConnectionStrings:Postgres.",
            statusCode: StatusCodes.Status503ServiceUnavailable));
        return endpoints;
    }

    private static async Task<IResult> PutPredictorAsync(string predictor_name, HttpContext context, PredictorRegistryStore store,
        IOptions<ShadowOptions> shadow, ILoggerFactory loggers, CancellationToken cancellationToken)
    {
        var (body, problem) = await ReadBodyAsync(predictor_name, null, context, cancellationToken);
        if (problem is not null)
        {
            return problem;
        }
        var faults = new List<RegistryFault>();
        PredictorRegistration? registration;
        using (var document = JsonDocument.Parse(body!))
        {
            registration = PredictorRegistry.ReadPredictor(document.RootElement, shadow.Value.MaxModelsPerPredictor, faults);
        }
        if (registration is null)
        {
            return Invalid(faults);
        }
        var actor = ActorOf(context);
        var written = await store.PutPredictorAsync(predictor_name, registration, PredictorRegistryStore.ApiSource, actor, body!, cancellationToken);
        if (written == RegistryWrite.ManagedByFile)
        {
            return ManagedByFile(predictor_name, null);
        }
        Audit(loggers, actor, "put_predictor", predictor_name, null, written);
        var view = await ViewAsync(predictor_name, store, cancellationToken);
        return written == RegistryWrite.Created
            ? TypedResults.Created($"/v1/predictors/{Uri.EscapeDataString(predictor_name)}", view)
            : TypedResults.Ok(view);
    }

    private static async Task<IResult> PutModelAsync(string predictor_name, string model_id, HttpContext context, PredictorRegistryStore store,
        ILoggerFactory loggers, CancellationToken cancellationToken)
    {
        var (body, problem) = await ReadBodyAsync(predictor_name, model_id, context, cancellationToken);
        if (problem is not null)
        {
            return problem;
        }
        var faults = new List<RegistryFault>();
        ModelRegistration? registration;
        using (var document = JsonDocument.Parse(body!))
        {
            registration = PredictorRegistry.ReadModel(document.RootElement, faults);
        }
        if (registration is null)
        {
            return Invalid(faults);
        }
        var actor = ActorOf(context);
        var written = await store.PutModelAsync(predictor_name, model_id, registration, PredictorRegistryStore.ApiSource, actor, body!, cancellationToken);
        if (written == RegistryWrite.ManagedByFile)
        {
            return ManagedByFile(predictor_name, model_id);
        }
        Audit(loggers, actor, "put_model", predictor_name, model_id, written);
        var view = await ViewAsync(predictor_name, store, cancellationToken);
        return written == RegistryWrite.Created
            ? TypedResults.Created($"/v1/predictors/{Uri.EscapeDataString(predictor_name)}/models/{Uri.EscapeDataString(model_id)}", view)
            : TypedResults.Ok(view);
    }

    private static async Task<IResult> GetAsync(string predictor_name, PredictorRegistryStore store, CancellationToken cancellationToken)
    {
        if (PredictorRegistry.NameProblem(predictor_name) is { } problem)
        {
            return BadRequest("predictor_name", problem);
        }
        var view = await ViewAsync(predictor_name, store, cancellationToken);
        return view is null
            ? TypedResults.Problem(detail: $"No predictor '{predictor_name}': neither registered nor seen in traffic.", statusCode: StatusCodes.Status404NotFound)
            : TypedResults.Ok(view);
    }

    private static async Task<IResult> ListAsync(HttpContext context, PredictorRegistryStore store, CancellationToken cancellationToken)
    {
        var allowed = context.Caller().Predictors;
        var views = await ViewsAsync(null, store, cancellationToken);
        return TypedResults.Ok(new PredictorList([.. views.Where(v => allowed.Allows(v.PredictorName))]));
    }

    private static async Task<IResult> DeleteAsync(string predictorName, string? modelId, HttpContext context, PredictorRegistryStore store,
        ILoggerFactory loggers, CancellationToken cancellationToken)
    {
        if ((PredictorRegistry.NameProblem(predictorName) is { } problem ? ("predictor_name", problem)
            : modelId is not null && PredictorRegistry.NameProblem(modelId) is { } modelProblem ? ("model_id", modelProblem) : default) is ({ } field, { } message))
        {
            return BadRequest(field, message);
        }
        var actor = ActorOf(context);
        var written = await store.DeleteAsync(predictorName, modelId, PredictorRegistryStore.ApiSource, actor, cancellationToken);
        switch (written)
        {
            case RegistryWrite.ManagedByFile:
                return ManagedByFile(predictorName, modelId);
            case RegistryWrite.NotFound:
                return TypedResults.Problem(detail: modelId is null
                    ? $"No predictor '{predictorName}': neither registered nor seen in traffic."
                    : $"No model '{modelId}' of predictor '{predictorName}': neither registered nor seen in traffic.", statusCode: StatusCodes.Status404NotFound);
            default:
                Audit(loggers, actor, modelId is null ? "delete_predictor" : "delete_model", predictorName, modelId, written);
                return TypedResults.NoContent();
        }
    }

    private static async Task<(string? Body, IResult? Problem)> ReadBodyAsync(string predictorName, string? modelId, HttpContext context,
        CancellationToken cancellationToken)
    {
        if (PredictorRegistry.NameProblem(predictorName) is { } problem)
        {
            return (null, BadRequest("predictor_name", problem));
        }
        if (modelId is not null && PredictorRegistry.NameProblem(modelId) is { } modelProblem)
        {
            return (null, BadRequest("model_id", modelProblem));
        }
        if (!(context.Request.ContentType?.StartsWith("application/json", StringComparison.OrdinalIgnoreCase) ?? false))
        {
            return (null, TypedResults.Problem(detail: "Send the registration as application/json.", statusCode: StatusCodes.Status415UnsupportedMediaType));
        }
        if (context.Request.ContentLength > MaxBodyBytes)
        {
            return (null, TooLarge());
        }
        using var buffer = new MemoryStream();
        var chunk = new byte[8192];
        int read;
        while ((read = await context.Request.Body.ReadAsync(chunk, cancellationToken)) > 0)
        {
            if (buffer.Length + read > MaxBodyBytes)
            {
                return (null, TooLarge());
            }
            buffer.Write(chunk, 0, read);
        }
        if (!System.Text.Unicode.Utf8.IsValid(buffer.GetBuffer().AsSpan(0, (int)buffer.Length)))
        {
            return (null, BadRequest("$", "is not valid UTF-8"));
        }
        // Text Postgres cannot store (U+0000, a lone surrogate escape) is refused before it is read as strings or stored as jsonb.
        if (StorableText.Problem(buffer.GetBuffer().AsSpan(0, (int)buffer.Length)) is { } unstorable)
        {
            return (null, BadRequest("$", $"the body {unstorable}"));
        }
        try
        {
            using var document = JsonDocument.Parse(buffer.ToArray(), new JsonDocumentOptions { MaxDepth = 16 });
            return (document.RootElement.GetRawText(), null);
        }
        catch (JsonException e)
        {
            return (null, BadRequest("$", $"is not valid JSON: {e.Message}"));
        }
    }

    private static ProblemHttpResult TooLarge() =>
        TypedResults.Problem(detail: $"A registry body is at most {MaxBodyBytes / 1024} KiB.", statusCode: StatusCodes.Status413PayloadTooLarge);

    private static ValidationProblem BadRequest(string field, string message) => Invalid([new RegistryFault(field, message)]);

    private static ValidationProblem Invalid(List<RegistryFault> faults) => TypedResults.ValidationProblem(
        faults.GroupBy(f => f.Field).ToDictionary(g => g.Key, g => g.Select(f => f.Message).ToArray()),
        detail: string.Join("; ", faults.Select(f => $"{f.Field}: {f.Message}")));

    private static ProblemHttpResult ManagedByFile(string predictorName, string? modelId) => TypedResults.Problem(
        detail: $"{(modelId is null ? $"Predictor '{predictorName}'" : $"Model '{modelId}' of predictor '{predictorName}'")} is registered by the registry file (Predictors:File): change it there.",
        statusCode: StatusCodes.Status409Conflict);

    /// <summary>Who made a change, for the audit log: the client's address (and, once API keys exist, the key's id).</summary>
    /// <summary>Who the audit log names: key:&lt;id&gt;, or anonymous:&lt;address&gt; with Auth:Mode=None.</summary>
    private static string ActorOf(HttpContext context) => context.Caller().Actor;

    private static void Audit(ILoggerFactory loggers, string actor, string action, string predictor, string? model, RegistryWrite result) =>
        loggers.CreateLogger("ModelMonitor.Predictors.Audit").LogInformation("Audit: {Actor} {Action} predictor {Predictor} {Model} ({Result})",
            actor, action, predictor, model ?? "", result);

    private static async Task<PredictorView?> ViewAsync(string name, PredictorRegistryStore store, CancellationToken cancellationToken) =>
        (await ViewsAsync(name, store, cancellationToken)).SingleOrDefault();

    private static async Task<IReadOnlyList<PredictorView>> ViewsAsync(string? name, PredictorRegistryStore store, CancellationToken cancellationToken)
    {
        var registered = (await store.ReadPredictorsAsync(name, cancellationToken)).ToDictionary(p => p.PredictorName, StringComparer.Ordinal);
        var models = (await store.ReadModelsAsync(name, cancellationToken)).ToLookup(m => m.PredictorName, StringComparer.Ordinal);
        var seen = (await store.ReadSeenModelsAsync(name, cancellationToken)).ToLookup(m => m.PredictorName, StringComparer.Ordinal);
        var primaries = (await store.ReadPrimariesAsync(cancellationToken)).ToDictionary(p => p.PredictorName, StringComparer.Ordinal);
        var names = registered.Keys.Concat(models.Select(g => g.Key)).Concat(seen.Select(g => g.Key)).Distinct(StringComparer.Ordinal)
            .Where(n => name is null || n == name).Order(StringComparer.Ordinal);
        var views = new List<PredictorView>();
        foreach (var predictor in names)
        {
            var registration = registered.GetValueOrDefault(predictor);
            (string, bool)? primary = registration?.Registration.PrimaryModelId is { } p ? (p, true)
                : primaries.TryGetValue(predictor, out var recorded) && recorded.Source == "inferred" ? (recorded.ModelId, false) : null;
            var shadows = registration?.Registration.ShadowModelIds ?? [];
            var registeredModels = models[predictor].ToDictionary(m => m.ModelId, StringComparer.Ordinal);
            var seenModels = seen[predictor].ToDictionary(m => m.ModelId, StringComparer.Ordinal);
            var modelIds = registeredModels.Keys.Concat(seenModels.Keys).Concat(shadows)
                .Concat(registration?.Registration.PrimaryModelId is { } rp ? [rp] : []).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal);
            views.Add(new PredictorView(
                predictor,
                registration is not null,
                registration?.Registration.PrimaryModelId,
                shadows,
                registration?.Registration.Team,
                registration?.Registration.Labels ?? new Dictionary<string, string>(),
                registration?.Registration.MaxModelAge is { } age ? Durations.Format(age) : null,
                registration?.Source,
                registration?.UpdatedAt,
                primaries.TryGetValue(predictor, out var current) ? new PrimaryView(current.ModelId, current.Source, current.Since) : null,
                [.. modelIds.Select(id =>
                {
                    var r = registeredModels.GetValueOrDefault(id);
                    var s = seenModels.GetValueOrDefault(id);
                    return new ModelView(id, ModelRoles.RoleOf(id, primary, shadows), r?.Registration.TrainedAt, r?.Registration.TrainingDataEnd,
                        r is null ? null : JsonDocument.Parse(r.Registration.VersionInfo).RootElement.Clone(), s?.FirstSeen, s?.LastSeen, s?.Retired ?? false, r?.Source);
                })]));
        }
        return views;
    }
}

/// <summary>GET /v1/predictors.</summary>
public sealed record PredictorList([property: JsonPropertyName("predictors")] IReadOnlyList<PredictorView> Predictors);

/// <summary>GET /v1/predictors/{name}: the registration (if any), the current primary and every model, registered or seen.</summary>
public sealed record PredictorView(
    [property: JsonPropertyName("predictor_name")] string PredictorName,
    [property: JsonPropertyName("registered")] bool Registered,
    [property: JsonPropertyName("primary_model_id")] string? PrimaryModelId,
    [property: JsonPropertyName("shadow_model_ids")] IReadOnlyList<string> ShadowModelIds,
    [property: JsonPropertyName("team")] string? Team,
    [property: JsonPropertyName("labels")] IReadOnlyDictionary<string, string> Labels,
    [property: JsonPropertyName("max_model_age")] string? MaxModelAge,
    [property: JsonPropertyName("source")] string? Source,
    [property: JsonPropertyName("updated_at")] DateTimeOffset? UpdatedAt,
    [property: JsonPropertyName("current_primary")] PrimaryView? CurrentPrimary,
    [property: JsonPropertyName("models")] IReadOnlyList<ModelView> Models);

/// <summary>The primary as the aggregator last decided it.</summary>
public sealed record PrimaryView(
    [property: JsonPropertyName("model_id")] string ModelId,
    [property: JsonPropertyName("source")] string Source,
    [property: JsonPropertyName("since")] DateTimeOffset Since);

public sealed record ModelView(
    [property: JsonPropertyName("model_id")] string ModelId,
    [property: JsonPropertyName("role")] string Role,
    [property: JsonPropertyName("trained_at")] DateTimeOffset? TrainedAt,
    [property: JsonPropertyName("training_data_end")] DateTimeOffset? TrainingDataEnd,
    [property: JsonPropertyName("version_info")] JsonElement? VersionInfo,
    [property: JsonPropertyName("first_seen")] DateTimeOffset? FirstSeen,
    [property: JsonPropertyName("last_seen")] DateTimeOffset? LastSeen,
    [property: JsonPropertyName("retired")] bool Retired,
    [property: JsonPropertyName("source")] string? Source);
