using System.Text;
using ModelMonitor.Core.Contracts;

namespace ModelMonitor.DemoTraffic.Sending;

/// <summary>
/// Appends the prediction_id of every acknowledged record to a file, one per line, flushed after each
/// response, for the reliability check "every acknowledged prediction is in Kafka". The ETA primary and
/// shadow records share a prediction_id, so such an id appears once per acknowledged model record;
/// with <c>includeModel</c> each line is "prediction_id&lt;TAB&gt;model_id" instead.
/// </summary>
public sealed class AcknowledgementLedger : IDisposable
{
    private readonly StreamWriter _writer;
    private readonly bool _includeModel;
    private readonly Lock _gate = new();

    public AcknowledgementLedger(string path, bool includeModel)
    {
        var stream = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.Read);
        _writer = new StreamWriter(stream, new UTF8Encoding(encoderShouldEmitUTF8Identifier: false)) { NewLine = "\n" };
        _includeModel = includeModel;
    }

    /// <summary>Appends the records of <paramref name="batch"/> for which <paramref name="acknowledged"/> is true.</summary>
    public void Append(IReadOnlyList<PredictionLog> batch, Func<int, bool> acknowledged)
    {
        lock (_gate)
        {
            for (var i = 0; i < batch.Count; i++)
            {
                if (!acknowledged(i))
                {
                    continue;
                }

                _writer.Write(batch[i].PredictionId);
                if (_includeModel)
                {
                    _writer.Write('\t');
                    _writer.Write(batch[i].ModelId);
                }

                _writer.WriteLine();
            }

            _writer.Flush();
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _writer.Dispose();
        }
    }
}
