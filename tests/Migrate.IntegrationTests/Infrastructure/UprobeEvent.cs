using Migrate.Engine.Compat;

namespace Migrate.IntegrationTests.Infrastructure;

/// <summary>
/// A uprobe defined through tracefs on a function of a file, enabled, and
/// removed again when disposed (ENVIRONMENT.md, "uprobes").
/// </summary>
internal sealed class UprobeEvent : IDisposable
{
    private const string Tracing = "/sys/kernel/tracing";
    private readonly string _name = "migrate_test_" + Guid.NewGuid().ToString("N")[..12];

    private UprobeEvent()
    {
    }

    /// <param name="returnProbe">An r: probe, which fires when the function returns.</param>
    public static UprobeEvent Create(string binary, string function, bool returnProbe = false)
    {
        var elf = ElfImage.Read(File.ReadAllBytes(binary), binary);
        var symbol = elf.Symbols.Single(s => s.Name == function);
        var offset = elf.FileOffsetOf(symbol.Address) ?? throw new InvalidOperationException($"{function} is not in a loaded segment");
        var probe = new UprobeEvent();
        File.AppendAllText(Path.Combine(Tracing, "uprobe_events"), $"{(returnProbe ? 'r' : 'p')}:uprobes/{probe._name} {binary}:0x{offset:x}\n");
        File.WriteAllText(Path.Combine(Tracing, "events", "uprobes", probe._name, "enable"), "1");
        return probe;
    }

    public void Dispose()
    {
        File.WriteAllText(Path.Combine(Tracing, "events", "uprobes", _name, "enable"), "0");
        File.AppendAllText(Path.Combine(Tracing, "uprobe_events"), $"-:uprobes/{_name}\n");
    }
}
