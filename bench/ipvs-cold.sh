#!/usr/bin/env bash
# Cold programming of SERVICES x DESTINATIONS into an empty IPVS table: shoal's batched
# netlink client against `ipvsadm -R` with the same operations, in the same lab boot,
# alternating rounds. Prints each round and the median ratio (shoal / ipvsadm).
# Usage: bench/ipvs-cold.sh [SERVICES [DESTINATIONS [ROUNDS]]]   (default 1000 10 5)
set -euo pipefail
cd "$(dirname "$0")/.."

services=${1:-1000}
destinations=${2:-10}
rounds=${3:-5}

scripts/install-lab-deps.sh
cargo build --release --locked --example ipvs_cold
scripts/lab.sh --timeout 900 --include target/release/examples/ipvs_cold:/bin/ipvs_cold -- \
    "ipvs_cold compare $services $destinations $rounds"
