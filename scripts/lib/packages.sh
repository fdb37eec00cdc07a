# shellcheck shell=bash
# Sourced by the project's scripts: installs Debian packages that are missing.
#
#   ensure_packages PACKAGE...
#
# Only the missing ones are installed, after one `apt-get update` (a fresh
# machine has no package lists). Prints what it installs on stderr; returns
# non-zero, with apt's last lines, if Debian's registry cannot provide them.

package_installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

ensure_packages() {
  local package missing=() output
  for package in "$@"; do
    package_installed "$package" || missing+=("$package")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  printf '%s: installing %s from Debian\n' "$(basename "$0")" "${missing[*]}" >&2
  if ! output=$({ apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"; } 2>&1); then
    printf '%s\n' "$output" | tail -5 >&2
    printf '%s: could not install %s; check that Debian'"'"'s registry is reachable\n' "$(basename "$0")" "${missing[*]}" >&2
    return 1
  fi
}
