using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using ModelMonitor.Testing.Processes;
using Npgsql;

namespace ModelMonitor.Testing.Postgres;

/// <summary>
/// A private PostgreSQL cluster for a test run: initdb into a temporary directory, started on a free
/// port on 127.0.0.1 with trust authentication and durability off (fsync, synchronous_commit) for speed.
/// Real server, real wire protocol; nothing is faked.
/// </summary>
/// <remarks>
/// <para>Most tests share one server per test process (<see cref="SharedAsync"/>) and take a fresh
/// database each (<see cref="CreateDatabaseAsync"/> or <see cref="PostgresDatabaseFixture"/>). A test
/// that stops and restarts the server (<see cref="StopAsync"/>, <see cref="StartAsync"/>) should own
/// its own server (<see cref="CreateAsync"/>) so other tests running in parallel are not disturbed.</para>
/// <para>Binaries: the newest /usr/lib/postgresql/N/bin, or the directory named by the
/// MODELMONITOR_PG_BIN environment variable. If none is found the run fails with a message saying
/// what to install; it never skips. As root, initdb and the server run as the "postgres" user.</para>
/// </remarks>
public sealed class PostgresServer : IAsyncDisposable
{
    public const string BinDirectoryVariable = "MODELMONITOR_PG_BIN";

    private static readonly Lock SharedLock = new();
    private static Task<PostgresServer>? _shared;
    private static int _databaseCounter;

    private readonly string _binDirectory;
    private readonly string _baseDirectory;
    private readonly bool _runAsPostgresUser;
    private readonly string _sharedBuffers;
    private bool _disposed;

    private PostgresServer(string binDirectory, string baseDirectory, int port, bool runAsPostgresUser, string sharedBuffers)
    {
        _sharedBuffers = sharedBuffers;
        _binDirectory = binDirectory;
        _baseDirectory = baseDirectory;
        Port = port;
        _runAsPostgresUser = runAsPostgresUser;
    }

    /// <summary>The TCP port on 127.0.0.1.</summary>
    public int Port { get; }

    public bool IsRunning { get; private set; }

    /// <summary>Connection string to the "postgres" maintenance database, as superuser "postgres".</summary>
    public string ConnectionString => ConnectionStringFor("postgres");

    private string DataDirectory => Path.Combine(_baseDirectory, "data");

    private string LogFile => Path.Combine(_baseDirectory, "server.log");

    /// <summary>The server shared by every test of this process, started on first use, stopped at exit.</summary>
    public static Task<PostgresServer> SharedAsync()
    {
        lock (SharedLock)
        {
            if (_shared is null || _shared.IsFaulted)
            {
                _shared = CreateAsync();
                _shared.ContinueWith(
                    t => AppDomain.CurrentDomain.ProcessExit += (_, _) => t.Result.DisposeAsync().AsTask().GetAwaiter().GetResult(),
                    CancellationToken.None,
                    TaskContinuationOptions.OnlyOnRanToCompletion,
                    TaskScheduler.Default);
            }

            return _shared;
        }
    }

    /// <summary>Creates and starts a new private cluster; dispose it to stop it and delete its files.</summary>
    /// <param name="sharedBuffers">Postgres's shared_buffers: 32MB keeps the many test clusters small; a benchmark of
    /// the write path may want Postgres's own default (128MB, what the postgres:15 image runs).</param>
    public static async Task<PostgresServer> CreateAsync(string sharedBuffers = "32MB", CancellationToken cancellationToken = default)
    {
        if (OperatingSystem.IsWindows())
        {
            throw new PlatformNotSupportedException("The private Postgres cluster needs Linux or macOS (initdb, pg_ctl, Unix permissions).");
        }

        var binDirectory = FindBinDirectory();
        DeleteStaleDirectories();
        var runAsPostgres = Environment.UserName == "root" || Environment.GetEnvironmentVariable("USER") == "root";
        var baseDirectory = Path.Combine(Path.GetTempPath(), "modelmonitor-pg-" + Guid.NewGuid().ToString("N")[..12]);
        // World-writable so the postgres user can create the data directory and the socket inside.
        // (Set after creating: the process umask masks the mode given at creation.)
        Directory.CreateDirectory(baseDirectory);
        File.SetUnixFileMode(baseDirectory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
            | UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute
            | UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute);

        var server = new PostgresServer(binDirectory, baseDirectory, ChildProcess.FreePort(), runAsPostgres, sharedBuffers);
        try
        {
            await server.RunAsync(
                "initdb",
                ["-D", server.DataDirectory, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"],
                cancellationToken);
            await server.StartAsync(cancellationToken);
            return server;
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    /// <summary>Connection string to <paramref name="database"/> on this server.</summary>
    public string ConnectionStringFor(string database) => new NpgsqlConnectionStringBuilder
    {
        Host = "127.0.0.1",
        Port = Port,
        Username = "postgres",
        Database = database,
        // Short timeouts so a test against a stopped server fails fast instead of hanging.
        Timeout = 5,
        CommandTimeout = 30,
    }.ConnectionString;

    /// <summary>Creates an empty database with a unique name and returns its connection string.</summary>
    public async Task<string> CreateDatabaseAsync(string? namePrefix = null, CancellationToken cancellationToken = default)
    {
        var prefix = new string((namePrefix ?? "test").ToLowerInvariant().Where(c => c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '_').Take(40).ToArray());
        var name = string.Create(CultureInfo.InvariantCulture, $"{prefix}_{Environment.ProcessId}_{Interlocked.Increment(ref _databaseCounter)}");
        await using var connection = new NpgsqlConnection(ConnectionString);
        await connection.OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand($"CREATE DATABASE \"{name}\"", connection);
        await command.ExecuteNonQueryAsync(cancellationToken);
        return ConnectionStringFor(name);
    }

    /// <summary>Starts (or restarts) the server and waits until it accepts connections.</summary>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var options = string.Join(' ',
            "-c listen_addresses=127.0.0.1",
            $"-c port={Port.ToString(CultureInfo.InvariantCulture)}",
            $"-c unix_socket_directories={_baseDirectory}",
            "-c fsync=off",
            "-c synchronous_commit=off",
            "-c full_page_writes=off",
            "-c max_connections=200",
            $"-c shared_buffers={_sharedBuffers}");
        await RunAsync("pg_ctl", ["start", "-D", DataDirectory, "-l", LogFile, "-w", "-t", "60", "-o", options], cancellationToken);
        IsRunning = true;
    }

    /// <summary>
    /// Stops the server. <paramref name="immediate"/> kills it without a shutdown checkpoint (crash
    /// recovery on the next start); otherwise clients are disconnected and it shuts down cleanly.
    /// </summary>
    public async Task StopAsync(bool immediate = false, CancellationToken cancellationToken = default)
    {
        if (!IsRunning)
        {
            return;
        }

        await RunAsync("pg_ctl", ["stop", "-D", DataDirectory, "-m", immediate ? "immediate" : "fast", "-w", "-t", "60"], cancellationToken);
        IsRunning = false;
    }

    public async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }

