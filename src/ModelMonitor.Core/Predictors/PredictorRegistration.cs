using System.Globalization;
using System.Text.Json;

namespace ModelMonitor.Core.Predictors;

/// <summary>A registered predictor: PUT /v1/predictors/{name} or an entry of the registry file.</summary>
/// <param name="PrimaryModelId">The model serving the predictor's answers; null: inferred from traffic.</param>
/// <param name="ShadowModelIds">Models predicting the same requests, compared with the primary.</param>
/// <param name="MaxModelAge">ModelMonitorModelTooOld fires when a model's age (now − trained_at) exceeds it.</param>
/// <param name="Retired">true retires the predictor (as DELETE does) but keeps its registration; false brings a retired one
/// back; null (absent) leaves it as it is.</param>
public sealed record PredictorRegistration(
    string? PrimaryModelId,
    IReadOnlyList<string> ShadowModelIds,
    string? Team,
    IReadOnlyDictionary<string, string> Labels,
    TimeSpan? MaxModelAge,
    bool? Retired);

/// <summary>A registered model: PUT /v1/predictors/{name}/models/{model_id}.</summary>
/// <param name="VersionInfo">Any JSON object (git commit, framework, training job): stored and listed, not interpreted.</param>
/// <param name="Retired">true retires the model (as DELETE does), false brings a retired one back, null leaves it.</param>
public sealed record ModelRegistration(DateTimeOffset? TrainedAt, DateTimeOffset? TrainingDataEnd, string VersionInfo, bool? Retired);

/// <summary>A field of a registry request that is not valid, and why.</summary>
public sealed record RegistryFault(string Field, string Message);

/// <summary>
/// Reads and validates registry bodies (the API's JSON, the registry file's entries converted to JSON): every field named
/// in an error, unknown fields refused, names under the prediction contract's rules (1 to 200 characters, no control
/// characters), a model not both primary and shadow, at most <c>maxModels</c> − 1 shadows, durations like 30d, 12h,
/// 90m, 45s or 2w.
/// </summary>
public static class PredictorRegistry
{
    public const int MaxNameLength = 200;
    public const int MaxLabels = 50;
    public const int MaxVersionInfoBytes = 16 * 1024;

    private static readonly string[] PredictorFields = ["primary_model_id", "shadow_model_ids", "team", "labels", "max_model_age", "retired"];
    private static readonly string[] ModelFields = ["trained_at", "training_data_end", "version_info", "retired"];

    /// <summary>Why a predictor name or model id (from the path) is not valid, or null.</summary>
    public static string? NameProblem(string value) =>
        value.Length == 0 || value.Length > MaxNameLength || value.Any(char.IsControl) || !IsWellFormed(value)
            ? $"must be 1 to {MaxNameLength} characters without control characters"
            : null;

