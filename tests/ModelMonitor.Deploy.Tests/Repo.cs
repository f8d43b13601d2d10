namespace ModelMonitor.Deploy.Tests;

/// <summary>Paths inside the repository the tests run from.</summary>
internal static class Repo
{
    public static string Root { get; } = FindRoot();

    public static string File(params string[] parts) => Path.Combine([Root, .. parts]);

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (System.IO.File.Exists(Path.Combine(dir.FullName, "ModelMonitor.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"ModelMonitor.sln not found above {AppContext.BaseDirectory}");
    }
}
