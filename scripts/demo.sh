#!/usr/bin/env bash
# The lab demo: builds shoal, boots Debian's kernel under qemu (the lab, docs/lab.md) with
# a client, a director and three real servers inside, runs `shoal run` on the sample
# etc/lvs.cf adapted to the lab's devices, shows `shoal status`, and has the client fetch
# through the VIP so the scheduling can be seen.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-lab-deps.sh
cargo build --release --locked --bin shoal
scripts/lab.sh --timeout 300 \
    --include target/release/shoal:/bin/shoal \
    --include etc/lvs.cf:/lab/lvs.cf \
    --include tests/lab/demo.sh:/lab/demo.sh \
    -- '. /lab/demo.sh; demo_main'
