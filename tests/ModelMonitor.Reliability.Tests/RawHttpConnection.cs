using System.Diagnostics;
using System.Net.Sockets;
using System.Text;

namespace ModelMonitor.Reliability.Tests;

/// <summary>
/// A hand-written HTTP/1.1 client on a raw socket, to send what HttpClient will not: bodies and headers
/// trickled a byte at a time (slowloris), oversized headers.
/// </summary>
internal sealed class RawHttpConnection : IDisposable
{
    private readonly Socket _socket = new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
    private readonly MemoryStream _received = new();
    private Task? _reader;

    /// <summary>When the server answered or closed the connection (test clock), null while it is open.</summary>
    public TimeSpan? ClosedAt { get; private set; }

    public static async Task<RawHttpConnection> OpenAsync(int port)
    {
        var connection = new RawHttpConnection();
        await connection._socket.ConnectAsync("127.0.0.1", port);
        return connection;
    }

    /// <summary>What the server sent back so far (status line and headers of a response, if any).</summary>
    public string Received
    {
        get
        {
            lock (_received)
            {
                return Encoding.ASCII.GetString(_received.ToArray());
            }
        }
    }

    /// <summary>The status code of the server's answer, or null when it closed without one.</summary>
    public int? Status => Received.StartsWith("HTTP/1.1 ", StringComparison.Ordinal) && int.TryParse(Received.AsSpan(9, 3), out var status) ? status : null;

    /// <summary>Reads in the background; <see cref="ClosedAt"/> is set when the server closes its side.</summary>
    public void StartReading(Stopwatch clock)
    {
        _reader = Task.Run(async () =>
        {
            var buffer = new byte[4096];
            try
            {
                while (true)
                {
                    var read = await _socket.ReceiveAsync(buffer, SocketFlags.None);
                    if (read == 0)
                    {
                        break;
                    }

                    lock (_received)
                    {
                        _received.Write(buffer, 0, read);
                    }
                }
            }
            catch (SocketException)
            {
            }
            catch (ObjectDisposedException)
            {
            }

            ClosedAt = clock.Elapsed;
        });
    }

    public async Task<bool> TrySendAsync(string text) => await TrySendAsync(Encoding.ASCII.GetBytes(text));

    /// <summary>Sends bytes; false once the server has closed the connection.</summary>
    public async Task<bool> TrySendAsync(byte[] bytes)
    {
        try
        {
            await _socket.SendAsync(bytes, SocketFlags.None);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
        catch (ObjectDisposedException)
        {
            return false;
        }
    }

    /// <summary>Sends one byte of <paramref name="text"/> every <paramref name="interval"/> until the server closes or <paramref name="until"/>.</summary>
    public async Task TrickleAsync(string text, TimeSpan interval, Stopwatch clock, TimeSpan until)
    {
        foreach (var b in Encoding.ASCII.GetBytes(text))
        {
            if (ClosedAt is not null || clock.Elapsed > until || !await TrySendAsync([b]))
            {
                return;
            }

            await Task.Delay(interval);
        }
    }

    public void Dispose()
    {
        _socket.Dispose();
        _reader?.Wait(TimeSpan.FromSeconds(2));
    }
}
