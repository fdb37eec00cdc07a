using Migrate.Engine.Credentials;

namespace Migrate.Engine.Tests.Credentials;

public sealed class SecretFilesTests : IDisposable
{
    private readonly TempDirectory _directory = new();

    [Fact]
    public void A_created_file_is_private_and_whole()
    {
        var path = _directory.Combine("etc", "secret");

        var text = SecretFiles.ReadOrCreate(path, "test file", () => "made once\n");

        Assert.Equal("made once\n", text);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(_directory.Combine("etc")));
        Assert.Equal(["secret"], Directory.GetFiles(_directory.Combine("etc")).Select(Path.GetFileName));
    }

    [Fact]
    public void Of_many_creating_at_once_one_wins_and_all_read_its_text()
    {
        var path = _directory.Combine("secret");
        var texts = new string[8];
        using var start = new Barrier(texts.Length);
        var threads = Enumerable.Range(0, texts.Length).Select(i => new Thread(() =>
        {
            start.SignalAndWait();
            texts[i] = SecretFiles.ReadOrCreate(path, "test file", () => $"made by {i}\n" + new string('x', 1 << 16));
        })).ToList();

        threads.ForEach(thread => thread.Start());
        threads.ForEach(thread => thread.Join());

        Assert.Single(texts.Distinct(StringComparer.Ordinal));
        Assert.Equal(texts[0], File.ReadAllText(path));
        Assert.Equal(["secret"], Directory.GetFiles(_directory.Path).Select(Path.GetFileName));
    }

    [Fact]
    public void An_existing_file_is_read_and_never_replaced()
    {
        var path = _directory.Combine("secret");
        File.WriteAllText(path, "the operator's\n");
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);

        Assert.Equal("the operator's\n", SecretFiles.ReadOrCreate(path, "test file", () => throw new InvalidOperationException("must not be called")));
    }

    [Theory]
    [InlineData(UnixFileMode.GroupRead)]
    [InlineData(UnixFileMode.OtherRead)]
    [InlineData(UnixFileMode.OtherWrite)]
    [InlineData(UnixFileMode.GroupExecute)]
    public void A_file_open_to_others_is_refused(UnixFileMode extra)
    {
        var path = _directory.Combine("key");
        File.WriteAllText(path, "secret");
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | extra);

        var e = Assert.Throws<CredentialException>(() => SecretFiles.Read(path, "key file"));

        Assert.Contains($"the key file {path} is open to others", e.Message, StringComparison.Ordinal);
        Assert.Contains("chmod 600", e.Message, StringComparison.Ordinal);
    }

    public void Dispose() => _directory.Dispose();
}
