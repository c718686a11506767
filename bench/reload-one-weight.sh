#!/usr/bin/env bash
# One weight changed in a SERVICES-service lvs.cf: what `shoal reload` sends and how long
# the whole reload takes (read, validate, dump the kernel table, diff, apply), against
# `ipvsadm -e` making the same single edit, in the same lab boot.
# Usage: bench/reload-one-weight.sh [SERVICES [ROUNDS]]   (default 10000 3)
set -euo pipefail
cd "$(dirname "$0")/.."

services=${1:-10000}
rounds=${2:-3}

scripts/install-lab-deps.sh
cargo build --release --locked --bin shoal --example reload_bench
scripts/lab.sh --timeout 900 \
    --include target/release/shoal:/bin/shoal \
    --include target/release/examples/reload_bench:/bin/reload_bench \
    -- "ip link add eth0 type dummy; ip link set eth0 up; reload_bench /bin/shoal $services $rounds"
