#!/usr/bin/env bash
# Builds shoal's Debian package into target/debian/ (docs/packaging.md): the man pages
# generated from the command line (examples/man.rs) into target/man/, then `cargo deb`.
#
#   scripts/package.sh              an optimised build (the release profile)
#   PROFILE=dev scripts/package.sh  the debug binary the tests already built, packaged as
#                                   it is (scripts/package-test.sh: no second build of the
#                                   whole tree on CI's two cores; not for production)
set -euo pipefail
cd "$(dirname "$0")/.."

profile=${PROFILE:-release}
command -v cargo-deb >/dev/null || {
    echo "package.sh: cargo-deb is missing: run scripts/install-deps.sh" >&2
    exit 1
}

rm -rf target/man
cargo run --quiet --locked --example man -- target/man
gzip -9n target/man/*.1

if [ "$profile" = dev ]; then
    cargo build --quiet --locked --bin shoal
    # cargo-deb warns that it is meant for release builds: this package is for tests.
    deb_args=(--profile dev --no-build)
else
    deb_args=(--profile "$profile" --locked)
fi
rm -rf target/debian
cargo deb "${deb_args[@]}" --output target/debian/
ls target/debian/*.deb
