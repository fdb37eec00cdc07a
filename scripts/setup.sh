#!/usr/bin/env bash
# Installs everything migrate needs on a Debian bookworm host and publishes the
# two agents into bin/. Idempotent: a re-run on a set-up machine takes seconds.
#
#   scripts/setup.sh            # everything
#   MIGRATE_CACHE=/path ...     # where the CRIU build is cached (default /var/cache/migrate)
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=lib/packages.sh
source "$repo/scripts/lib/packages.sh"
cache=${MIGRATE_CACHE:-/var/cache/migrate}
criu_version=4.2.1
criu_tarball=criu_${criu_version}.orig.tar.xz
criu_sha256=29ec0ee09e296479fe7048c80980e8ef1d0684d0b0204c2b101dfea19f6725b9
# The project's patches to CRIU, applied in order (scripts/criu/README.md).
criu_patches=("$repo"/scripts/criu/patches/*.patch)
criu_install=/usr/local/sbin/criu

log() { printf 'setup: %s\n' "$*" >&2; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root: CRIU and the target agent need it"

# Packages from Debian's registry. CRIU's build dependencies are listed in
# ENVIRONMENT.md; the rest are what the agents, tests and demo call.
packages=(
  build-essential patch pkgconf xz-utils ca-certificates
  libbsd-dev libcap-dev libgnutls28-dev libnet1-dev libnftables-dev libnl-3-dev
  libprotobuf-c-dev libprotobuf-dev protobuf-c-compiler protobuf-compiler uuid-dev
  # util-linux has flock and unshare.
  iproute2 util-linux procps
  # nft removes the network-lock table a --tcp-established dump leaves behind.
  nftables
  # scripts/package.sh: dpkg-deb is dpkg's, dpkg-shlibdeps dpkg-dev's; the
  # package test checks the unit with systemd-analyze(1), which is systemd's.
  dpkg-dev systemd
)

# The CRIU build is cached under a key made of the tarball's checksum and the
# patches' content: a re-run on a set-up machine only compares files, and a
# changed patch builds anew.
criu_build_key() {
  { echo "$criu_sha256"; cat "${criu_patches[@]}"; } | sha256sum | cut -c1-16
}

# True when the criu binary BIN is CRIU $criu_version with the patches and its
# kernel check passes. 'criu check --feature' calls a feature it does not know
# "Unknown feature": a CRIU without 0001-track-mem-wp.patch says that of
# track_mem_wp, a patched one does not, whether this kernel supports it or not.
criu_verified() {
  local bin=$1
  [ "$("$bin" --version 2>/dev/null | sed -n 's/^Version: *//p')" = "$criu_version" ] || return 1
  if "$bin" check --feature track_mem_wp 2>&1 | grep -q 'Unknown feature'; then
    return 1
  fi
  "$bin" check >/dev/null 2>&1
}

# Prints the URI of the Debian archive that this machine's apt configuration
# uses: the source whose Release file is labelled "Debian". A fresh machine has
# no package lists yet, so they are read first when apt lists no such source.
debian_archive() {
  local uri
  uri=$(debian_archive_listed)
  if [ -z "$uri" ]; then
    apt-get update -qq >/dev/null 2>&1 || true
    uri=$(debian_archive_listed)
  fi
  [ -n "$uri" ] || die "apt knows no Debian archive (no source labelled Debian); add one under /etc/apt/sources.list.d"
  echo "$uri"
}

debian_archive_listed() {
  # shellcheck disable=SC2016 # apt expands $(...) in --format itself
  apt-get indextargets --format '$(REPO_URI) $(LABEL) $(IDENTIFIER)' 2>/dev/null \
    | awk '$2 == "Debian" && $3 == "Packages" { print $1; exit }'
}

# Puts the verified upstream tarball into the cache, so that a new patch builds
# without the network. Debian's sid suite carries criu 4.2.1; only its upstream
# tarball is needed. The sid source index goes into private apt state, so the
# host's own apt configuration is left as it was. The registry has been seen to
# answer 404 for the .dsc or .debian.tar.xz while serving the tarball, so a
# partial download is fine once the checksum holds.
fetch_criu_tarball() {
  local tarball="$cache/$criu_tarball" dir archive
  if [ -f "$tarball" ] && echo "$criu_sha256  $tarball" | sha256sum -c --quiet - >/dev/null 2>&1; then
    return
  fi
  archive=$(debian_archive)
  dir=$(mktemp -d)
  mkdir -p "$dir/apt/parts" "$dir/apt/lists/partial" "$dir/apt/cache"
  printf 'Types: deb-src\nURIs: %s\nSuites: sid\nComponents: main\nSigned-By: %s\n' \
    "$archive" /usr/share/keyrings/debian-archive-keyring.gpg >"$dir/apt/parts/sid-src.sources"
  local apt_private=(-o Dir::Etc::SourceParts="$dir/apt/parts" -o Dir::Etc::SourceList=/dev/null
                     -o Dir::State::Lists="$dir/apt/lists" -o Dir::Cache="$dir/apt/cache"
                     -o APT::Sandbox::User=root)
  apt-get "${apt_private[@]}" update -qq >/dev/null 2>&1 || die "cannot read Debian's sid source index from $archive"
  (cd "$dir" && apt-get "${apt_private[@]}" source --download-only -qq "criu=${criu_version}-1" >/dev/null 2>&1) || true
  [ -f "$dir/$criu_tarball" ] || die "could not download $criu_tarball from Debian's sid suite at $archive"
  echo "$criu_sha256  $dir/$criu_tarball" | sha256sum -c --quiet - \
    || die "$criu_tarball does not match sha256 $criu_sha256"
  mv "$dir/$criu_tarball" "$tarball.tmp"
  mv -f "$tarball.tmp" "$tarball"
  rm -rf "$dir"
}

