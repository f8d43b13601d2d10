using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Logging;
using ModelMonitor.Hosting;

namespace ModelMonitor.Deploy.Tests;

/// <summary>
/// The series names the services can publish, taken from what the code registers, not from a hand-kept list:
/// every <c>modelmonitor_*</c> name in the sources (the services' metrics and the exporter's statistics families;
/// histograms as _bucket, _sum, _count), and the library metrics (HTTP, process, .NET) a host built with the
/// service defaults serves. Dashboards and rules may only use these, so a typo cannot produce a forever-empty
/// panel or an alert that can never fire; and the documentation must name each of our own.
/// </summary>
internal static partial class MetricCatalogue
{
    private static readonly Lazy<(IReadOnlySet<string> Families, IReadOnlySet<string> Series)> Code = new(FromSources);
    private static readonly Lazy<IReadOnlySet<string>> Library = new(() => FromServiceDefaultsAsync().GetAwaiter().GetResult());

    /// <summary>Every series name a scrape can contain.</summary>
    public static IReadOnlySet<string> SeriesNames => field ??= Code.Value.Series.Concat(Library.Value).ToHashSet(StringComparer.Ordinal);

    /// <summary>The modelmonitor_* metric families the sources register or render.</summary>
    public static IReadOnlySet<string> OwnFamilies => Code.Value.Families;

    /// <summary>A name passed to a call or declared as a constant (<c>const string windowEnd = "modelmonitor_…";</c>).</summary>
    [GeneratedRegex("""(?<create>Create(?<kind>Counter|Gauge|Histogram)\(\s*)?"(?<name>modelmonitor_[a-z0-9_]+)"[,);]""")]
    private static partial Regex MetricLiteral();

    private static (IReadOnlySet<string>, IReadOnlySet<string>) FromSources()
    {
        var families = new HashSet<string>(StringComparer.Ordinal);
        var series = new HashSet<string>(StringComparer.Ordinal);
        foreach (var file in Directory.EnumerateFiles(Repo.File("src"), "*.cs", SearchOption.AllDirectories)
                     .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal)))
        {
            var text = File.ReadAllText(file);
            foreach (Match match in MetricLiteral().Matches(text))
            {
                var name = match.Groups["name"].Value;
                families.Add(name);
                if (match.Groups["kind"].Value == "Histogram")
                {
                    series.UnionWith([name + "_bucket", name + "_sum", name + "_count"]);
                }
                else
                {
                    series.Add(name);
                }
            }
        }
        Assert.True(families.Count > 40, $"only {families.Count} metric names found in the sources: the pattern no longer matches how they are declared");
        return (families, series);
    }

    /// <summary>A host with the service defaults, asked once for /healthz and then for /metrics.</summary>
    private static async Task<IReadOnlySet<string>> FromServiceDefaultsAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.AddServiceDefaults();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        await using var app = builder.Build();
        app.MapOperationalEndpoints();
        await app.StartAsync();
        using var client = new HttpClient { BaseAddress = new Uri(app.Urls.First()) };
        await client.GetStringAsync("/healthz");
        var text = await client.GetStringAsync("/metrics");
        await app.StopAsync();
        var names = text.Split('\n')
            .Where(line => line.Length > 0 && line[0] != '#')
            .Select(line => line[..line.IndexOfAny(['{', ' '])])
            .ToHashSet(StringComparer.Ordinal);
        Assert.Contains("http_requests_received_total", names);
        Assert.Contains("process_cpu_seconds_total", names);
        return names;
    }
}
