using System.Diagnostics;
using System.Globalization;
using ModelMonitor.Core.Contracts;
using ModelMonitor.Core.Ingestion;

namespace ModelMonitor.Benchmarks;

/// <summary>
/// The CPU cost per record of the pure code on the hot paths, on one thread, without servers: the API's
/// parse+validate of request bodies (batches of 100), the Kafka value (verbatim, as the API writes records with
/// only the contract's fields; canonical re-encoding, for records with extra fields), and the aggregator's decode.
/// Separates the code's own cost from the I/O the other scenarios include.
/// </summary>
internal static class CodecBenchmark
{
    public static Task RunAsync(BenchmarkContext context)
    {
        var records = Workload.Records(50_000, i => DateTimeOffset.UtcNow.AddSeconds(-i % 3600));
        var messages = Workload.PerRecordMessages(records).Select(m => m.Value).ToList();
        var bodies = Workload.Payloads(records, 100);
        var parser = new PredictionBatchParser(new IngestionLimits(), omitForwardedFeatures: true); // as the API parses
        var verbatim = bodies.SelectMany(b => parser.Parse(b, BodyFormat.Json, DateTimeOffset.UtcNow).AcceptedJson).ToList();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"records: demo generator, {records.Average(r => r.Features.Count):0.0} features, Kafka value {messages.Average(m => m.Length):0} B; one thread, {records.Count:N0} records per pass"));
        Console.WriteLine("run  api parse+validate us/record  kafka value verbatim us/record  (canonical encode)  aggregator decode us/record");
        var rows = new List<double[]>();
        for (var run = 1; run <= context.Options.Runs; run++)
        {
            Measure(() => Parse(parser, bodies)); // warm-up: tiered JIT reaches optimized code
            var parse = Measure(() => Parse(parser, bodies)) / records.Count;
            var copy = Measure(() => verbatim.ForEach(j => PredictionLogCodec.EncodeVerbatim(j.Span))) / records.Count;
            var encode = Measure(() => records.ForEach(r => PredictionLogCodec.Encode(r))) / records.Count;
            var decode = Measure(() => messages.ForEach(Decode)) / records.Count;
            rows.Add([parse, copy, encode, decode]);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{run,-4} {parse,-30:0.00} {copy,-31:0.00} {encode,-19:0.00} {decode:0.00}"));
        }
        double Median(int column) => rows.Select(r => r[column]).Order().ElementAt(rows.Count / 2);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"-- median: parse+validate {Median(0):0.00} us, verbatim value {Median(1):0.00} us (canonical encode {Median(2):0.00} us), decode {Median(3):0.00} us per record"));
        return Task.CompletedTask;
    }

    private static void Parse(PredictionBatchParser parser, List<byte[]> bodies)
    {
        foreach (var body in bodies)
        {
            if (parser.Parse(body, BodyFormat.Json, DateTimeOffset.UtcNow).Accepted.Count == 0)
            {
                throw new InvalidOperationException("the benchmark's records were rejected");
            }
        }
    }

    private static void Decode(byte[] message)
    {
        if (!PredictionLogCodec.TryDecode(message, out _, out var error))
        {
            throw new InvalidOperationException(error);
        }
    }

    /// <summary>Microseconds of this process's CPU time for one pass.</summary>
    private static double Measure(Action pass)
    {
        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        pass();
        return (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalMicroseconds;
    }
}
