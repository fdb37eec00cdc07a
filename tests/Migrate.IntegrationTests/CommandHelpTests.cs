using Migrate.IntegrationTests.Infrastructure;

namespace Migrate.IntegrationTests;

/// <summary>What an operator reads first: each command's --help shows how to call that command.</summary>
public sealed class CommandHelpTests
{

    [Theory]
    [InlineData("check", "migrate check <PID> [options]")]
    [InlineData("evacuate", "migrate evacuate [options]")]
    [InlineData("commit", "migrate commit [options]")]
    [InlineData("abort", "migrate abort [options]")]
    public async Task A_subcommands_help_shows_its_own_usage_without_the_migrations_PID(string command, string usage)
    {
        var result = await MigrateCli.RunRawAsync(null, command, "--help");

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains($"Usage:\n  {usage}\n", result.Stdout);
        Assert.DoesNotContain($"<PID> {command}", result.Stdout);
        Assert.DoesNotContain("The process to migrate", result.Stdout);
        Assert.Contains("--to", result.Stdout);
    }

    [Fact]
    public async Task The_root_help_shows_the_migration_with_its_PID_and_the_subcommands()
    {
        var result = await MigrateCli.RunRawAsync(null, "--help");

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("Usage:\n  migrate <PID> [command] [options]\n", result.Stdout);
        Assert.Contains("The process to migrate, with its descendants", result.Stdout);
        foreach (var command in new[] { "check", "evacuate", "commit", "abort" })
        {
            Assert.Contains($"  {command}", result.Stdout);
        }
    }
}
