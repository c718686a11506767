#!/usr/bin/env bash
# Installs the Debian packages shoal's build and tests need, idempotently: nothing is
# fetched when everything is already there.
set -euo pipefail

packages=(
    netbase    # /etc/services: lvs.cf ports may be service names ("port = http")
    util-linux # mount/umount: the atomic-write tests use small tmpfs mounts
    chromium        # headless browser for the web UI's end-to-end tests (tests/web_e2e.rs)
    chromium-driver # chromedriver: the WebDriver server the e2e tests drive it through
    systemd    # systemd-analyze verify on systemd/*.service (tests/systemd_units.rs)
    man-db     # man: the package test renders a page (scripts/package-test.sh)
    mmdebstrap # the clean Debian root the package test installs the .deb into
    systemd-container # systemd-nspawn: the package test boots that root
    procps     # pgrep: the package test finds the booted root's init
)

missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
        || missing+=("$package")
done

if ((${#missing[@]})); then
    echo "installing: ${missing[*]}"
    sudo_cmd=()
    [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}"
fi

rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy rustfmt

# cargo-deb builds the Debian package (scripts/package.sh); a pinned version, so a new
# release cannot change the package under the tests.
cargo_deb_version=3.8.0
cargo deb --version 2>/dev/null | grep -q " $cargo_deb_version\$" \
    || cargo install cargo-deb --version "$cargo_deb_version" --locked
