using Migrate.Engine.Protocol;

namespace Migrate.Engine.Tests.Protocol;

public sealed class WireMappingTests
{
    [Theory]
    [InlineData(true, false, false, false, false, false, false, false)]
    [InlineData(false, true, false, false, false, false, false, false)]
    [InlineData(false, false, true, false, false, false, false, false)]
    [InlineData(false, false, false, true, false, false, false, false)]
    [InlineData(false, false, false, false, true, false, false, false)]
    [InlineData(false, false, false, false, false, true, false, false)]
    [InlineData(false, false, false, false, false, false, true, false)]
    [InlineData(false, false, false, false, false, false, false, true)]
    public void Every_restore_option_survives_the_wire(
        bool shellJob, bool tcpEstablished, bool fileLocks, bool linkRemap, bool lazyPages, bool allowUprobes, bool tcpClose, bool externalUnixSockets)
    {
        var options = new RestoreOptions(shellJob, tcpEstablished, fileLocks, linkRemap, lazyPages, allowUprobes, tcpClose, externalUnixSockets);

        var received = WireMapping.FromWire(WireMapping.ToWire("0123456789abcdef0123456789abcdef", new RestoreOrder("final", options, [], [])));

        Assert.Equal(options, received.Options);
    }
}