    public static PredictorRegistration? ReadPredictor(JsonElement body, int maxModels, List<RegistryFault> faults)
    {
        if (!IsObject(body, faults))
        {
            return null;
        }
        KnownFieldsOnly(body, PredictorFields, faults); // and the known ones checked too: every problem in one answer
        var primary = OptionalName(body, "primary_model_id", faults);
        var shadows = new List<string>();
        if (body.TryGetProperty("shadow_model_ids", out var list) && list.ValueKind != JsonValueKind.Null)
        {
            if (list.ValueKind != JsonValueKind.Array)
            {
                faults.Add(new("shadow_model_ids", "must be an array of model ids"));
            }
            else
            {
                var index = 0;
                foreach (var item in list.EnumerateArray())
                {
                    var field = $"shadow_model_ids[{index++}]";
                    if (item.ValueKind != JsonValueKind.String)
                    {
                        faults.Add(new(field, "must be a model id (a string)"));
                        continue;
                    }
                    var id = item.GetString()!;
                    if (NameProblem(id) is { } problem)
                    {
                        faults.Add(new(field, problem));
                    }
                    else if (id == primary)
                    {
                        faults.Add(new(field, $"'{id}' is the primary_model_id: a model is either the primary or a shadow"));
                    }
                    else if (shadows.Contains(id, StringComparer.Ordinal))
                    {
                        faults.Add(new(field, $"'{id}' is listed twice"));
                    }
                    else
                    {
                        shadows.Add(id);
                    }
                }
                if (index > maxModels - 1)
                {
                    faults.Add(new("shadow_model_ids", $"lists {index} models: at most {maxModels - 1} shadows per predictor (Shadow:MaxModelsPerPredictor = {maxModels} models)"));
                }
            }
        }
        var team = OptionalName(body, "team", faults);
        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        if (body.TryGetProperty("labels", out var labelObject) && labelObject.ValueKind != JsonValueKind.Null)
        {
            if (labelObject.ValueKind != JsonValueKind.Object)
            {
                faults.Add(new("labels", "must be an object of string values"));
            }
            else
            {
                foreach (var label in labelObject.EnumerateObject())
                {
                    var field = $"labels.{label.Name}";
                    if (NameProblem(label.Name) is { } problem)
                    {
                        faults.Add(new(field, $"the label name {problem}"));
                    }
                    else if (label.Value.ValueKind != JsonValueKind.String || NameProblem(label.Value.GetString()!) is not null)
                    {
                        faults.Add(new(field, $"must be a string of 1 to {MaxNameLength} characters without control characters"));
                    }
                    else
                    {
                        labels[label.Name] = label.Value.GetString()!;
                    }
                }
                if (labels.Count > MaxLabels)
                {
                    faults.Add(new("labels", $"has {labels.Count} labels: at most {MaxLabels}"));
                }
            }
        }
        TimeSpan? maxAge = null;
        if (body.TryGetProperty("max_model_age", out var age) && age.ValueKind != JsonValueKind.Null)
        {
            if (age.ValueKind != JsonValueKind.String || !Durations.TryParse(age.GetString()!, out var parsed))
            {
                faults.Add(new("max_model_age", $"must be a duration like \"30d\", \"12h\", \"90m\", \"45s\" or \"2w\" (at most {Durations.MaxDays} days), got {age.GetRawText()}"));
            }
            else
            {
                maxAge = parsed;
            }
        }
        var retired = OptionalBool(body, "retired", faults);
        return faults.Count > 0 ? null : new PredictorRegistration(primary, shadows, team, labels, maxAge, retired);
    }

    public static ModelRegistration? ReadModel(JsonElement body, List<RegistryFault> faults)
    {
        if (!IsObject(body, faults))
        {
            return null;
        }
        KnownFieldsOnly(body, ModelFields, faults); // and the known ones checked too: every problem in one answer
        var trainedAt = OptionalTime(body, "trained_at", faults);
        var dataEnd = OptionalTime(body, "training_data_end", faults);
        if (trainedAt is { } t && dataEnd is { } d && d > t)
        {
            faults.Add(new("training_data_end", "is after trained_at: a model cannot be trained on data from after its training"));
        }
        var versionInfo = "{}";
        if (body.TryGetProperty("version_info", out var info) && info.ValueKind != JsonValueKind.Null)
        {
            if (info.ValueKind != JsonValueKind.Object)
            {
                faults.Add(new("version_info", "must be a JSON object"));
            }
            else if (info.GetRawText() is var raw && raw.Length > MaxVersionInfoBytes)
            {
                faults.Add(new("version_info", $"is larger than {MaxVersionInfoBytes} bytes"));
            }
            else if (raw.Contains("\\u0000", StringComparison.Ordinal))
            {
                faults.Add(new("version_info", "must not contain U+0000 (Postgres cannot store it)"));
            }
            else
            {
                versionInfo = raw;
            }
        }
        var retired = OptionalBool(body, "retired", faults);
        return faults.Count > 0 ? null : new ModelRegistration(trainedAt, dataEnd, versionInfo, retired);
    }

