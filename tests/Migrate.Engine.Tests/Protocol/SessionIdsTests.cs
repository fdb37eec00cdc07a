using Migrate.Engine.Protocol;

namespace Migrate.Engine.Tests.Protocol;

public sealed class SessionIdsTests
{
    [Fact]
    public void A_new_id_is_valid_and_random()
    {
        var a = SessionIds.NewId();
        var b = SessionIds.NewId();

        Assert.True(SessionIds.IsValid(a));
        Assert.NotEqual(a, b);
    }

    [Theory]
    [InlineData("/")]
    [InlineData("..")]
    [InlineData("../../../../../../../../../etc/x")]
    [InlineData("0123456789abcdef0123456789abcde/")]
    [InlineData("0123456789ABCDEF0123456789ABCDEF")]
    [InlineData("0123456789abcdef0123456789abcdef0")]
    [InlineData("")]
    [InlineData(null)]
    public void Anything_but_32_lowercase_hex_digits_is_refused(string? id)
    {
        Assert.False(SessionIds.IsValid(id));
        var e = Assert.Throws<InvalidDataException>(() => SessionIds.Require(id, "the target 10.0.0.1:7070"));
        Assert.Contains("malformed session ID", e.Message, StringComparison.Ordinal);
    }
}