# Builds CRIU from the tarball with the patches into BUILT, once it passes
# criu_verified.
build_criu() {
  local built=$1 work src patch
  log "building CRIU $criu_version with ${#criu_patches[@]} patches (about a minute)"
  fetch_criu_tarball
  work=$(mktemp -d)
  tar -xf "$cache/$criu_tarball" -C "$work"
  src="$work/criu-$criu_version"
  for patch in "${criu_patches[@]}"; do
    patch -d "$src" -p1 --forward --batch <"$patch" >>"$work/build.log" 2>&1 \
      || die "$(basename "$patch") does not apply to CRIU $criu_version (log: $work/build.log)"
  done
  make -C "$src" -j"$(nproc)" criu >>"$work/build.log" 2>&1 \
    || { tail -20 "$work/build.log" >&2; die "CRIU build failed (log: $work/build.log)"; }
  criu_verified "$src/criu/criu" \
    || die "the CRIU just built fails its checks: $("$src/criu/criu" check 2>&1 | tail -3)"
  mkdir -p "$(dirname "$built")"
  install -m 0755 "$src/criu/criu" "$built.tmp"
  mv -f "$built.tmp" "$built"
  rm -rf "$work"
}

# Installs the patched build as $criu_install, the criu the agents find on
# PATH. Any other criu, even a working one, lacks the patches and is not used.
# The rename leaves a criu that runs meanwhile intact, and the lock keeps
# concurrent setups from building twice.
provide_criu() {
  local built found lock
  built="$cache/criu-$criu_version-$(criu_build_key)/criu"
  mkdir -p "$cache"
  exec {lock}>"$cache/criu.lock"
  flock "$lock"
  [ -x "$built" ] || build_criu "$built"
  if ! cmp -s "$built" "$criu_install"; then
    criu_verified "$built" || die "the cached $built fails its checks: $("$built" check 2>&1 | tail -3)"
    install -m 0755 "$built" "$criu_install.new"
    mv -f "$criu_install.new" "$criu_install"
    log "installed the patched CRIU $criu_version as $criu_install"
  fi
  exec {lock}>&-
  found=$(command -v criu || true)
  [ "$found" = "$criu_install" ] \
    || die "'criu' on PATH is ${found:-missing}, not the patched $criu_install: put $(dirname "$criu_install") first in PATH${found:+ or remove $found}"
}

mount_tracefs() {
  if [ ! -e /sys/kernel/tracing/uprobe_events ]; then
    mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null \
      || log "warning: could not mount tracefs; uprobe checks will report it"
  fi
}

# Publishing takes ~30 s, so skip it when no source changed since the last one.
publish_agents() {
  local stamp="$repo/bin/.source-hash" hash
  hash=$(cd "$repo" && find src protos Directory.Build.props Directory.Packages.props -type f \
           \( -name '*.cs' -o -name '*.csproj' -o -name '*.proto' -o -name '*.props' -o -name '*.json' \) \
           -not -path '*/obj/*' -not -path '*/bin/*' -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)
  if [ -x "$repo/bin/migrate" ] && [ -x "$repo/bin/migrate-target" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$hash" ]; then
    return
  fi
  log "publishing migrate and migrate-target into bin/"
  local rid
  case "$(uname -m)" in
    x86_64) rid=linux-x64 ;;
    aarch64) rid=linux-arm64 ;;
    *) die "no .NET runtime identifier for $(uname -m)" ;;
  esac
  for project in Migrate.Source Migrate.Target; do
    dotnet publish "$repo/src/$project" -c Release -r "$rid" --self-contained false -o "$repo/bin" --nologo -v quiet >/dev/null \
      || dotnet publish "$repo/src/$project" -c Release -r "$rid" --self-contained false -o "$repo/bin" --nologo
  done
  echo "$hash" >"$stamp"
}

ensure_packages "${packages[@]}" || die "the packages above are needed to build CRIU and the agents"
provide_criu
mount_tracefs
publish_agents
log "ready: $repo/bin/migrate, $repo/bin/migrate-target, criu $(criu --version | sed -n 's/^Version: *//p')"
