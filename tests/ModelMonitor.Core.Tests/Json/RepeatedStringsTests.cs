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

    [Fact]
    public void Escaped_and_plain_UTF8_spellings_share_one_instance_in_either_order()
    {
        var id = Guid.NewGuid().ToString("N");

        var escapedFirst = ReadFirstString($"\"caf\\u00e9_{id}\"");
        var plain = ReadFirstString($"\"café_{id}\"");
        var plainAgain = ReadFirstString($"\"café_{id}\"");
        var other = Guid.NewGuid().ToString("N");
        var plainFirst = ReadFirstString($"\"ß_{other}\"");
        var escapedLater = ReadFirstString($"\"\\u00df_{other}\"");

        Assert.Equal($"café_{id}", plain);
        Assert.Same(escapedFirst, plain);
        Assert.Same(plain, plainAgain);
        Assert.Equal($"ß_{other}", plainFirst);
        Assert.Same(plainFirst, escapedLater);
    }

    [Fact]
    public void Strings_that_differ_only_in_bytes_far_apart_are_told_apart()
    {
        var stem = new string('n', RepeatedStrings.MaxCachedLength - 40) + Guid.NewGuid().ToString("N");

        Assert.Equal(stem + "a", ReadFirstString($"\"{stem}a\""));
        Assert.Equal(stem + "b", ReadFirstString($"\"{stem}b\""));
        Assert.Equal("a" + stem, ReadFirstString($"\"a{stem}\""));
        Assert.Equal(stem + "a", ReadFirstString($"\"{stem}a\""));
    }
}
