#!/usr/bin/env bash
# Builds the Debian package dist/migrate_VERSION_ARCH.deb: both agents,
# self-contained (no .NET on the host), the CRIU build the project needs at
# /usr/lib/migrate/criu, the systemd unit and the default configuration.
# Runs scripts/setup.sh first, which provides the .NET SDK's build tools and
# CRIU; the package takes the CRIU the agents run here.
#
#   scripts/package.sh            # prints the package's path on its last line
#   sudo apt install ./dist/migrate_*.deb
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dist="$repo/dist"

log() { printf 'package: %s\n' "$*" >&2; }
die() { printf 'package: error: %s\n' "$*" >&2; exit 1; }

"$repo/scripts/setup.sh"

case "$(uname -m)" in
  x86_64) rid=linux-x64 ;;
  aarch64) rid=linux-arm64 ;;
  *) die "no .NET runtime identifier for $(uname -m)" ;;
esac
arch=$(dpkg --print-architecture)

work=$(mktemp -d /tmp/migrate-package.XXXXXX)
trap 'rm -rf "$work"' EXIT
root="$work/root"
lib="$root/usr/lib/migrate"
mkdir -p "$lib"

# One file each, with the runtime inside: the agents share no files, so two
# builds with their own dependency versions cannot overwrite each other's.
# Not composite ReadyToRun, which single-file publishing would otherwise pick:
# it compiles the whole framework again (over 300 assemblies, a quarter of an
# hour here), which ships precompiled already. Its own obj/ and bin/ folders:
# setup.sh's framework-dependent publish of the same runtime identifier must
# not hand this one its intermediate files.
log "publishing migrate and migrate-target (self-contained, $rid)"
for project in Migrate.Source Migrate.Target; do
  dotnet publish "$repo/src/$project" -c Release -r "$rid" --self-contained true \
    -p:PublishSingleFile=true -p:PublishReadyToRunComposite=false -p:DebugType=none \
    -p:IntermediateOutputPath=obj/package/ -p:OutputPath=bin/package/ -o "$work/publish/$project" --nologo -v quiet >"$work/publish.log" 2>&1 \
    || { tail -30 "$work/publish.log" >&2; die "dotnet publish $project failed"; }
done
install -m 0755 "$work/publish/Migrate.Source/migrate" "$lib/migrate"
install -m 0755 "$work/publish/Migrate.Target/migrate-target" "$lib/migrate-target"

# The CRIU the agents run on this machine, found as they find it (next to
# them, else on PATH): they say which in --version. Copied next to the
# installed agents, where they will find it.
criu=$("$lib/migrate" --version | sed -n 's/^criu [0-9.]* (\(.*\))$/\1/p')
[ -n "$criu" ] && [ -x "$criu" ] || die "the agents find no working CRIU here: $("$lib/migrate" --version | tail -1)"
install -m 0755 "$criu" "$lib/criu"
version=$("$lib/migrate" --version | sed -n 's/^migrate //p' | head -1)
[ -n "$version" ] || die "migrate --version printed no version"
log "version $version, CRIU $("$lib/criu" --version | sed -n 's/^Version: *//p') from $criu"

mkdir -p "$root/usr/bin" "$root/lib/systemd/system" "$root/etc/migrate" "$root/usr/share/doc/migrate" "$root/usr/share/man/man8" "$root/DEBIAN"
ln -s ../lib/migrate/migrate "$root/usr/bin/migrate"
ln -s ../lib/migrate/migrate-target "$root/usr/bin/migrate-target"
install -m 0644 "$repo/packaging/migrate-target.service" "$root/lib/systemd/system/migrate-target.service"
install -m 0644 "$repo/packaging/migrate-target.conf" "$root/etc/migrate/migrate-target.conf"
install -m 0644 "$repo/README.md" "$root/usr/share/doc/migrate/README.md"
install -d -m 0700 "$root/var/lib/migrate-target"

# One man page per program, section 8 as both need root, made from its --help
# (and each subcommand's), so that the two cannot disagree.
# man_page PROGRAM FILES SUBCOMMAND...
man_page() {
  local program=$1 files=$2 command summary
  shift 2
  summary=$("$lib/$program" --help | sed -n '2s/^ *[^:]*: *//p')
  {
    printf '.TH %s 8 "" "migrate %s" "System Administration"\n' "${program^^}" "$version"
    printf '.SH NAME\n%s \\- %s\n' "${program//-/\\-}" "$summary"
    printf '.SH DESCRIPTION\n'
    "$lib/$program" --help | awk -f "$repo/scripts/lib/help2man.awk"
    for command in "$@"; do
      printf '.SH "%s %s"\n' "${program//-/\\-}" "$command"
      "$lib/$program" "$command" --help | awk -f "$repo/scripts/lib/help2man.awk"
    done
    printf '.SH FILES\n%b\n' "$files"
    printf '.SH "SEE ALSO"\n.BR criu (8),\n/usr/share/doc/migrate/README.md\n'
  } | gzip -9n >"$root/usr/share/man/man8/$program.8.gz"
}
man_page migrate '.TP\n/etc/migrate/token\nThe token of the target agents (--token-file)' check evacuate commit abort
man_page migrate-target '.TP\n/etc/migrate/migrate-target.conf\nThe settings (--config)\n.TP\n/etc/migrate/token\nThe token sources present (--token-file)\n.TP\n/var/lib/migrate-target\nSession images and CRIU logs (--work-dir)'
for script in postinst prerm postrm; do
  install -m 0755 "$repo/packaging/debian/$script" "$root/DEBIAN/$script"
done
echo /etc/migrate/migrate-target.conf >"$root/DEBIAN/conffiles"

# Shared libraries CRIU and the agents link, as Debian names their packages.
# dpkg-shlibdeps(1) reads a debian/control, so it runs in a scratch one.
mkdir -p "$work/shlibs/debian"
printf 'Source: migrate\n\nPackage: migrate\nArchitecture: any\n' >"$work/shlibs/debian/control"
shlibs=$(cd "$work/shlibs" && dpkg-shlibdeps -O "$lib/criu" "$lib/migrate" "$lib/migrate-target" 2>"$work/shlibs.log") \
  || { cat "$work/shlibs.log" >&2; die "dpkg-shlibdeps failed"; }
shlibs=${shlibs#shlibs:Depends=}
# Loaded at run time, so dpkg-shlibdeps cannot see them: .NET opens libssl
# for TLS and every hash and random number (the token), and the agents run unshare(1)
# (the unit) and nft(8) (removing CRIU's network-lock table).
depends="$shlibs, libssl3, util-linux, nftables"

cat >"$root/DEBIAN/control" <<CONTROL
Package: migrate
Version: $version
Architecture: $arch
Maintainer: migrate developers <migrate@localhost>
Installed-Size: $(du -sk --exclude=DEBIAN "$root" | cut -f1)
Depends: $depends
Section: admin
Priority: optional
Description: live migration of running Linux processes between hosts, with CRIU
 migrate moves a running process tree to another host: pre-copy rounds move
 its memory while it runs, a short freeze sends the rest, and the target
 restores it stopped and resumes it only once the source copy is gone.
 .
 This package holds both agents: migrate (the source CLI) and migrate-target
 (the target agent, run by migrate-target.service), with the CRIU build they
 need in /usr/lib/migrate.
CONTROL

mkdir -p "$dist"
deb="$dist/migrate_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
log "built $deb ($(du -h "$deb" | cut -f1))"
echo "$deb"
