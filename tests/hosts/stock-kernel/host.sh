#!/usr/bin/env bash
# A stock-kernel test host: Debian bookworm's 6.1 kernel booted under qemu (software
# emulation, no KVM), running this machine's root filesystem shared read-only over
# 9p. It has what this machine's 6.18 kernel lacks (CONFIG_MEM_SOFT_DIRTY, so CRIU
# pre-dump works) and a different vDSO (so migrations between it and this machine
# cross kernels). See ENVIRONMENT.md, "A second kernel on this machine".
#
#   host.sh prepare
#       Install qemu/busybox/cpio, fetch and unpack the kernel package, build the
#       initramfs. Cached under ${MIGRATE_CACHE:-/var/cache/migrate}/stock-kernel;
#       a re-run takes well under a second.
#   host.sh start NAME [--exchange DIR] [--forward HOSTPORT:GUESTPORT]...
#                      [--memory MiB] [--cpus N] [--root-cache loose|none]
#       Boot guest NAME; return once it runs commands. Prints the exchange
#       directory: exported writable and mounted at the same path in the guest
#       (default: a fresh /tmp/migrate-stock-kernel-NAME.XXXXXX, removed by stop).
#       The exchange dir is always coherent between both sides. This machine's
#       root is not, by default (--root-cache loose): the guest caches what it
#       read of it, so a file changed here after the guest read it can look old
#       in there. That caching makes programs start 2-3x faster under
#       emulation; --root-cache none trades it for coherence.
#       Each --forward makes 127.0.0.1:HOSTPORT on this machine reach the guest's
#       GUESTPORT (TCP; the guest service must listen on 0.0.0.0 or 10.0.2.15).
#       The guest reaches this machine's loopback services at 10.0.2.2.
#   host.sh exec NAME [--timeout S] -- CMD [ARGS...]
#       Run CMD in the guest (cwd: this shell's cwd if the guest has it, else /;
#       stdin: /dev/null; environment: PATH, HOME=/root, LANG=C.UTF-8 - use
#       "env VAR=VALUE CMD" for more), print its stdout, then its stderr, exit
#       with its exit code (124: killed after S seconds, default 600, 0 for none).
#   host.sh exec NAME --detach -- CMD [ARGS...]
#       Start CMD in the background in its own session (setsid; a leading "setsid"
#       in CMD is not doubled), print its guest PID once it runs. Its output goes to
#       EXCHANGE/.stock-kernel/pid-PID.out and .err, its exit code to pid-PID.rc.
#       A process that CRIU shall restore on this machine must not hold
#       CAP_SYS_RESOURCE, which root here lacks: start it as
#       "setsid setpriv --bounding-set -sys_resource CMD..." (ENVIRONMENT.md).
#       Writes into the exchange dir are slow when small: CRIU wrote a 64 MiB
#       pre-dump there at about 5 MB/s (11-16 s); into the guest's /tmp and then
#       "cp -r" to the exchange took about 1.3 s + 1-3 s.
#   host.sh stop NAME
#       Power the guest off (killing qemu if it does not), remove its state and
#       its exchange directory if start created it. Safe to repeat.
#   host.sh status NAME
#       Say whether NAME runs; exit 0 if it does, 1 if not.
#
# Moving processes the other way, from this machine into the guest: the guest's
# emulated CPU has no AVX-512, and glibc here picks AVX-512 string functions, so a
# process restored in there died of SIGILL in libc. Started with
#   GLIBC_TUNABLES=glibc.cpu.hwcaps=-AVX512F,-AVX512VL,-AVX512BW,-AVX512DQ,-AVX512CD
# it restored and ran (.NET's JIT would need DOTNET_EnableAVX512F=0; not tried).
#
# Environment: MIGRATE_CACHE (cache root), STOCK_KERNEL_STATE (state root, default
# /run/migrate-stock-kernel), STOCK_KERNEL_BOOT_TIMEOUT (seconds, default 180).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../../../scripts/lib/packages.sh
source "$here/../../../scripts/lib/packages.sh"
cache=${MIGRATE_CACHE:-/var/cache/migrate}/stock-kernel
state_root=${STOCK_KERNEL_STATE:-/run/migrate-stock-kernel}
boot_timeout=${STOCK_KERNEL_BOOT_TIMEOUT:-180}
# Bump when build_initramfs changes what it packs, so cached images are rebuilt.
initramfs_format=1

