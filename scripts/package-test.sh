#!/usr/bin/env bash
# Builds the Debian package (scripts/package.sh, PROFILE=dev by default: the debug binary
# the tests built) and installs it into clean Debian roots, then runs shoal from them.
#
# A root is a minimal Debian (mmdebstrap --variant=minbase, from this machine's apt
# sources; made once and kept as a tarball in $SHOAL_ROOT_CACHE), unpacked afresh into
# a temporary directory for each case: dpkg -i inside a chroot, so the maintainer
# scripts run as on a real machine (without systemd running, as in a container).
#
# Cases: a fresh install (files, conffiles, the shoal user and group, modes, `shoal
# --version` and `shoal check` from the root, also as user shoal); a reinstall over
# edited files (kept; postinst idempotent); a node with an lvs.cf already there, as one
# migrated from Piranha (never replaced); a purge (lvs.cf stays). Needs root.
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/.."

cache=${SHOAL_ROOT_CACHE:-/var/cache/shoal-test}
base=$cache/bookworm-minbase-1.tar
work=$(mktemp -d /tmp/shoal-package-test.XXXXXX)
cleanup() {
    # Nothing is mounted in the roots; a chroot leaves no process behind.
    rm -rf "$work"
}
trap cleanup EXIT

passed=0
failed=0
check() {
    local name=$1
    shift
    if "$@" >"$work/out" 2>&1; then
        passed=$((passed + 1))
        echo "ok: $name"
    else
        failed=$((failed + 1))
        echo "FAILED: $name"
        sed 's/^/    /' "$work/out"
    fi
}

# --- the package ----------------------------------------------------------------------
PROFILE=${PROFILE:-dev} scripts/package.sh
deb=$(ls target/debian/shoal_*.deb)

# --- a clean root ---------------------------------------------------------------------
if [ ! -s "$base" ]; then
    mkdir -p "$cache"
    sources=/etc/apt/sources.list.d/debian.sources
    [ -s "$sources" ] || sources=/etc/apt/sources.list
    # This machine's own apt sources (the registry it reaches), and its apt settings on
    # release-file dates (snapshots).
    mmdebstrap --variant=minbase --include=netbase,passwd --format=tar \
        --aptopt='Acquire::Check-Valid-Until "false"' \
        bookworm "$base.part" "$sources"
    mv "$base.part" "$base"
fi

new_root() {
    local root=$work/$1
    mkdir -p "$root"
    tar -xf "$base" -C "$root"
    cp "$deb" "$root/tmp/shoal.deb"
    echo "$root"
}

in_root() {
    local root=$1
    shift
    chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C "$@"
}