        try
        {
            await StopAsync(immediate: true);
        }
        catch (InvalidOperationException)
        {
            // Already gone: nothing to stop.
        }

        _disposed = true;
        try
        {
            Directory.Delete(_baseDirectory, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    private static string FindBinDirectory()
    {
        var configured = Environment.GetEnvironmentVariable(BinDirectoryVariable);
        var candidates = new List<string>();
        if (!string.IsNullOrEmpty(configured))
        {
            candidates.Add(configured);
        }

        if (Directory.Exists("/usr/lib/postgresql"))
        {
            candidates.AddRange(Directory.GetDirectories("/usr/lib/postgresql")
                .OrderByDescending(d => int.TryParse(Path.GetFileName(d), out var v) ? v : 0)
                .Select(d => Path.Combine(d, "bin")));
        }

        foreach (var candidate in candidates)
        {
            if (File.Exists(Path.Combine(candidate, "initdb")) && File.Exists(Path.Combine(candidate, "pg_ctl")) && File.Exists(Path.Combine(candidate, "postgres")))
            {
                return candidate;
            }
        }

        throw new InvalidOperationException(
            "PostgreSQL server binaries (initdb, pg_ctl, postgres) were not found in /usr/lib/postgresql/*/bin" +
            (string.IsNullOrEmpty(configured) ? "" : " or " + configured) +
            ". The integration tests start a private Postgres cluster and cannot run without it. " +
            "Install it (Debian 12: `apt-get install -y postgresql-15`) or set " + BinDirectoryVariable +
            " to the directory holding initdb and pg_ctl.");
    }

    // A test process killed or cut short at exit (the ProcessExit handler has little time) stops its
    // server but may leave the directory: remove those whose server no longer runs (no postmaster.pid).
    private static void DeleteStaleDirectories()
    {
        foreach (var directory in Directory.GetDirectories(Path.GetTempPath(), "modelmonitor-pg-*"))
        {
            try
            {
                if (!File.Exists(Path.Combine(directory, "data", "postmaster.pid"))
                    && Directory.GetLastWriteTimeUtc(directory) < DateTime.UtcNow.AddMinutes(-2))
                {
                    Directory.Delete(directory, recursive: true);
                }
            }
            catch (IOException)
            {
            }
            catch (UnauthorizedAccessException)
            {
            }
        }
    }

    private async Task RunAsync(string tool, string[] arguments, CancellationToken cancellationToken)
    {
        var path = Path.Combine(_binDirectory, tool);
        var start = new ProcessStartInfo
        {
            FileName = _runAsPostgresUser ? "runuser" : path,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = _baseDirectory,
        };
        if (_runAsPostgresUser)
        {
            foreach (var argument in new[] { "-u", "postgres", "--", path })
            {
                start.ArgumentList.Add(argument);
            }
        }

        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {tool}.");
        // pg_ctl start leaves the server holding inherited pipes; read to end only the tool's own output.
        var output = new StringBuilder();
        process.OutputDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        process.ErrorDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        await process.WaitForExitAsync(cancellationToken);
        if (process.ExitCode != 0)
        {
            var log = File.Exists(LogFile) ? await File.ReadAllTextAsync(LogFile, cancellationToken) : "";
            string text;
            lock (output)
            {
                text = output.ToString();
            }

            throw new InvalidOperationException($"{tool} {string.Join(' ', arguments)} failed with exit code {process.ExitCode}:\n{text}\n{log}");
        }
    }
}
