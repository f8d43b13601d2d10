using System.CommandLine;
using ModelMonitor.DemoTraffic.CommandLine;

// Ctrl-C and SIGTERM cancel the run's token; the run then finishes requests in flight (up to 5 s),
// prints its summary and exits 0. The termination timeout leaves room for that.
var command = new DemoTrafficCommand(Console.Out);
return await command.Root.Parse(args).InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = TimeSpan.FromSeconds(15) });
