#!/usr/bin/env bash
# The project's test command (README, .ci/run): formatting, lints, every test.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
cargo fmt --check
cargo clippy --all-targets --locked -- -D warnings
cargo test --all-targets --locked
