using System.Collections.Concurrent;

namespace Migrate.Engine.Tests.Migration.Fakes;

/// <summary>What the fakes were asked to do, in order: the tests read the protocol from it.</summary>
internal sealed class Journal
{
    private readonly ConcurrentQueue<string> _entries = new();

    public void Add(string entry) => _entries.Enqueue(entry);

    public IReadOnlyList<string> Entries => _entries.ToList();

    public int IndexOf(string entry) => Entries.ToList().IndexOf(entry);

    public bool Contains(string entry) => Entries.Contains(entry);

    public override string ToString() => string.Join(" -> ", _entries);
}
