#!/usr/bin/env bash
# Sets up a fresh Debian/Ubuntu machine with Node.js for sigaudit, then
#   quickstart.sh record [record flags…]  starts recording (as root)
#   quickstart.sh test                    runs the whole test suite (as root)
# The kernel side needs root (or CAP_BPF + CAP_PERFMON), so both steps run
# as root; sudo is used only when this script is not already root.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo --preserve-env=PATH,CI "$@"; fi
}

# clang/llvm and bpftool build the eBPF object and its skeleton, libbpf-dev
# the addon; build-essential and python3 serve node-gyp; procps, util-linux
# and python3 are what the tests send signals with, and gcc-multilib builds
# the 32-bit sender that checks ia32 compat syscalls on x86_64. systemd
# brings systemd-analyze, passwd the test users of the permission tests,
# mount their tmpfs. mmdebstrap builds the Debian rootfs that
# systemd-container's systemd-nspawn boots with systemd as PID 1 for the
# service test (test/service-systemd); chromium is the browser the report
# test opens its page in (driven by playwright-core, which never downloads a
# browser itself); dpkg-dev (dpkg-shlibdeps), lintian and man-db build,
# check and read the Debian package (npm run package) that the package test
# installs. postgresql is the fleet's central engine, which the fleet tests
# start as their own cluster (pg_createcluster) on a free port.
packages=(clang llvm libbpf-dev libelf-dev zlib1g-dev bpftool build-essential python3 procps util-linux
  systemd passwd mount mmdebstrap systemd-container chromium dpkg-dev lintian man-db
  postgresql)
[ "$(dpkg --print-architecture)" = amd64 ] && packages+=(gcc-multilib)
as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null

npm ci --no-audit --no-fund

case "${1:-}" in
  record) shift; as_root node dist/src/index.js record "$@" ;;
  test) as_root npm test ;;
  *) echo "usage: $0 record [flags] | test" >&2; exit 2 ;;
esac
