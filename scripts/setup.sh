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

log() { printf 'setup: %s\n' "$*" >&2; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root: CRIU and the target agent need it"

# Packages from Debian's registry. CRIU's build dependencies are listed in
# ENVIRONMENT.md; the rest are what the agents, tests and demo call.
packages=(
  build-essential pkgconf xz-utils ca-certificates
  libbsd-dev libcap-dev libgnutls28-dev libnet1-dev libnftables-dev libnl-3-dev
  libprotobuf-c-dev libprotobuf-dev protobuf-c-compiler protobuf-compiler uuid-dev
  iproute2 util-linux procps
  # nft removes the network-lock table a --tcp-established dump leaves behind.
  nftables
)

# True when the given criu binary is at least 4.2 and its kernel check passes.
criu_usable() {
  local bin=$1 version
  version=$("$bin" --version 2>/dev/null | sed -n 's/^Version: *//p')
  [ -n "$version" ] || return 1
  printf '%s\n%s\n' 4.2 "$version" | sort -V -C || return 1
  "$bin" check >/dev/null 2>&1
}

# The Debian archive this host's apt already uses: the URI of its sources
# entry for the release the host runs (not -updates or -security), so that a
# local or corporate mirror serves CRIU's source too. MIGRATE_DEBIAN_MIRROR
# overrides it, for a mirror that carries bookworm but not sid.
debian_mirror() {
  if [ -n "${MIGRATE_DEBIAN_MIRROR:-}" ]; then
    echo "$MIGRATE_DEBIAN_MIRROR"
    return
  fi
  local codename
  codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
  # apt-get indextargets reads the host's sources, in both formats (.list and deb822).
  # shellcheck disable=SC2016 # $(...) are apt's format fields, not the shell's
  apt-get indextargets --format '$(TARGET_OF) $(RELEASE) $(REPO_URI)' 2>/dev/null |
    awk -v release="$codename" '$1 == "deb" && $2 == release { print $3; exit }'
}

# Debian's sid suite carries criu 4.2.1; only its upstream tarball is needed.
# The sid source index goes into private apt state under $dir, so the host's
# own apt configuration is left as it was. The registry has been seen to
# answer 404 for the .dsc or .debian.tar.xz while serving the tarball, so a
# partial download is fine once the checksum holds.
fetch_criu_source() {
  local dir=$1 mirror
  mirror=$(debian_mirror)
  [ -n "$mirror" ] || die "no Debian archive for this release in the host's apt sources (set MIGRATE_DEBIAN_MIRROR=URI)"
  mkdir -p "$dir/apt/parts" "$dir/apt/lists/partial" "$dir/apt/cache"
  cat >"$dir/apt/parts/sid-src.sources" <<EOF
Types: deb-src
URIs: $mirror
Suites: sid
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  local apt_private=(-o Dir::Etc::SourceParts="$dir/apt/parts" -o Dir::Etc::SourceList=/dev/null
                     -o Dir::State::Lists="$dir/apt/lists" -o Dir::Cache="$dir/apt/cache"
                     -o APT::Sandbox::User=root)
  apt-get "${apt_private[@]}" update -qq >/dev/null 2>&1 || die "cannot read Debian's sid source index from $mirror"
  (cd "$dir" && apt-get "${apt_private[@]}" source --download-only -qq "criu=${criu_version}-1" >/dev/null 2>&1) || true
  [ -f "$dir/$criu_tarball" ] || die "could not download $criu_tarball from Debian's sid suite"
  echo "$criu_sha256  $dir/$criu_tarball" | sha256sum -c --quiet - \
    || die "$criu_tarball does not match sha256 $criu_sha256"
}

build_criu() {
  local built="$cache/criu-$criu_version/criu"
  if [ ! -x "$built" ]; then
    log "building CRIU $criu_version (about a minute)"
    local work
    work=$(mktemp -d)
    fetch_criu_source "$work"
    tar -xf "$work/$criu_tarball" -C "$work"
    make -C "$work/criu-$criu_version" -j"$(nproc)" criu >"$work/build.log" 2>&1 \
      || { tail -20 "$work/build.log" >&2; die "CRIU build failed (log: $work/build.log)"; }
    mkdir -p "$(dirname "$built")"
    install -m 0755 "$work/criu-$criu_version/criu/criu" "$built"
    rm -rf "$work"
  fi
  install -m 0755 "$built" /usr/local/sbin/criu
}

provide_criu() {
  local existing
  existing=$(command -v criu || true)
  if [ -n "$existing" ] && criu_usable "$existing"; then
    log "using $existing ($("$existing" --version | head -1))"
    return
  fi
  build_criu
  criu_usable /usr/local/sbin/criu || die "CRIU $criu_version was built but 'criu check' fails: $(criu check 2>&1 | tail -3)"
  log "using /usr/local/sbin/criu ($criu_version)"
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
