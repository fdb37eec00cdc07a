using Migrate.Engine.Compat;
using Migrate.Engine.Images;
using Migrate.Engine.Images.Proto;
using Migrate.Engine.Tests.Images;

namespace Migrate.Engine.Tests.Compat;

/// <summary>The restore policy, judged on images CRIU 4.2.1 wrote (TestData), changed where a test needs another user.</summary>
public sealed class RestorePolicyTests : IDisposable
{
    private const int Root = 5224;
    private const int Child = 5227;
    private const int SecondThread = 5228;

    private readonly TempDirectory _images = new();

    public RestorePolicyTests() => RecordedImages.CopyTo(RecordedImages.Tree, _images.Path);

    [Fact]
    public void A_real_dump_is_read_thread_by_thread()
    {
        var tree = TreeIdentity.Read(_images.Path);

        Assert.Equal([(Root, Root), (Child, SecondThread), (Child, Child)],
            tree.Threads.Select(thread => (thread.Pid, thread.Tid)).OrderBy(t => t.Pid).ThenByDescending(t => t.Tid));
        Assert.All(tree.Threads, thread => Assert.Equal(0u, thread.Creds.Euid));
        Assert.Equal(TreeNamespaces.None, tree.Namespaces);
        Assert.Null(tree.UserNamespace);
    }

    [Fact]
    public void The_default_policy_allows_what_migrate_sends_a_root_process_with_every_capability()
    {
        var check = RestorePolicy.Default.Check(_images.Path);

        Assert.Equal(CheckVerdict.Pass, check.Verdict);
        Assert.Equal("policy", check.Name);
        Assert.Equal("3 threads of 2 tasks as uid 0, in no namespace of their own; this target allows any user, capability and namespace (no restore policy set)",
            check.Detail);
    }

    [Fact]
    public void Deny_root_refuses_a_tree_as_root_and_names_the_task()
    {
        var check = new RestorePolicy { DenyRoot = true }.Check(_images.Path);

        Assert.Equal(CheckVerdict.Fail, check.Verdict);
        Assert.StartsWith($"task {Root} would run as root (uid 0), which is not allowed; this target allows any uid but 0", check.Detail, StringComparison.Ordinal);
        Assert.Contains("--deny-root", check.Remedy, StringComparison.Ordinal);
    }