# --- case 1: a fresh install ----------------------------------------------------------
root=$(new_root fresh)
check "dpkg -i in a clean root" in_root "$root" dpkg -i /tmp/shoal.deb
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
version_ok() { [ "$(in_root "$1" shoal --version)" = "shoal $version" ]; }
check "shoal --version" version_ok "$root"
check "shoal check on the installed lvs.cf" in_root "$root" shoal check /etc/sysconfig/ha/lvs.cf
check "the binary at /usr/sbin/shoal" test -x "$root/usr/sbin/shoal"
check "both units in /lib/systemd/system" test -f "$root/lib/systemd/system/shoal.service" -a -f "$root/lib/systemd/system/shoal-web.service"
check "the units as in the source tree" sh -c "cmp systemd/shoal.service '$root/lib/systemd/system/shoal.service' && cmp systemd/shoal-web.service '$root/lib/systemd/system/shoal-web.service'"
check "lvs.cf is the sample" cmp etc/lvs.cf "$root/etc/sysconfig/ha/lvs.cf"
check "shoal.toml is the sample" cmp etc/shoal.toml "$root/etc/shoal/shoal.toml"
check "shoal.toml is a conffile, lvs.cf is not" sh -c "grep -qx /etc/shoal/shoal.toml '$root/var/lib/dpkg/info/shoal.conffiles' && ! grep -q lvs.cf '$root/var/lib/dpkg/info/shoal.conffiles'"
check "a system group shoal" sh -c "gid=\$(chroot '$root' getent group shoal | cut -d: -f3) && [ \"\$gid\" -lt 1000 ]"
check "a system user shoal in it, without a shell" sh -c "chroot '$root' getent passwd shoal | awk -F: -v g=\$(chroot '$root' getent group shoal | cut -d: -f3) '\$3 < 1000 && \$4 == g && \$7 == \"/usr/sbin/nologin\" { ok = 1 } END { exit !ok }'"
check "lvs.cf root:shoal 664" sh -c "[ \"\$(chroot '$root' stat -c '%U:%G %a' /etc/sysconfig/ha/lvs.cf)\" = 'root:shoal 664' ]"
check "/etc/sysconfig/ha root:shoal 2775" sh -c "[ \"\$(chroot '$root' stat -c '%U:%G %a' /etc/sysconfig/ha)\" = 'root:shoal 2775' ]"
check "/etc/shoal root:shoal 2770" sh -c "[ \"\$(chroot '$root' stat -c '%U:%G %a' /etc/shoal)\" = 'root:shoal 2770' ]"
check "user shoal reads lvs.cf (shoal check as shoal)" chroot --userspec=shoal:shoal "$root" /usr/sbin/shoal check /etc/sysconfig/ha/lvs.cf
check "user shoal may replace files in lvs.cf's directory" chroot --userspec=shoal:shoal "$root" sh -c 'echo x > /etc/sysconfig/ha/.probe && mv /etc/sysconfig/ha/.probe /etc/sysconfig/ha/.probe2 && rm /etc/sysconfig/ha/.probe2'
check "user shoal may write in /etc/shoal" chroot --userspec=shoal:shoal "$root" sh -c 'echo x > /etc/shoal/.probe && rm /etc/shoal/.probe'
check "others may not read /etc/shoal" sh -c "! chroot --userspec=nobody:nogroup '$root' ls /etc/shoal"
manpages_ok() {
    local root=$1 page
    for page in $(grep -ho 'man:[a-z-]*(1)' systemd/*.service | sed 's/man:\(.*\)(1)/\1/' | sort -u) shoal-check shoal-status shoal-sync-push; do
        [ -s "$root/usr/share/man/man1/$page.1.gz" ] || { echo "no $page.1.gz"; return 1; }
        zcat "$root/usr/share/man/man1/$page.1.gz" | grep -q '^\.TH' || { echo "$page.1.gz is no man page"; return 1; }
    done
}
check "the man pages the units name, and the others" manpages_ok "$root"
check "man renders shoal-run(1)" sh -c "MANPAGER=cat man -l '$root/usr/share/man/man1/shoal-run.1.gz' | grep -q 'Run the director'"

# --- case 2: a reinstall over edited files --------------------------------------------
sed -i 's/^serial_no = 1$/serial_no = 2/' "$root/etc/sysconfig/ha/lvs.cf"
echo '# edited' >>"$root/etc/shoal/shoal.toml"
cp "$root/etc/sysconfig/ha/lvs.cf" "$work/lvs.cf.edited"
cp "$root/etc/shoal/shoal.toml" "$work/shoal.toml.edited"
check "dpkg -i again (reinstall)" in_root "$root" dpkg -i /tmp/shoal.deb
check "postinst configure run twice more" sh -c "chroot '$root' /var/lib/dpkg/info/shoal.postinst configure $version-1 && chroot '$root' /var/lib/dpkg/info/shoal.postinst configure $version-1"
check "the edited lvs.cf is kept" cmp "$work/lvs.cf.edited" "$root/etc/sysconfig/ha/lvs.cf"
check "the edited shoal.toml is kept" cmp "$work/shoal.toml.edited" "$root/etc/shoal/shoal.toml"
check "one user and one group shoal" sh -c "[ \$(grep -c '^shoal:' '$root/etc/passwd') = 1 ] && [ \$(grep -c '^shoal:' '$root/etc/group') = 1 ]"
check "shoal check on the edited lvs.cf" in_root "$root" shoal check /etc/sysconfig/ha/lvs.cf

# --- case 3: an lvs.cf already there (migrated from Piranha) --------------------------
root=$(new_root migrated)
mkdir -p "$root/etc/sysconfig/ha"
sed 's/^serial_no = 1$/serial_no = 41/' etc/lvs.cf >"$root/etc/sysconfig/ha/lvs.cf"
chmod 644 "$root/etc/sysconfig/ha/lvs.cf"
cp "$root/etc/sysconfig/ha/lvs.cf" "$work/lvs.cf.piranha"
check "dpkg -i over an existing lvs.cf" in_root "$root" dpkg -i /tmp/shoal.deb
check "the existing lvs.cf is not replaced" cmp "$work/lvs.cf.piranha" "$root/etc/sysconfig/ha/lvs.cf"
check "it joins group shoal, group-writable" sh -c "[ \"\$(chroot '$root' stat -c '%U:%G %a' /etc/sysconfig/ha/lvs.cf)\" = 'root:shoal 664' ]"
check "shoal check on it" in_root "$root" shoal check /etc/sysconfig/ha/lvs.cf

# --- case 4: purge --------------------------------------------------------------------
check "dpkg --purge" in_root "$root" dpkg --purge shoal
check "the binary and units are gone" sh -c "[ ! -e '$root/usr/sbin/shoal' ] && [ ! -e '$root/lib/systemd/system/shoal.service' ]"
check "shoal.toml (a conffile) is purged" test ! -e "$root/etc/shoal/shoal.toml"
check "lvs.cf stays after a purge" cmp "$work/lvs.cf.piranha" "$root/etc/sysconfig/ha/lvs.cf"

echo "package-test: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
