using System.Reflection;
using System.Runtime.InteropServices;

namespace ModelMonitor.Hosting.Kafka;

/// <summary>
/// Makes Confluent.Kafka find the operating system's librdkafka. We do not ship librdkafka.redist (see
/// nuget.config); Debian's librdkafka1 installs only librdkafka.so.1, while Confluent.Kafka asks for the
/// unversioned "librdkafka", which exists only with the -dev package. This resolver maps the name to
/// the versioned file (and still honours an unversioned one, or MODELMONITOR_LIBRDKAFKA, when present).
/// </summary>
public static class KafkaNative
{
    private static readonly Lock Gate = new();
    private static bool s_registered;

    /// <summary>Call before creating any Confluent.Kafka client. Idempotent and thread-safe.</summary>
    public static void EnsureLoaded()
    {
        lock (Gate)
        {
            if (s_registered)
            {
                return;
            }
            NativeLibrary.SetDllImportResolver(typeof(Confluent.Kafka.Library).Assembly, Resolve);
            s_registered = true;
        }
    }

    private static IntPtr Resolve(string libraryName, Assembly assembly, DllImportSearchPath? searchPath)
    {
        if (!libraryName.Contains("librdkafka", StringComparison.Ordinal))
        {
            return IntPtr.Zero;
        }
        var candidates = new List<string>();
        if (Environment.GetEnvironmentVariable("MODELMONITOR_LIBRDKAFKA") is { Length: > 0 } explicitPath)
        {
            candidates.Add(explicitPath);
        }
        candidates.AddRange(["librdkafka.so.1", "librdkafka.so", "librdkafka.dylib", "librdkafka.dll"]);
        foreach (var candidate in candidates)
        {
            if (NativeLibrary.TryLoad(candidate, out var handle))
            {
                return handle;
            }
        }
        throw new DllNotFoundException(
            "librdkafka was not found. Install the operating system's package (Debian/Ubuntu: apt-get install librdkafka1) " +
            "or set MODELMONITOR_LIBRDKAFKA to the library's path.");
    }
}
