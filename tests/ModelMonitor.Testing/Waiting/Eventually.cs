using System.Diagnostics;
using System.Net.Sockets;

namespace ModelMonitor.Testing.Waiting;

/// <summary>
/// The tests' one way to wait: poll an observable condition until it holds, and fail with a description of what
/// was awaited (and what was seen last) when it does not within the timeout. No fixed sleeps as synchronisation.
/// Errors of servers that a test stops or restarts on purpose (Postgres, HTTP, sockets) count as "not yet".
/// </summary>
public static class Eventually
{
    public static TimeSpan DefaultPoll { get; } = TimeSpan.FromMilliseconds(100);

    /// <summary>Waits until <paramref name="condition"/> returns true.</summary>
    /// <param name="what">What was awaited, for the failure message (evaluated only on failure).</param>
    public static async Task UntilAsync(Func<Task<bool>> condition, TimeSpan timeout, Func<string> what, TimeSpan? poll = null)
    {
        var clock = Stopwatch.StartNew();
        Exception? last = null;
        while (true)
        {
            try
            {
                if (await condition())
                {
                    return;
                }
            }
            catch (Exception e) when (IsTransient(e))
            {
                last = e;
            }
            if (clock.Elapsed > timeout)
            {
                Assert.Fail($"Not within {timeout}: {what()}" + (last is null ? "" : $" (last error: {last.GetType().Name}: {last.Message})"));
            }
            await Task.Delay(poll ?? DefaultPoll);
        }
    }

    /// <summary>Waits until <paramref name="condition"/> returns true; the failure says <paramref name="what"/>.</summary>
    public static Task UntilAsync(Func<Task<bool>> condition, TimeSpan timeout, string what, TimeSpan? poll = null) =>
        UntilAsync(condition, timeout, () => what, poll);

    private static bool IsTransient(Exception e) =>
        e is Npgsql.NpgsqlException or HttpRequestException or SocketException or TaskCanceledException or IOException;
}
