using Deque.AxeCore.Commons;
using Deque.AxeCore.Playwright;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using ModelMonitor.Testing.Tools;

namespace ModelMonitor.Exporter.Tests.Console;

/// <summary>
/// The console in a real browser (Debian's chromium driven by Playwright) on the exporter host served by Kestrel: every page
/// passes axe-core's WCAG 2.1 A/AA rules at 1280×800 and at a phone's width without scrolling sideways, and a person can go
/// from the model page to a feature with the keyboard alone (skip link, range selector, Show, a feature's link), the focus
/// always visible. Screenshots at both widths are kept with the test's output (artifacts/).
/// </summary>
public sealed class ConsoleBrowserTests(ConsolePagesTests.Data data) : IClassFixture<ConsolePagesTests.Data>
{
    private static readonly string[] Pages =
    [
        "/",
        "/model?predictor=eta&model=v1&range=6h&window=60",
        "/feature?predictor=eta&model=v1&feature=distance&range=6h&window=60",
        "/feature?predictor=eta&model=v1&feature=weather&range=6h&window=60",
    ];

    [Fact]
    public async Task Every_page_passes_axe_at_desktop_and_phone_widths_without_sideways_scrolling()
    {
        await using var host = await ConsoleServer.StartAsync(data.Database.ConnectionString, data.Now);
        await using var browser = await ConsoleServer.BrowserAsync();
        var failures = new List<string>();
        foreach (var (width, height, label) in new[] { (1280, 800, "desktop"), (390, 844, "phone") })
        {
            var page = await browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = width, Height = height } });
            foreach (var (path, index) in Pages.Select((p, i) => (p, i)))
            {
                var response = await page.GotoAsync(host.Url + path);
                Assert.Equal(200, response?.Status);
                var result = await page.RunAxe(new AxeRunOptions { RunOnly = new RunOnlyOptions { Type = "tag", Values = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] } });
                failures.AddRange(result.Violations.Select(v =>
                    $"{label} {path}: {v.Id} ({v.Impact}): {v.Help} at {string.Join(", ", v.Nodes.Take(3).Select(n => n.Target?.ToString()))}"));
                var overflow = await page.EvaluateAsync<int>("() => document.documentElement.scrollWidth - window.innerWidth");
                if (overflow > 1)
                {
                    failures.Add($"{label} {path}: the page is {overflow} px wider than the window");
                }
                await page.ScreenshotAsync(new PageScreenshotOptions { Path = ConsoleServer.Artifact($"console-{index}-{label}.png"), FullPage = true });
            }
            await page.CloseAsync();
        }
        Assert.True(failures.Count == 0, string.Join('\n', failures));
    }

    [Fact]
    public async Task A_person_goes_from_the_model_page_to_a_feature_with_the_keyboard_alone()
    {
        await using var host = await ConsoleServer.StartAsync(data.Database.ConnectionString, data.Now);
        await using var browser = await ConsoleServer.BrowserAsync();
        var page = await browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1280, Height = 800 } });
        await page.GotoAsync(host.Url + "/model?predictor=eta&model=v1&range=6h&window=60");

        // The first Tab reaches the skip link, shown when focused; Enter jumps to the content.
        await page.Keyboard.PressAsync("Tab");
        Assert.Equal("Skip to content", await page.EvaluateAsync<string>("() => document.activeElement.textContent"));
        Assert.Equal("solid", await page.EvaluateAsync<string>("() => getComputedStyle(document.activeElement).outlineStyle"));
        await page.Keyboard.PressAsync("Enter");
        Assert.EndsWith("#content", page.Url, StringComparison.Ordinal);

        // Tab to the range, choose the next one with the arrow key, Tab to Show, Enter: the URL (to share) has the new range.
        await TabUntilAsync(page, "select[name=range]");
        Assert.Equal("solid", await page.EvaluateAsync<string>("() => getComputedStyle(document.activeElement).outlineStyle"));
        await page.Keyboard.PressAsync("ArrowDown");
        Assert.Equal("24h", await page.EvaluateAsync<string>("() => document.activeElement.value"));
        await TabUntilAsync(page, "form.controls button");
        // Waiting from before the key press: the navigation may be over before a wait started after it would begin.
        var submitted = page.WaitForURLAsync(url => url.Contains("range=24h", StringComparison.Ordinal));
        await page.Keyboard.PressAsync("Enter");
        await submitted;
        Assert.Contains("predictor=eta", page.Url, StringComparison.Ordinal);

        // Tab to a feature's link in the table, Enter: the feature's page.
        await TabUntilAsync(page, "tr[data-feature] a");
        var followed = page.WaitForURLAsync(url => url.Contains("/feature?", StringComparison.Ordinal));
        await page.Keyboard.PressAsync("Enter");
        await followed;
        Assert.Equal("distance", await page.TextContentAsync("h1"));
    }

    private static async Task TabUntilAsync(IPage page, string selector)
    {
        for (var i = 0; i < 80; i++)
        {
            await page.Keyboard.PressAsync("Tab");
            if (await page.EvaluateAsync<bool>($"() => document.activeElement.matches({System.Text.Json.JsonSerializer.Serialize(selector)})"))
            {
                return;
            }
        }
        Assert.Fail($"80 presses of Tab never reached {selector}");
    }
}

/// <summary>The exporter host on Kestrel (a browser needs a real socket) and the browser.</summary>
internal sealed class ConsoleServer : IAsyncDisposable
{
    private readonly WebApplicationFactory<Program> _factory;

    private ConsoleServer(WebApplicationFactory<Program> factory, string url) => (_factory, Url) = (factory, url);

    public string Url { get; }

    /// <summary>The exporter's own evaluation, shadow and drift families off: the console tests' rows carry no accumulator
    /// state or sketches (the console reads the computed columns only; those families are tested on real state elsewhere).</summary>
    public static readonly (string Key, string Value)[] Settings = [("Evaluation:Enabled", "false"), ("Shadow:Enabled", "false"), ("Drift:Enabled", "false")];

    public static async Task<ConsoleServer> StartAsync(string connectionString, DateTimeOffset now)
    {
        var factory = ExporterHost.On(connectionString, new FixedTime(now), Settings);
        factory.UseKestrel(0);
        factory.StartServer();
        var address = factory.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        var server = new ConsoleServer(factory, address.Replace("[::]", "127.0.0.1", StringComparison.Ordinal).TrimEnd('/'));
        using var client = new HttpClient { BaseAddress = new Uri(server.Url) };
        await ExporterHost.ReadyAsync(client);
        return server;
    }

    /// <summary>Debian's chromium, headless, with the flags that keep it off this machine's closed network.</summary>
    public static async Task<BrowserHandle> BrowserAsync()
    {
        var playwright = await Playwright.CreateAsync();
        var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = ExternalTool.Require("chromium", "chromium"),
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        });
        return new BrowserHandle(playwright, browser);
    }

    public static string Artifact(string name)
    {
        var directory = Path.Combine(AppContext.BaseDirectory, "artifacts");
        Directory.CreateDirectory(directory);
        return Path.Combine(directory, name);
    }

    public async ValueTask DisposeAsync() => await _factory.DisposeAsync();
}

internal sealed class BrowserHandle(IPlaywright playwright, IBrowser browser) : IAsyncDisposable
{
    public Task<IPage> NewPageAsync(BrowserNewPageOptions options) => browser.NewPageAsync(options);

    public async ValueTask DisposeAsync()
    {
        await browser.CloseAsync();
        playwright.Dispose();
    }
}
