using System.Text.RegularExpressions;

namespace ModelMonitor.Deploy.Tests;

public sealed class MetricCatalogueTests
{
    [Fact]
    public void Every_metric_the_code_registers_is_in_the_documented_catalogue()
    {
        var docs = File.ReadAllText(Repo.File("docs", "exporter.md"));
        var missing = MetricCatalogue.OwnFamilies.Where(name => !Regex.IsMatch(docs, $@"(?<![a-z0-9_]){name}(?![a-z0-9_])")).Order(StringComparer.Ordinal).ToList();

        Assert.True(missing.Count == 0, "docs/exporter.md does not name: " + string.Join(", ", missing));
    }

    [Fact]
    public void The_documented_catalogue_names_nothing_the_code_does_not_register()
    {
        var docs = File.ReadAllText(Repo.File("docs", "exporter.md"));
        var documented = Regex.Matches(docs, "modelmonitor_[a-z0-9_]*[a-z0-9]").Select(m => m.Value).ToHashSet(StringComparer.Ordinal);
        var unknown = documented.Where(name => !MetricCatalogue.OwnFamilies.Contains(name) && !MetricCatalogue.SeriesNames.Contains(name))
            .Order(StringComparer.Ordinal).ToList();

        Assert.True(unknown.Count == 0, "docs/exporter.md names metrics no code registers: " + string.Join(", ", unknown));
    }
}