    private static bool IsObject(JsonElement body, List<RegistryFault> faults)
    {
        if (body.ValueKind == JsonValueKind.Object)
        {
            return true;
        }
        faults.Add(new("$", $"the body must be a JSON object, got {body.ValueKind.ToString().ToLowerInvariant()}"));
        return false;
    }

    private static void KnownFieldsOnly(JsonElement body, string[] known, List<RegistryFault> faults)
    {
        foreach (var property in body.EnumerateObject())
        {
            if (!known.Contains(property.Name, StringComparer.Ordinal))
            {
                faults.Add(new(property.Name, $"unknown field (known: {string.Join(", ", known)})"));
            }
        }
    }

    private static string? OptionalName(JsonElement body, string field, List<RegistryFault> faults)
    {
        if (!body.TryGetProperty(field, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }
        if (value.ValueKind != JsonValueKind.String)
        {
            faults.Add(new(field, $"must be a string, got {value.ValueKind.ToString().ToLowerInvariant()}"));
            return null;
        }
        var text = value.GetString()!;
        if (NameProblem(text) is { } problem)
        {
            faults.Add(new(field, problem));
            return null;
        }
        return text;
    }

    private static bool? OptionalBool(JsonElement body, string field, List<RegistryFault> faults)
    {
        if (!body.TryGetProperty(field, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }
        if (value.ValueKind is not (JsonValueKind.True or JsonValueKind.False))
        {
            faults.Add(new(field, "must be true or false"));
            return null;
        }
        return value.GetBoolean();
    }

    private static DateTimeOffset? OptionalTime(JsonElement body, string field, List<RegistryFault> faults)
    {
        if (!body.TryGetProperty(field, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }
        if (value.ValueKind == JsonValueKind.String && value.GetString() is { } text
            && (text.EndsWith('Z') || text.EndsWith('z') || (text.Length > 6 && text[^6] is '+' or '-' && text[^3] == ':'))
            && DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.None, out var time))
        {
            return time.ToUniversalTime();
        }
        faults.Add(new(field, $"must be an RFC 3339 time with a zone, like \"2026-11-30T08:00:00Z\", got {value.GetRawText()}"));
        return null;
    }

    private static bool IsWellFormed(string value)
    {
        for (var i = 0; i < value.Length; i++)
        {
            if (char.IsHighSurrogate(value[i]) && i + 1 < value.Length && char.IsLowSurrogate(value[i + 1]))
            {
                i++;
            }
            else if (char.IsSurrogate(value[i]))
            {
                return false;
            }
        }
        return true;
    }
}

/// <summary>Durations as the registry writes them: a positive whole number and a unit, s, m, h, d or w ("30d").</summary>
public static class Durations
{
    public const int MaxDays = 3_660;

    public static bool TryParse(string text, out TimeSpan duration)
    {
        duration = default;
        text = text.Trim();
        if (text.Length < 2 || !long.TryParse(text.AsSpan(0, text.Length - 1), NumberStyles.None, CultureInfo.InvariantCulture, out var amount) || amount <= 0)
        {
            return false;
        }
        var seconds = text[^1] switch
        {
            's' => 1L,
            'm' => 60L,
            'h' => 3_600L,
            'd' => 86_400L,
            'w' => 604_800L,
            _ => 0L,
        };
        if (seconds == 0 || amount > (long)MaxDays * 86_400 / seconds)
        {
            return false;
        }
        duration = TimeSpan.FromSeconds(amount * seconds);
        return true;
    }

    /// <summary>The largest whole unit that divides the duration: 30d, 36h, 90m, 45s.</summary>
    public static string Format(TimeSpan duration)
    {
        var seconds = (long)duration.TotalSeconds;
        foreach (var (unit, size) in (ReadOnlySpan<(char, long)>)[('w', 604_800L), ('d', 86_400L), ('h', 3_600L), ('m', 60L)])
        {
            if (seconds % size == 0 && seconds >= size)
            {
                return string.Create(CultureInfo.InvariantCulture, $"{seconds / size}{unit}");
            }
        }
        return string.Create(CultureInfo.InvariantCulture, $"{seconds}s");
    }
}
