#!/usr/bin/env bash
# The project's test command (README, .ci/run): formatting, lints, every test.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
cargo fmt --check
cargo clippy --all-targets --locked -- -D warnings
cargo test --all-targets --locked

# The Debian package, installed into clean Debian roots (docs/packaging.md): it packages
# the debug binary the tests just built instead of a release build, to keep CI's time.
scripts/package-test.sh

# Kernel tests (tests/kernel_*.rs) in the IPVS lab VM: Debian's kernel under qemu, since
# the host kernel has no IPVS (docs/lab.md).
scripts/install-lab-deps.sh
scripts/lab-tests.sh