    [Fact]
    public void An_unprivileged_tree_passes_deny_root_and_a_range_that_holds_its_users()
    {
        RecordedImages.ChangeCredentials(_images.Path, Unprivileged(1000));
        var policy = new RestorePolicy { DenyRoot = true, Uids = IdRanges.Parse("1000-1999"), Gids = IdRanges.Parse("1000-1999,27"), Capabilities = 0 };

        var check = policy.Check(_images.Path);

        Assert.True(check.Verdict == CheckVerdict.Pass, check.Detail);
        Assert.StartsWith("3 threads of 2 tasks as uid 1000,", check.Detail, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("uid", "would run as uid 1000, which is not allowed")]
    [InlineData("suid", "would run as uid 0, which is not allowed")]
    [InlineData("fsuid", "would run as uid 0, which is not allowed")]
    [InlineData("group", "would run with gid 4, which is not allowed")]
    public void Every_id_a_thread_holds_is_judged(string which, string refusal)
    {
        RecordedImages.ChangeCredentials(_images.Path, Unprivileged(2000));
        RecordedImages.Rewrite(Path.Combine(_images.Path, $"core-{SecondThread}.img"), ImageMagic.Core, CoreEntry.Parser, core =>
        {
            var creds = core.ThreadCore.Creds;
            switch (which)
            {
                case "uid": creds.Uid = 1000; break;
                case "suid": creds.Suid = 0; break;
                case "fsuid": creds.Fsuid = 0; break;
                case "group": creds.Groups.Add(4); break;
            }
        });
        var policy = new RestorePolicy { Uids = IdRanges.Parse("2000"), Gids = IdRanges.Parse("2000") };

        var check = policy.Check(_images.Path);

        Assert.Equal(CheckVerdict.Fail, check.Verdict);
        Assert.StartsWith($"thread {SecondThread} of task {Child} {refusal}", check.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Capabilities_are_judged_by_what_a_thread_holds_and_root_s_bounding_set_by_what_execve_gives_back()
    {
        var none = new RestorePolicy { Capabilities = 0 };
        var bindOnly = new RestorePolicy { Capabilities = Capabilities.ParseSet("net_bind_service") };

        // Root with every capability: refused.
        Assert.Contains("cap_chown", none.Check(_images.Path).Detail, StringComparison.Ordinal);

        // Root that dropped them all still gets its bounding set back from any execve.
        RecordedImages.ChangeCredentials(_images.Path, ClearHeld);
        var dropped = none.Check(_images.Path);
        Assert.Equal(CheckVerdict.Fail, dropped.Verdict);
        Assert.Contains("would hold capabilities that are not allowed: cap_chown", dropped.Detail, StringComparison.Ordinal);

        // ... unless SECBIT_NOROOT is set, or it is not root.
        RecordedImages.ChangeCredentials(_images.Path, creds => creds.Secbits = 1);
        Assert.Equal(CheckVerdict.Pass, none.Check(_images.Path).Verdict);
        RecordedImages.ChangeCredentials(_images.Path, Unprivileged(1000));
        Assert.Equal(CheckVerdict.Pass, none.Check(_images.Path).Verdict);

        // An unprivileged thread with an ambient capability holds it.
        RecordedImages.ChangeCredentials(_images.Path, creds => { creds.CapAmb.Clear(); creds.CapAmb.Add(1u << 10); creds.CapAmb.Add(0); });
        Assert.Equal(CheckVerdict.Pass, bindOnly.Check(_images.Path).Verdict);
        Assert.Contains("cap_net_bind_service", none.Check(_images.Path).Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Namespaces_of_a_real_dump_are_those_criu_would_create()
    {
        using var utsIpc = new TempDirectory();
        RecordedImages.CopyTo(RecordedImages.UtsIpc, utsIpc.Path);

        var tree = TreeIdentity.Read(utsIpc.Path);
        var refused = new RestorePolicy { Namespaces = RestorePolicy.ParseNamespaces("net,uts") }.Check(utsIpc.Path);

        Assert.Equal(TreeNamespaces.Uts | TreeNamespaces.Ipc, tree.Namespaces);
        Assert.Equal(CheckVerdict.Fail, refused.Verdict);
        Assert.StartsWith("the tree would get namespaces of its own that are not allowed: ipc", refused.Detail, StringComparison.Ordinal);
        Assert.Equal(CheckVerdict.Pass, new RestorePolicy { Namespaces = RestorePolicy.ParseNamespaces("uts,ipc") }.Check(utsIpc.Path).Verdict);
    }

    [Fact]
    public void In_a_user_namespace_the_map_is_judged_not_the_ids_inside_it()
    {
        // Root inside, mapped to 100000-165535 of the host: what a rootless container looks like.
        RecordedImages.AddUserNamespace(_images.Path, [Extent(0, 100_000, 65_536)], [Extent(0, 100_000, 65_536)]);
        var policy = new RestorePolicy { DenyRoot = true, Uids = IdRanges.Parse("100000-199999"), Gids = IdRanges.Parse("100000-199999") };

        var tree = TreeIdentity.Read(_images.Path);
        Assert.Equal(TreeNamespaces.User, tree.Namespaces);
        Assert.True(policy.Check(tree).Verdict == CheckVerdict.Pass, policy.Check(tree).Detail);

        RecordedImages.AddUserNamespace(_images.Path, [Extent(0, 0, 1)], [Extent(0, 100_000, 1)]);
        var mapsRoot = policy.Check(_images.Path);
        Assert.Equal(CheckVerdict.Fail, mapsRoot.Verdict);
        Assert.StartsWith("the tree's user namespace maps root (uid 0) of this host", mapsRoot.Detail, StringComparison.Ordinal);

        RecordedImages.AddUserNamespace(_images.Path, [Extent(0, 150_000, 60_000)], [Extent(0, 100_000, 1)]);
        Assert.StartsWith("the tree's user namespace maps uids 150000-209999 of this host, which are not all allowed",
            policy.Check(_images.Path).Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void A_thread_without_credentials_is_refused_as_criu_would_restore_it_as_root()
    {
        RecordedImages.Rewrite(Path.Combine(_images.Path, $"core-{SecondThread}.img"), ImageMagic.Core, CoreEntry.Parser, core => core.ThreadCore.Creds = null);

        var check = RestorePolicy.Default.Check(_images.Path);

        Assert.Equal(CheckVerdict.Fail, check.Verdict);
        Assert.Contains($"core-{SecondThread}.img: no thread credentials", check.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Credentials_missing_a_required_field_are_refused_rather_than_read_as_root()
    {
        // Re-encode the thread's creds without uid: on the wire that is just a missing field 1.
        var path = Path.Combine(_images.Path, $"core-{Root}.img");
        RecordedImages.Rewrite(path, ImageMagic.Core, CoreEntry.Parser, core => core.ThreadCore.Creds.ClearUid());

        var check = new RestorePolicy { DenyRoot = true }.Check(_images.Path);

        Assert.Equal(CheckVerdict.Fail, check.Verdict);
        Assert.Contains("cannot be judged", check.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Policies_parse_from_the_operator_s_words_and_say_them_back()
    {
        var policy = new RestorePolicy
        {
            Uids = IdRanges.Parse("1000-1999, 33,34"),
            DenyRoot = true,
            Capabilities = Capabilities.ParseSet("CAP_NET_BIND_SERVICE,chown"),
            Namespaces = RestorePolicy.ParseNamespaces("none"),
        };

        Assert.Equal("uids 33-34,1000-1999 but 0; any gid; capabilities cap_chown, cap_net_bind_service; no namespace of its own", policy.ToString());
        Assert.Throws<FormatException>(() => IdRanges.Parse("1999-1000"));
        Assert.Throws<FormatException>(() => IdRanges.Parse("root"));
        Assert.Throws<FormatException>(() => Capabilities.ParseSet("sys_everything"));
        Assert.Throws<FormatException>(() => RestorePolicy.ParseNamespaces("cgroup"));
    }

    public void Dispose() => _images.Dispose();

    private static UidGidExtent Extent(uint first, uint lowerFirst, uint count) => new() { First = first, LowerFirst = lowerFirst, Count = count };

    /// <summary>What a process of user <paramref name="id"/> holds: its ids, no capability but a full bounding set, as a login shell has.</summary>
    private static Action<CredsEntry> Unprivileged(uint id) => creds =>
    {
        creds.Uid = creds.Euid = creds.Suid = creds.Fsuid = id;
        creds.Gid = creds.Egid = creds.Sgid = creds.Fsgid = id;
        creds.Groups.Clear();
        ClearHeld(creds);
    };

    private static void ClearHeld(CredsEntry creds)
    {
        foreach (var set in new[] { creds.CapPrm, creds.CapEff, creds.CapInh, creds.CapAmb })
        {
            set.Clear();
            set.Add(0);
            set.Add(0);
        }
    }
}
