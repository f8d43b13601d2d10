using YamlDotNet.Core;
using YamlDotNet.Serialization;

namespace ModelMonitor.Deploy.Tests;

/// <summary>Loads YAML into plain dictionaries and lists, resolving anchors and merge keys (`<<:`)
/// the way docker compose does.</summary>
internal static class Yaml
{
    public static Dictionary<object, object?> Load(string path)
    {
        using var reader = new StreamReader(path);
        var parser = new MergingParser(new Parser(reader));
        var value = new DeserializerBuilder().Build().Deserialize<object?>(parser);
        return value as Dictionary<object, object?> ?? throw new InvalidDataException($"{path}: not a YAML mapping");
    }

    public static Dictionary<object, object?> Map(this Dictionary<object, object?> map, string key) =>
        map.TryGetValue(key, out var value) && value is Dictionary<object, object?> child
            ? child
            : throw new KeyNotFoundException($"mapping '{key}' not found");

    public static Dictionary<object, object?>? MapOrNull(this Dictionary<object, object?> map, string key) =>
        map.TryGetValue(key, out var value) ? value as Dictionary<object, object?> : null;

    public static List<object?> List(this Dictionary<object, object?> map, string key) =>
        map.TryGetValue(key, out var value) && value is List<object?> list ? list : [];

    public static string? Str(this Dictionary<object, object?> map, string key) =>
        map.TryGetValue(key, out var value) ? value as string : null;

    public static IEnumerable<Dictionary<object, object?>> Maps(this List<object?> list) =>
        list.OfType<Dictionary<object, object?>>();
}
