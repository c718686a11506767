#!/usr/bin/env bash
# How long clients go without an answer when the active director fails: shoal (keepalive
# 0.1 s / deadtime 0.3 s, and Piranha's sample 6 s / 18 s) against keepalived's VRRP
# (Debian's package, VRRPv3, advert_int 0.1 s, master-down interval 0.301 s), in one boot of
# the lab VM with the real IPVS. Two directors with their own IPVS tables, a client and two
# direct-routing real servers on a bridge, each in a network namespace of the guest
# (tests/lab_pair/mod.rs); the active director fails as a machine does (link down and
# kill -9 at once) while the client fetches through the VIP every 20 ms.
# examples/failover_gap.rs drives the rounds; it prints each round, the medians and the
# ratios shoal / keepalived. FAILOVER_GAP_PERIOD_MS (default 20) sets how often the client
# starts a fetch; FAILOVER_GAP_DEBUG=1 prints each fetch around the failover and d2's log.
# See docs/BENCHMARKS.md.
#
# Usage: bench/failover-gap.sh [ROUNDS [SLOW_ROUNDS]]   (default 7 and 3)
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=${1:-7} slow_rounds=${2:-3}

cargo build --release --locked --bin shoal --example failover_gap
scripts/install-lab-deps.sh
if ! command -v keepalived >/dev/null; then
    apt-get update -qq
    # policy-rc.d or no init system: the package's service is not started here.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq keepalived >/dev/null
fi

# The guest's CPU is emulated and shares the host's cores: the host's load is part of the
# figures.
echo "failover-gap: host $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
# Each round boots its pair afresh: about 10 s under emulation for a fast one, 30 s for
# a slow one (deadtime 18 s).
timeout=$((180 + rounds * 2 * 30 + slow_rounds * 60))
# lab.sh kills its qemu on any exit; everything else runs and ends inside the guest.
scripts/lab.sh --timeout "$timeout" \
    --include target/release/shoal:/bin/shoal \
    --include target/release/examples/failover_gap:/bin/failover_gap \
    --include "$(command -v keepalived):/sbin/keepalived" \
    -- "FAILOVER_GAP_PERIOD_MS=${FAILOVER_GAP_PERIOD_MS:-20} ${FAILOVER_GAP_DEBUG:+FAILOVER_GAP_DEBUG=1} failover_gap /bin/shoal $rounds $slow_rounds" || status=$?
echo "failover-gap: host load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
exit "${status:-0}"
