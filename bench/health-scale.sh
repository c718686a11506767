#!/usr/bin/env bash
# SERVERS real servers checked every second (TCP connect, timeout 1 s): shoal's health
# monitors (examples/health_bench.rs: Monitors + the production CheckProber, built from a
# generated lvs.cf), once with half-open probes (shoal.toml's default tcp_connect) and once
# with full connects, against keepalived's TCP_CHECK (Debian's package, delay_loop 1,
# connect_timeout 1) on the same servers, in the same run, in phases of SECONDS each whose
# order rotates every round. The servers are the loopback addresses 127.1.0.1.. port 8080,
# all served by one listener process that counts per address the SYNs sent there (an
# AF_PACKET socket on lo): one per check for every checker, half-open or not. It also
# accepts, closes and counts connections (none for half-open probes). Prints every phase
# (checks, CPU user/sys, µs per check, memory) and the median ratios of CPU per check,
# shoal half-open / keepalived and shoal full / keepalived.
#
# Where it runs:
# - default: natively on this machine (2 real cores), in a private network namespace
#   (its own loopback, port and sysctls; everything in it ends with the driver).
#   keepalived's checker refuses to start without IPVS ("IPVS: Can't initialize ipvs"),
#   and the host kernel has none, so keepalived runs with a small LD_PRELOAD library built
#   here that answers its IPVS socket options (IP_VS_SO_*, on a raw socket) with success
#   and an empty table: that interface is used only when servers are added or removed,
#   never per check, and every other call goes to libc unchanged.
# - --lab: in the lab VM with the real IPVS (keepalived programs it), under qemu TCG with
#   one emulated CPU: several times slower, so keep SERVERS small there (default 300);
#   a cross-check that the stub changes nothing.
# - --shoal-only: only shoal's phases (natively), e.g. for profiling.
#
# Usage: bench/health-scale.sh [--lab | --shoal-only] [SERVERS [SECONDS [ROUNDS]]]
#        (default 10000 30 3; with --lab 300 20 2)
set -euo pipefail
cd "$(dirname "$0")/.."

mode=host
case ${1:-} in
--lab) mode=lab && shift ;;
--shoal-only) mode=shoal-only && shift ;;
esac
if [ "$mode" = lab ]; then
    servers=${1:-300} seconds=${2:-20} rounds=${3:-2}
else
    servers=${1:-10000} seconds=${2:-30} rounds=${3:-3}
fi

cargo build --release --locked --example health_bench
bench=$PWD/target/release/examples/health_bench

install_keepalived() {
    if ! command -v keepalived >/dev/null; then
        apt-get update -qq
        # policy-rc.d or no init system: the package's service is not started here.
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq keepalived >/dev/null
    fi
}

# The IPVS stand-in for keepalived on a kernel without IPVS (see above).
build_ipvs_stub() {
    local dir=target/health-bench
    mkdir -p "$dir"
    cat >"$dir/ipvs-stub.c" <<'EOF'
/* keepalived's IPVS socket options answered with success and an empty table, for a
 * kernel without IPVS (bench/health-scale.sh). Everything else goes to libc. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#define IP_VS_BASE_CTL (64 + 1024 + 64) /* linux/ip_vs.h */
#define IP_VS_SO_GET_VERSION IP_VS_BASE_CTL
#define IP_VS_SO_GET_INFO (IP_VS_BASE_CTL + 1)

static int is_ipvs(int level, int name) {
    return level == IPPROTO_IP && name >= IP_VS_BASE_CTL && name < IP_VS_BASE_CTL + 16;
}

int setsockopt(int fd, int level, int name, const void *value, socklen_t length) {
    static int (*real)(int, int, int, const void *, socklen_t);
    if (is_ipvs(level, name))
        return 0;
    if (!real)
        real = (int (*)(int, int, int, const void *, socklen_t))dlsym(RTLD_NEXT, "setsockopt");
    return real(fd, level, name, value, length);
}

int getsockopt(int fd, int level, int name, void *value, socklen_t *length) {
    static int (*real)(int, int, int, void *, socklen_t *);
    if (is_ipvs(level, name)) {
        memset(value, 0, *length);
        if (name == IP_VS_SO_GET_VERSION && *length > 0)
            strncpy(value, "IP Virtual Server version 1.2.1 (size=4096)", *length - 1);
        if (name == IP_VS_SO_GET_INFO && *length >= 12) {
            uint32_t *info = value; /* version, connection table size, services */
            info[0] = 0x010201;
            info[1] = 4096;
        }
        return 0;
    }
    if (!real)
        real = (int (*)(int, int, int, void *, socklen_t *))dlsym(RTLD_NEXT, "getsockopt");
    return real(fd, level, name, value, length);
}
EOF
    cc -O2 -shared -fPIC -o "$dir/ipvs-stub.so" "$dir/ipvs-stub.c" -ldl
    ipvs_stub=$PWD/$dir/ipvs-stub.so
}

case $mode in
host | shoal-only)
    if [ "$mode" = host ]; then
        install_keepalived
        build_ipvs_stub
        extra="--keepalived-preload $ipvs_stub"
    else
        extra=--shoal-only
    fi
    echo "health-scale: $(nproc) cores, $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg)"
    # --kill-child: the namespace's processes end with this script, however it ends;
    # the driver stops keepalived and the listener itself on every path.
    exec unshare --net --fork --kill-child sh -c \
        "ip link set lo up && exec '$bench' compare $servers $seconds $rounds $extra"
    ;;
lab)
    scripts/install-lab-deps.sh
    install_keepalived
    # Each checker needs a few seconds under emulation to read its configuration and
    # reach every server once before its window opens.
    timeout=$((120 + rounds * 3 * (seconds + 90)))
    # lab.sh kills its qemu on any exit; everything else runs inside the guest.
    exec scripts/lab.sh --timeout "$timeout" \
        --include "$bench:/bin/health_bench" \
        --include "$(command -v keepalived):/sbin/keepalived" \
        -- "health_bench compare $servers $seconds $rounds"
    ;;
esac
