#!/usr/bin/env bash
# The lab demo: builds shoal, boots Debian's kernel under qemu (the lab, docs/lab.md) with
# a client, a director and three real servers inside, runs `shoal run` on the sample
# etc/lvs.cf adapted to the lab's devices, shows `shoal status`, has the client fetch
# through the VIP so the scheduling can be seen, and then serves the web UI on
# 127.0.0.1:3636 of this machine (user piranha, password shoal-demo) while the client
# keeps fetching, for DEMO_MINUTES (default 30) or until Ctrl-C.
#
#   scripts/demo.sh            # the demo with the web UI
#   DEMO_MINUTES=0 scripts/demo.sh   # only the terminal part, then exit
set -euo pipefail
cd "$(dirname "$0")/.."

minutes=${DEMO_MINUTES:-30}
[[ $minutes =~ ^[0-9]+$ ]] || {
    echo "demo: DEMO_MINUTES must be a whole number of minutes" >&2
    exit 2
}
scripts/install-lab-deps.sh
cargo build --release --locked --bin shoal
web=()
guest='. /lab/demo.sh; demo_main'
if ((minutes > 0)); then
    # qemu's user network with only this port forwarded (restrict=on: no other link).
    web=(--forward 3636:3636)
    guest+=" && demo_web $minutes"
fi
scripts/lab.sh --timeout $((300 + minutes * 60)) "${web[@]}" \
    --include target/release/shoal:/bin/shoal \
    --include etc/lvs.cf:/lab/lvs.cf \
    --include tests/lab/demo.sh:/lab/demo.sh \
    -- "$guest"
