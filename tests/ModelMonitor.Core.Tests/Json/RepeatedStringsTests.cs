using System.Text;
using System.Text.Json;
using ModelMonitor.Core.Json;

namespace ModelMonitor.Core.Tests.Json;

public sealed class RepeatedStringsTests
{
    private static string ReadFirstString(string json)
    {
        var reader = new Utf8JsonReader(Encoding.UTF8.GetBytes(json));
        reader.Read();
        return RepeatedStrings.Read(ref reader);
    }

    [Fact]
    public void The_same_short_string_read_twice_is_one_shared_instance()
    {
        var name = "feature_" + Guid.NewGuid().ToString("N");

        var first = ReadFirstString($"\"{name}\"");
        var second = ReadFirstString($"\"{name}\"");

        Assert.Equal(name, first);
        Assert.Same(first, second);
    }

    [Fact]
    public void Escapes_are_decoded_before_the_lookup()
    {
        var id = Guid.NewGuid().ToString("N");

        var escaped = ReadFirstString($"\"caf\\u00e9 \\\"{id}\\\"\"");
        var plain = ReadFirstString($"\"café \\\"{id}\\\"\"");

        Assert.Equal($"café \"{id}\"", escaped);
        Assert.Same(escaped, plain);
    }

    [Fact]
    public void Long_strings_are_read_exactly_but_not_shared()
    {
        var text = new string('x', RepeatedStrings.MaxCachedLength + 1) + Guid.NewGuid().ToString("N");

        var first = ReadFirstString($"\"{text}\"");
        var second = ReadFirstString($"\"{text}\"");

        Assert.Equal(text, first);
        Assert.NotSame(first, second);
    }
}