log() { printf 'stock-kernel: %s\n' "$*" >&2; }
die() { printf 'stock-kernel: error: %s\n' "$*" >&2; exit 1; }
usage() { sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "${BASH_SOURCE[0]}" >&2; exit 2; }

need_root() { [ "$(id -u)" -eq 0 ] || die "run as root: installing packages and qemu's 9p passthrough export need it"; }

# Every path handed to the guest travels on the kernel command line (split at
# spaces) and in qemu -virtfs options (split at commas): allow only plain paths.
check_path() {
  [[ $2 =~ ^/[A-Za-z0-9._/+-]*$ ]] || die "$1 '$2' must be an absolute path of letters, digits and ._+-/ only"
}

check_name() {
  [[ ${1:-} =~ ^[A-Za-z0-9][A-Za-z0-9_.-]*$ ]] || die "guest name '${1:-}' must be letters, digits and ._- (see host.sh --help)"
}

# ---------------------------------------------------------------------------------
# prepare

# The ABI package (linux-image-6.1.0-N-amd64) and version that bookworm's
# linux-image-amd64 currently depends on, from the local apt index. apt-cache takes
# over a second here (this machine's apt config disables apt's binary cache), so
# the answer is remembered until the index files change.
kernel_candidate() {
  local stamp memo_stamp memo=$cache/.kernel-candidate
  stamp=$(stat -c '%n %s %Y' /var/lib/apt/lists/*_Packages* 2>/dev/null | sha256sum | cut -c1-16)
  kernel_pkg='' kernel_ver=''
  if [ -f "$memo" ]; then
    read -r memo_stamp kernel_pkg kernel_ver <"$memo" || true
    [ "$memo_stamp" = "$stamp" ] && [ -n "$kernel_ver" ] && return 0
  fi
  read -r kernel_pkg kernel_ver < <(apt-cache show --no-all-versions linux-image-amd64 2>/dev/null \
    | sed -n 's/^Depends:.*\(linux-image-6\.1\.0-[0-9][0-9]*-amd64\) (= \([^)]*\)).*/\1 \2/p;T;q') || true
  [ -n "$kernel_pkg" ] && [ -n "$kernel_ver" ] || return 1
  echo "$stamp $kernel_pkg $kernel_ver" >"$memo"
}

download_kernel() {
  local deb=$1 tmp
  tmp=$(mktemp -d "$cache/.download.XXXXXX")
  # APT::Sandbox::User=root: the _apt user cannot write into root's cache dir.
  if (cd "$tmp" && apt-get download -qq -o APT::Sandbox::User=root "$kernel_pkg=$kernel_ver") >"$tmp/log" 2>&1 \
     && [ -f "$tmp/${deb##*/}" ]; then
    mv "$tmp/${deb##*/}" "$deb"
    rm -rf "$tmp"
    return 0
  fi
  cat "$tmp/log" >&2
  rm -rf "$tmp"
  return 1
}

fetch_kernel() {
  # A machine whose apt lists are missing or older than the registry (which then
  # answers 404) gets one apt-get update and a second try.
  local deb tries
  for tries in 1 2; do
    if kernel_candidate; then
      deb=$cache/${kernel_pkg}_${kernel_ver}_amd64.deb
      [ -f "$deb" ] && break
      log "downloading $kernel_pkg $kernel_ver"
      download_kernel "$deb" && break
    fi
    rm -f "$cache/.kernel-candidate"
    [ "$tries" = 2 ] && die "cannot get Debian bookworm's linux-image-6.1.0-*-amd64 (apt-cache show linux-image-amd64; apt-get download); is bookworm in the apt sources?"
    log "refreshing the apt index"
    apt-get update -qq || die "apt-get update failed; check Debian's registry is reachable"
  done

  kernel_abi=${kernel_pkg#linux-image-}
  kernel_tree=$cache/${kernel_pkg}_${kernel_ver}
  vmlinuz=$kernel_tree/boot/vmlinuz-$kernel_abi
  if [ ! -f "$vmlinuz" ]; then
    log "unpacking ${deb##*/}"
    rm -rf "$kernel_tree.tmp"
    dpkg-deb -x "$deb" "$kernel_tree.tmp" || die "dpkg-deb -x $deb failed; delete it and re-run prepare"
    [ -f "$kernel_tree.tmp/boot/vmlinuz-$kernel_abi" ] || die "$deb has no boot/vmlinuz-$kernel_abi"
    grep -qx 'CONFIG_MEM_SOFT_DIRTY=y' "$kernel_tree.tmp/boot/config-$kernel_abi" \
      || die "$kernel_pkg lacks CONFIG_MEM_SOFT_DIRTY=y, the reason this guest exists"
    rm -rf "$kernel_tree"
    mv "$kernel_tree.tmp" "$kernel_tree"
  fi
  # The unpacked tree stays: the guest can insmod further modules from it
  # (e.g. sch_netem, missing on this machine's kernel).
  kernel_modules=$kernel_tree/lib/modules/$kernel_abi
  extract_vmlinux
}

# The bzImage's self-decompression (xz) takes seconds under emulation; qemu boots
# the uncompressed ELF kernel directly through its PVH entry (CONFIG_PVH=y).
# Without it, start falls back to the bzImage.
extract_vmlinux() {
  local offsets off tmp=$kernel_tree/vmlinux.tmp
  boot_kernel=$kernel_tree/vmlinux
  [ -f "$boot_kernel" ] && return
  boot_kernel=$vmlinuz
  grep -qx 'CONFIG_PVH=y' "$kernel_tree/boot/config-$kernel_abi" || return 0
  offsets=$(LC_ALL=C grep -m1 -abo $'\xfd7zXZ\x00' "$vmlinuz" || true)
  off=${offsets%%:*}
  [[ $off =~ ^[0-9]+$ ]] || { log "warning: no xz payload in ${vmlinuz##*/}; booting the bzImage"; return 0; }
  # --single-stream stops at the end of the payload (trailing data follows it);
  # tail then dies of SIGPIPE, hence no pipe (pipefail).
  if xz -dc --single-stream < <(tail -c +$((off + 1)) "$vmlinuz") >"$tmp" 2>/dev/null \
     && cmp -s -n 4 <(printf '\177ELF') "$tmp"; then
    mv "$tmp" "$kernel_tree/vmlinux"
    boot_kernel=$kernel_tree/vmlinux
  else
    rm -f "$tmp"
    log "warning: could not extract vmlinux from ${vmlinuz##*/}; booting the bzImage"
  fi
}

# Fills resolved[] with "NAME PATH" for the modules of modules.list plus their
# dependencies (the .ko's "depends=" modinfo field), dependencies first.
resolve_modules() {
  local f n
  declare -gA ko_path=() builtin=() visited=()
  resolved=()
  while IFS= read -r -d '' f; do
    n=${f##*/}
    n=${n%.ko}
    ko_path[${n//-/_}]=$f
  done < <(find "$kernel_modules/kernel" -name '*.ko' -print0)
  while IFS= read -r f; do
    n=${f##*/}
    n=${n%.ko}
    builtin[${n//-/_}]=1
  done <"$kernel_modules/modules.builtin"
  while read -r n _; do
    [[ -z $n || $n == \#* ]] && continue
    visit_module "${n//-/_}"
  done <"$here/modules.list"
}

visit_module() {
  local n=$1 deps dep
  [ -n "${visited[$n]:-}" ] && return
  visited[$n]=1
  if [ -z "${ko_path[$n]:-}" ]; then
    [ -n "${builtin[$n]:-}" ] && return
    die "module $n (modules.list or a dependency) is neither in $kernel_pkg nor built into it"
  fi
  deps=$(tr '\0' '\n' <"${ko_path[$n]}" | sed -n 's/^depends=//p')
  local -a list=()
  IFS=, read -r -a list <<<"$deps"
  for dep in "${list[@]}"; do
    [ -n "$dep" ] && visit_module "${dep//-/_}"
  done
  resolved+=("$n ${ko_path[$n]}")
}

build_initramfs() {
  local busybox=/bin/busybox hash stage line n
  [ -x "$busybox" ] || die "$busybox missing: is busybox-static installed?"
  # Inputs: anything that changes what gets packed.
  hash=$({ echo "format $initramfs_format $kernel_pkg $kernel_ver"
           sha256sum "$busybox" "$here/init.sh" "$here/modules.list" | cut -d' ' -f1; } \
         | sha256sum | cut -c1-16)
  initramfs=$cache/initramfs-$kernel_abi-$hash.cpio.gz
  [ -f "$initramfs" ] && return

  log "building the initramfs"
  stage=$(mktemp -d "$cache/.initramfs.XXXXXX")
  mkdir -p "$stage"/{bin,dev,proc,sys,newroot,lib/modules}
  cp "$busybox" "$stage/bin/busybox"
  for n in $("$busybox" --list); do
    [ "$n" = busybox ] || ln -s busybox "$stage/bin/$n"
  done
  install -m 0755 "$here/init.sh" "$stage/init"
  resolve_modules
  : >"$stage/modules.list"
  for line in "${resolved[@]}"; do
    cp "${line#* }" "$stage/lib/modules/${line%% *}.ko"
    echo "${line%% *}" >>"$stage/modules.list"
  done
  # The kernel opens /dev/console for init's stdio before devtmpfs is mounted.
  mknod -m 600 "$stage/dev/console" c 5 1
  mknod -m 666 "$stage/dev/null" c 1 3
  (cd "$stage" && find . -print0 | cpio --null -o -H newc --quiet) | gzip -1 >"$stage.cpio.gz"
  mv "$stage.cpio.gz" "$initramfs"
  rm -rf "$stage"
}

# Old kernel versions and initramfs images, after the index moved on.
prune_cache() {
  local f
  for f in "$cache"/linux-image-* "$cache"/initramfs-*; do
    case "$f" in
      "$kernel_tree" | "$kernel_tree.tmp" | "$cache/${kernel_pkg}_${kernel_ver}_amd64.deb" | "$initramfs") ;;
      *) [ -e "$f" ] && { log "removing old $f"; rm -rf "$f"; } ;;
    esac
  done
}

prepare() {
  need_root
  mkdir -p "$cache"
  # One prepare at a time: tests may start several guests at once.
  exec 8>"$cache/.lock"
  flock 8
  ensure_packages qemu-system-x86 busybox-static cpio xz-utils || die "qemu and the guest's tools are needed"
  fetch_kernel
  build_initramfs
  prune_cache
  flock -u 8
  exec 8>&-
}

cmd_prepare() {
  [ $# -eq 0 ] || usage
  prepare
  log "ready: $kernel_pkg $kernel_ver"
  printf 'kernel=%s\ninitramfs=%s\nmodules=%s\n' "$boot_kernel" "$initramfs" "$kernel_modules"
}

# ---------------------------------------------------------------------------------
# guest state: $state_root/NAME/{env,qemu.pid,qemu.log,console.log}

load_state() {
  state=$state_root/$1
  qemu_pid='' exchange='' exchange_owned='' ctl='' console='' kernel=''
  [ -f "$state/env" ] || return 1
  # shellcheck source=/dev/null
  source "$state/env"
  qemu_pid=$(cat "$state/qemu.pid" 2>/dev/null || true)
}

# True while the recorded qemu runs: a live (not zombie) process whose command
# line names this guest's console log, so a recycled PID does not count. (This
# machine's PID 1 reaps orphans only after about a second.)
qemu_alive() {
  local stat
  [[ ${qemu_pid:-} =~ ^[0-9]+$ ]] || return 1
  stat=$(cat "/proc/$qemu_pid/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [[ ${stat:0:1} != [ZX] ]] || return 1
  [[ $(tr '\0' '\n' <"/proc/$qemu_pid/cmdline" 2>/dev/null) == *"file:$console"* ]]
}

qemu_zombie() {
  local stat
  [[ ${qemu_pid:-} =~ ^[0-9]+$ ]] || return 1
  stat=$(cat "/proc/$qemu_pid/stat" 2>/dev/null) || return 1
  [[ $stat == *"(qemu-system-x86) Z "* ]]
}

console_tail() {
  [ -f "${console:-}" ] || return 0
  printf '\n--- last lines of the guest console (%s) ---\n' "$console" >&2
  tail -n "${1:-25}" "$console" >&2
  printf -- '---\n' >&2
}

# Waits up to $1 seconds for qemu to exit.
wait_qemu_exit() {
  local deadline=$((SECONDS + $1))
  while qemu_alive; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.1
  done
}

# Power off (via the agent), then SIGTERM, then SIGKILL; then forget the guest.
teardown() {
  if qemu_alive; then
    if [ -d "$ctl" ]; then
      : >"$ctl/poweroff"
      wait_qemu_exit 30 || log "guest did not power off within 30 s; terminating qemu $qemu_pid"
    fi
    if qemu_alive; then
      kill -TERM "$qemu_pid" 2>/dev/null || true
      wait_qemu_exit 10 || { kill -KILL "$qemu_pid" 2>/dev/null || true; wait_qemu_exit 10 || die "qemu $qemu_pid survives SIGKILL"; }
    fi
  fi
  # The exited qemu stays a zombie until this machine's PID 1 reaps it (about
  # a second); wait for that, so nothing called qemu is left when stop returns.
  local deadline=$((SECONDS + 5))
  while qemu_zombie && [ $SECONDS -lt $deadline ]; do
    sleep 0.1
  done
  # A default exchange dir is ours (start made it); a given one keeps its
  # contents, only the agent's request files go.
  if [ "$exchange_owned" = 1 ] && [[ $exchange == /tmp/migrate-stock-kernel-* ]]; then
    rm -rf "$exchange"
  elif [ -n "$ctl" ]; then
    rm -rf "$ctl"
  fi
  rm -rf "$state"
  rmdir "$state_root" 2>/dev/null || true
}

# ---------------------------------------------------------------------------------
# start

# Shows the console's end, keeps the whole log outside the state dir, cleans up.
boot_failed() {
  local kept=/tmp/migrate-stock-kernel-$name.console.log
  console_tail 40
  cp "$console" "$kept" 2>/dev/null || kept="(none)"
  teardown
  die "$1; console above, the whole console log: $kept"
}

# What is dumped in the guest gets restored here, so the guest's CPU offers
# no instruction this machine lacks: a process may pick up any instruction the
# CPU it started on advertises, and CRIU's cpuinfo check refuses the move
# otherwise (criu/arch/x86/cpu.c, cpu_validate_ins_features). TCG's "max"
# model advertises every feature TCG emulates; drop those this machine's
# /proc/cpuinfo does not list, plus MPX and PKU (xsave components) and
# 5-level paging.
guest_cpu_model() {
  local model=max,-mpx,-pku,-la57 flag
  local -a emulated=(3dnow 3dnowext 3dnowprefetch abm sse4a rdtscp fsgsbase monitor pdpe1gb smap smep umip
                     xop fma4 tbm sha_ni rdpid clzero mwaitx vaes vpclmulqdq gfni movbe)
  local host_flags qemu_flags
  host_flags=" $(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2) "
  qemu_flags=" $(qemu-system-x86_64 -cpu help | sed -n '/Recognized CPUID flags/,$p' | tr -s ' \n' ' ') "
  for flag in "${emulated[@]}"; do
    local name=${flag//_/-}
    [[ $host_flags == *" $flag "* || $qemu_flags != *" $name "* ]] || model+=",-$name"
  done
  printf '%s\n' "$model"
}

cmd_start() {
  local name=${1:-} memory=2048 cpus=2 root_cache=loose forwards=() arg h g other token ready_tok kver t0
  check_name "$name"
  shift
  local exchange_opt=
  while [ $# -gt 0 ]; do
    case "$1" in
      --exchange) [ $# -ge 2 ] || usage; exchange_opt=$2; shift 2 ;;
      --forward)
        [ $# -ge 2 ] || usage
        [[ $2 =~ ^([0-9]+):([0-9]+)$ ]] && h=${BASH_REMATCH[1]} g=${BASH_REMATCH[2]} \
          && ((h > 0 && h < 65536 && g > 0 && g < 65536)) || die "--forward wants HOSTPORT:GUESTPORT, got '$2'"
        forwards+=("$h:$g")
        shift 2
        ;;
      --memory) [[ ${2:-} =~ ^[0-9]+$ ]] || die "--memory wants MiB, got '${2:-}'"; memory=$2; shift 2 ;;
      --cpus) [[ ${2:-} =~ ^[1-9][0-9]*$ ]] || die "--cpus wants a number, got '${2:-}'"; cpus=$2; shift 2 ;;
      --root-cache) [[ ${2:-} =~ ^(loose|none)$ ]] || die "--root-cache wants loose or none, got '${2:-}'"; root_cache=$2; shift 2 ;;
      *) usage ;;
    esac
  done
  need_root

  if load_state "$name"; then
    qemu_alive && die "guest $name already runs (qemu $qemu_pid); 'host.sh stop $name' first"
    log "removing stale state of $name"
    teardown
  fi
  rm -rf "${state_root:?}/${name:?}"

  prepare
  command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 missing although qemu-system-x86 is installed"
  # The repository (this script, the guest agent, bin/) gets an export of its
  # own: the guest's tmpfs on /tmp, /run and /dev/shm would hide it in a clone there.
  repo=$(cd "$here/../../.." && pwd -P)
  check_path "the repository" "$repo"

  exchange_owned=0
  if [ -n "$exchange_opt" ]; then
    check_path "exchange directory" "$(realpath -m "$exchange_opt")"
    mkdir -p "$exchange_opt" || die "cannot create exchange directory $exchange_opt"
    exchange=$(realpath "$exchange_opt")
  else
    exchange=$(mktemp -d "/tmp/migrate-stock-kernel-$name.XXXXXX")
    exchange_owned=1
  fi
  check_path "exchange directory" "$exchange"
  [ "$exchange" != / ] || die "the exchange directory cannot be /"
  for other in "$state_root"/*/env; do
    [ -f "$other" ] || continue
    grep -qxF "exchange=$(printf '%q' "$exchange")" "$other" \
      && die "exchange $exchange is in use by guest $(basename "$(dirname "$other")"); give each guest its own"
  done

  state=$state_root/$name
  ctl=$exchange/.stock-kernel
  console=$state/console.log
  rm -rf "$ctl"
  mkdir -p "$state" "$ctl"
  token=$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')
  {
    printf 'exchange=%q\n' "$exchange"
    printf 'exchange_owned=%q\n' "$exchange_owned"
    printf 'ctl=%q\n' "$ctl"
    printf 'console=%q\n' "$console"
    printf 'kernel=%q\n' "$kernel_pkg $kernel_ver"
  } >"$state/env"

  local netdev=user,id=net0
  for arg in "${forwards[@]}"; do
    netdev+=",hostfwd=tcp:127.0.0.1:${arg%%:*}-:${arg#*:}"
  done

  # mitigations=off: page-table isolation makes every guest syscall flush qemu's
  # software TLB; it changes neither the vDSO nor soft-dirty tracking.
  # panic=-1 with -no-reboot: a guest that panics ends qemu at once.
  # tsc=reliable: the kernel otherwise finds the emulated TSCs "unsynchronized" and
  # falls back to the HPET, whose every read is an emulated MMIO access.
  local append="console=ttyS0 loglevel=4 panic=-1 mitigations=off tsc=reliable"
  append+=" migrate.name=$name migrate.agent=$repo/tests/hosts/stock-kernel/guest-agent.sh migrate.repo=$repo migrate.exchange=$exchange migrate.token=$token migrate.rootcache=$root_cache"

  local guest_cpu
  guest_cpu=$(guest_cpu_model)

  # qemu outlives this script: it must not keep any inherited descriptor
  # (a caller's pipe would never see EOF).
  local fd fds=()
  for fd in "/proc/$$/fd/"*; do
    fd=${fd##*/}
    [ "$fd" -gt 2 ] && fds+=("$fd")
  done

  t0=$SECONDS
  log "booting $name ($kernel_pkg $kernel_ver, ${memory} MiB, $cpus CPUs, exchange $exchange)"
  # -virtfs flags as measured in ENVIRONMENT.md. -daemonize returns once qemu is
  # set up, so bad options and busy forwarded ports fail here, with qemu.log.
  # romfile= : no option ROM needed when booting with -kernel.
  if ! (
    for fd in "${fds[@]}"; do exec {fd}>&-; done 2>/dev/null
    exec qemu-system-x86_64 \
      -name "migrate-stock-kernel-$name" \
      -machine pc -accel tcg,thread=multi -cpu "$guest_cpu" -smp "$cpus" -m "$memory" \
      -nodefaults -no-user-config -display none -no-reboot \
      -kernel "$boot_kernel" -initrd "$initramfs" -append "$append" \
      -serial "file:$console" \
      -virtfs local,path=/,mount_tag=hostroot,security_model=passthrough,readonly=on,multidevs=remap \
      -virtfs "local,path=$exchange,mount_tag=exchange,security_model=passthrough,multidevs=remap" \
      -virtfs "local,path=$repo,mount_tag=repo,security_model=passthrough,readonly=on,multidevs=remap" \
      -netdev "$netdev" -device virtio-net-pci,netdev=net0,romfile= \
      -daemonize -pidfile "$state/qemu.pid"
  ) </dev/null >"$state/qemu.log" 2>&1; then
    cat "$state/qemu.log" >&2
    teardown
    die "qemu did not start (its messages above); a busy --forward host port is a common cause"
  fi
  qemu_pid=$(cat "$state/qemu.pid")

  # Ready when the agent wrote this boot's token into the exchange dir.
  local deadline=$((SECONDS + boot_timeout))
  while :; do
    ready_tok='' kver=''
    [ -f "$ctl/ready" ] && { read -r ready_tok kver <"$ctl/ready" || true; }
    [ "$ready_tok" = "$token" ] && break
    if ! qemu_alive; then
      boot_failed "guest $name stopped while booting"
    fi
    if [ $SECONDS -ge $deadline ]; then
      boot_failed "guest $name not ready after ${boot_timeout} s (raise STOCK_KERNEL_BOOT_TIMEOUT if the machine is busy)"
    fi
    sleep 0.1
  done
  log "$name ready after $((SECONDS - t0)) s: kernel $kver, qemu pid $qemu_pid, console $console"
  printf '%s\n' "$exchange"
}

# ---------------------------------------------------------------------------------
# exec

cmd_exec() {
  local name=${1:-} limit=600 detach='' id answer value rc pid deadline i argv0 f
  check_name "$name"
  shift
  while [ $# -gt 0 ]; do
    case "$1" in
      --timeout) [[ ${2:-} =~ ^[0-9]+$ ]] || die "--timeout wants seconds, got '${2:-}'"; limit=$2; shift 2 ;;
      --detach) detach=1; shift ;;
      --) shift; break ;;
      *) usage ;;
    esac
  done
  [ $# -gt 0 ] || usage
  load_state "$name" && qemu_alive || die "guest $name is not running; 'host.sh start $name' first"
  [ -d "$ctl" ] || die "$ctl is missing: the exchange dir was removed under the running guest; restart it"

  id=$(date +%s%N)-$$-$RANDOM
  # The agent sources this with this machine's bash, so %q quoting round-trips.
  argv0=${1##*/}
  {
    printf 'dir=%q\n' "$PWD"
    printf 'argv=('
    [ -n "$detach" ] && [ "$argv0" != setsid ] && printf 'setsid '
    printf '%q ' "$@"
    printf ')\n'
  } >"$ctl/$id.sh"
  if [ -n "$detach" ]; then
    echo detach >"$ctl/$id.req.tmp"
  else
    echo "run $limit" >"$ctl/$id.req.tmp"
  fi
  mv "$ctl/$id.req.tmp" "$ctl/$id.req"

  if [ -n "$detach" ]; then
    answer=$id.pid
    deadline=$((SECONDS + 90))
  else
    answer=$id.rc
    # The guest kills the command at the limit; the margin covers its reply.
    deadline=$((limit > 0 ? SECONDS + limit + 30 : 0))
  fi
  # The agent writes each answer as one newline-terminated line: read succeeds
  # only once it is complete.
  for ((i = 0; ; i++)); do
    [ -f "$ctl/$answer" ] && read -r value <"$ctl/$answer" && break
    if ((i % 20 == 19)) && ! qemu_alive; then
      console_tail
      die "guest $name died while running: $*"
    fi
    if ((deadline > 0 && SECONDS >= deadline)); then
      console_tail
      die "no answer from guest $name for: $* (request $ctl/$id.*)"
    fi
    sleep 0.05
  done

  if [ -n "$detach" ]; then
    pid=$value
    rm -f "$ctl/$id.req" "$ctl/$id.sh"
    if [ -f "$ctl/$id.rc" ] && read -r rc <"$ctl/$id.rc" && [ "$rc" != 0 ]; then
      cat "$ctl/$id.out"
      cat "$ctl/$id.err" >&2
      die "'$*' exited at once in guest $name with code $rc"
    fi
    # Stable names for the detached process's output, by guest PID.
    for f in out err rc; do
      ln -sfn "$id.$f" "$ctl/pid-$pid.$f"
    done
    printf '%s\n' "$pid"
    return 0
  fi
  rc=$value
  cat "$ctl/$id.out"
  cat "$ctl/$id.err" >&2
  rm -f "$ctl/$id".*
  [ "$rc" = 124 ] && [ "$limit" -gt 0 ] && log "'$*' timed out after $limit s in guest $name"
  exit "$rc"
}

# ---------------------------------------------------------------------------------
# stop, status

cmd_stop() {
  local name=${1:-}
  check_name "$name"
  [ $# -eq 1 ] || usage
  if ! load_state "$name"; then
    rm -rf "$state"
    log "$name is not running"
    return 0
  fi
  need_root
  teardown
  log "$name stopped"
}

cmd_status() {
  local name=${1:-}
  check_name "$name"
  [ $# -eq 1 ] || usage
  if load_state "$name" && qemu_alive; then
    if [ -f "$ctl/ready" ]; then
      echo "$name: running ($kernel, qemu pid $qemu_pid, exchange $exchange, console $console)"
    else
      echo "$name: booting (qemu pid $qemu_pid, console $console)"
    fi
    return 0
  fi
  if [ -d "$state" ]; then
    echo "$name: not running (stale state in $state; 'host.sh stop $name' removes it)"
  else
    echo "$name: not running"
  fi
  return 1
}

[ $# -gt 0 ] || usage
cmd=$1
shift
case "$cmd" in
  prepare) cmd_prepare "$@" ;;
  start) cmd_start "$@" ;;
  exec) cmd_exec "$@" ;;
  stop) cmd_stop "$@" ;;
  status) cmd_status "$@" ;;
  -h | --help | help) usage ;;
  *) usage ;;
esac
