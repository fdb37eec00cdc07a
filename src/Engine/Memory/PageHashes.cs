using System.IO.Hashing;
using Migrate.Engine.Linux;

namespace Migrate.Engine.Memory;

/// <summary>
/// For one task, the XxHash128 of each page as the target holds it. A page
/// whose hash differs has to be sent again. 128 bits because a collision
/// would be silent corruption.
/// </summary>
public sealed class PageHashes
{
    private readonly Dictionary<ulong, UInt128> _hashes = [];

    public static readonly UInt128 ZeroPage = XxHash128.HashToUInt128(new byte[PageSize.Bytes]);

    public int Count => _hashes.Count;

    /// <summary>Records <paramref name="hash"/> for the page at <paramref name="address"/>; true if that changed anything.</summary>
    public bool Update(ulong address, UInt128 hash)
    {
        ref var slot = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(_hashes, address, out bool existed);
        if (existed && slot == hash)
        {
            return false;
        }
        slot = hash;
        return true;
    }
}
