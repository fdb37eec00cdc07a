#!/bin/sh
# /init of the stock-kernel guest's initramfs (busybox sh, PID 1). host.sh prepare
# packs it with a static busybox and the modules named in /modules.list.
#
# It loads those modules, mounts this machine's root (exported by qemu over 9p,
# read-only) at /newroot and hands PID 1 to guest-agent.sh inside that root, so
# the guest runs this machine's binaries at their usual paths. The agent path,
# exchange directory, guest name, boot token and the root's 9p cache mode come
# from the kernel command line (migrate.agent=, migrate.exchange=, migrate.name=,
# migrate.token=, migrate.rootcache=).

export PATH=/bin

say() {
  up='?'
  for f in /proc/uptime /newroot/proc/uptime; do
    [ -r "$f" ] && read -r up _ <"$f" && break
  done
  echo "[$up] stock-kernel init: $*"
}
# Powering off makes qemu exit, so host.sh start fails fast with this console log.
fail() {
  say "error: $*"
  poweroff -f
  sleep 5
  echo o >/proc/sysrq-trigger || echo o >/newroot/proc/sysrq-trigger
}

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
say "loading modules"

# No modules.dep in the package (ENVIRONMENT.md): insmod in dependency order and
# repeat the pass for anything that still failed.
missing=
for _ in 1 2 3 4; do
  missing=
  while read -r m; do
    [ -n "$m" ] || continue
    [ -d "/sys/module/$m" ] && continue
    insmod "/lib/modules/$m.ko" 2>/dev/null || missing="$missing $m"
  done </modules.list
  [ -z "$missing" ] && break
done
[ -z "$missing" ] || say "warning: modules not loaded:$missing"

agent='' repo='' exchange='' name='' token='' rootcache=none
for arg in $(cat /proc/cmdline); do
  case "$arg" in
    migrate.agent=*) agent=${arg#*=} ;;
    migrate.repo=*) repo=${arg#*=} ;;
    migrate.exchange=*) exchange=${arg#*=} ;;
    migrate.name=*) name=${arg#*=} ;;
    migrate.token=*) token=${arg#*=} ;;
    migrate.rootcache=*) rootcache=${arg#*=} ;;
  esac
done
[ -n "$agent" ] && [ -n "$repo" ] && [ -n "$exchange" ] && [ -n "$token" ] || fail "kernel command line lacks migrate.agent/repo/exchange/token"

# Mount options measured in ENVIRONMENT.md (msize=512000 for throughput).
# cache=loose (host.sh's default) lets the guest keep what it read of the root,
# which makes programs start 2-3x faster here; cache=none is coherent. The
# exchange export below is always cache=none: both sides write there.
say "mounting the host root"
mkdir -p /newroot
mount -t 9p -o "trans=virtio,version=9p2000.L,msize=512000,ro,cache=$rootcache" hostroot /newroot \
  || fail "cannot mount the host root over 9p (mount_tag hostroot)"
[ -x "/newroot/bin/bash" ] || fail "/bin/bash missing in the shared root"

# Everything else is set up here, with busybox from RAM: every exec of a binary
# from the 9p root costs a lot of round trips under emulation.
# Kernel filesystems move over; switch_root keeps mounts below the new root.
mount --move /dev /newroot/dev
mount --move /proc /newroot/proc
mount --move /sys /newroot/sys
mkdir -p /newroot/dev/pts /newroot/dev/shm
mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts /newroot/dev/pts || say "warning: no /dev/pts"
# The shared root is read-only, so what must be writable is a tmpfs
# (ENVIRONMENT.md: /dev/shm and /tmp). /run too: CRIU keeps its kerndat cache
# (criu.kdat) there, and must not read this machine's (6.18) copy.
for d in /dev/shm /tmp /run; do
  mode=1777
  [ "$d" = /run ] && mode=755
  mount -t tmpfs -o "mode=$mode" tmpfs "/newroot$d" || fail "cannot mount a tmpfs on $d"
done

# CRIU's kernel checks fail without lo up (ENVIRONMENT.md).
ip link set lo up || fail "cannot bring lo up"
# qemu's user-mode network has fixed addresses; this machine's loopback is 10.0.2.2.
if [ -e /newroot/sys/class/net/eth0 ]; then
  { ip link set eth0 up && ip addr add 10.0.2.15/24 dev eth0 && ip route add default via 10.0.2.2; } \
    || say "warning: could not configure eth0"
fi
hostname "${name:-guest}"

# After the tmpfs mounts, which could hide the repository and the exchange
# path (/tmp/..., /run/...). The repository is read-only, cached like the root.
mkdir -p "/newroot$repo" || fail "cannot create mount point $repo"
mount -t 9p -o "trans=virtio,version=9p2000.L,msize=512000,ro,cache=$rootcache" repo "/newroot$repo" \
  || fail "cannot mount the repository export at $repo"
[ -f "/newroot$agent" ] || fail "guest agent $agent not found in the repository export"
mkdir -p "/newroot$exchange" || fail "cannot create mount point $exchange"
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 exchange "/newroot$exchange" \
  || fail "cannot mount the exchange export at $exchange"

say "starting $agent"
# switch_root (rather than chroot) makes the shared root the guest's real "/", so
# processes (and CRIU's view of them) have an ordinary root and mount table.
exec switch_root /newroot /bin/bash "$agent" "$exchange" "$token"
