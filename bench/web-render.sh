#!/usr/bin/env bash
# Server time to serve the web UI's biggest pages for a large lvs.cf: a dry-run daemon
# (`shoal run --dry-run --no-checks`: nothing is sent anywhere) runs a generated lvs.cf of
# VIRTUALS virtual servers with REALS real servers each, `shoal web` serves it on
# 127.0.0.1, and one logged-in client (examples/web_render.rs) requests
# each page REQUESTS times in a row over a kept-alive loopback connection,
# timing each to the last byte of the page, with the CPU time shoal web and the daemon
# used per page; then, alone over the control socket, the daemon's `monitor` answer, which
# the page asks for on every request, and the full `status` (what `shoal status` asks for).
# VIRTUAL SERVERS (/virtual) is measured the same way. Prints median, p99 and max.
#
# Usage: bench/web-render.sh [VIRTUALS [REALS [REQUESTS]]]   (default 1000 10 200)
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release --locked --bin shoal --example web_render
exec target/release/examples/web_render "${1:-1000}" "${2:-10}" "${3:-200}"
