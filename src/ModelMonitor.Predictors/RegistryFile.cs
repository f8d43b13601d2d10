using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using ModelMonitor.Core.Predictors;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace ModelMonitor.Predictors;

/// <summary>The registry file's entries, read and validated.</summary>
public sealed record RegistryFileContent(
    IReadOnlyList<(string Name, PredictorRegistration Registration, string Body)> Predictors,
    IReadOnlyList<(string Name, string ModelId, ModelRegistration Registration, string Body)> Models);

/// <summary>
/// Reads the registry file (Predictors:File), the GitOps alternative to the API:
/// <code>
/// predictors:
///   eta_prediction:
///     primary_model_id: eta_v12
///     shadow_model_ids: [eta_v13_shadow]
///     max_model_age: 30d
///     models:
///       eta_v12: {trained_at: "2026-11-20T00:00:00Z", version_info: {git: 3f2a1c9}}
/// </code>
/// Each predictor entry takes the fields of PUT /v1/predictors/{name} plus <c>models</c> (model id → the fields of PUT
/// /v1/predictors/{name}/models/{model_id}), validated by the same rules. YAML scalars are read as JSON: plain true/false,
/// null and numbers as such, everything else (quoted or not) as a string.
/// </summary>
public static class RegistryFile
{
    /// <exception cref="FormatException">The file is not valid, with the entry and field named.</exception>
    public static RegistryFileContent Read(TextReader text, string path, int maxModels)
    {
        var stream = new YamlStream();
        try
        {
            stream.Load(text);
        }
        catch (YamlException e)
        {
            throw new FormatException($"{path}: not valid YAML at line {e.Start.Line}: {e.Message}", e);
        }
        var predictors = new List<(string, PredictorRegistration, string)>();
        var models = new List<(string, string, ModelRegistration, string)>();
        if (stream.Documents.Count == 0 || stream.Documents[0].RootNode is YamlScalarNode { Value: null or "" })
        {
            return new RegistryFileContent(predictors, models);
        }
        JsonNode? json;
        try
        {
            json = ToJson(stream.Documents[0].RootNode);
        }
        catch (ArgumentException e)
        {
            throw new FormatException($"{path}: a key appears twice in one mapping ({e.Message}).", e);
        }
        if (json is not JsonObject root || root.Any(p => p.Key != "predictors")
            || root["predictors"] is not (JsonObject or null))
        {
            throw new FormatException($"{path}: the file must be a mapping with one key, predictors (predictor name → its registration).");
        }
        foreach (var (name, entry) in root["predictors"]?.AsObject() ?? [])
        {
            if (PredictorRegistry.NameProblem(name) is { } problem)
            {
                throw new FormatException($"{path}: predictor '{name}': the name {problem}.");
            }
            if (entry is not JsonObject fields)
            {
                throw new FormatException($"{path}: predictor '{name}' must be a mapping of its fields.");
            }
            var modelEntries = fields["models"];
            var predictorFields = new JsonObject(fields.Where(f => f.Key != "models").Select(f => KeyValuePair.Create(f.Key, f.Value?.DeepClone())));
            var faults = new List<RegistryFault>();
            using (var document = JsonDocument.Parse(predictorFields.ToJsonString()))
            {
                var registration = PredictorRegistry.ReadPredictor(document.RootElement, maxModels, faults);
                Throw(path, name, null, faults);
                predictors.Add((name, registration!, predictorFields.ToJsonString()));
            }
            if (modelEntries is null)
            {
                continue;
            }
            if (modelEntries is not JsonObject modelMap)
            {
                throw new FormatException($"{path}: predictor '{name}': models must be a mapping of model id → its fields.");
            }
            foreach (var (modelId, modelEntry) in modelMap)
            {
                if (PredictorRegistry.NameProblem(modelId) is { } modelProblem)
                {
                    throw new FormatException($"{path}: predictor '{name}', model '{modelId}': the model id {modelProblem}.");
                }
                var body = (modelEntry ?? new JsonObject()).ToJsonString();
                using var document = JsonDocument.Parse(body);
                var registration = PredictorRegistry.ReadModel(document.RootElement, faults);
                Throw(path, name, modelId, faults);
                models.Add((name, modelId, registration!, body));
            }
        }
        return new RegistryFileContent(predictors, models);
    }

    private static void Throw(string path, string predictor, string? model, List<RegistryFault> faults)
    {
        if (faults.Count > 0)
        {
            var where = model is null ? $"predictor '{predictor}'" : $"predictor '{predictor}', model '{model}'";
            throw new FormatException($"{path}: {where}: " + string.Join("; ", faults.Select(f => $"{f.Field} {f.Message}")));
        }
    }

    private static JsonNode? ToJson(YamlNode node) => node switch
    {
        YamlMappingNode mapping => new JsonObject(mapping.Children.Select(c => KeyValuePair.Create(
            c.Key is YamlScalarNode key ? key.Value ?? "" : throw new FormatException($"A mapping key at line {c.Key.Start.Line} is not a scalar."),
            ToJson(c.Value)))),
        YamlSequenceNode sequence => new JsonArray([.. sequence.Children.Select(ToJson)]),
        YamlScalarNode scalar => Scalar(scalar),
        _ => throw new FormatException($"Unsupported YAML node at line {node.Start.Line}."),
    };

    private static JsonValue? Scalar(YamlScalarNode scalar)
    {
        var value = scalar.Value ?? "";
        if (scalar.Style is not ScalarStyle.Plain)
        {
            return JsonValue.Create(value);
        }
        return value switch
        {
            "" or "null" or "~" => null,
            "true" => JsonValue.Create(true),
            "false" => JsonValue.Create(false),
            _ when double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var number) && double.IsFinite(number) => JsonValue.Create(number),
            _ => JsonValue.Create(value),
        };
    }
}
