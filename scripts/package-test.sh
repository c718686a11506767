#!/usr/bin/env bash
# Builds the Debian package (scripts/package.sh, PROFILE=dev by default: the debug binary
# the tests built) and installs it into clean Debian roots, then runs shoal from them.
#
# A root is a minimal Debian with systemd (mmdebstrap --variant=minbase, from this
# machine's apt sources; made once and kept as a tarball in $SHOAL_ROOT_CACHE), unpacked
# afresh into a temporary directory for each case: dpkg -i inside a chroot, so the
# maintainer scripts run as on a real machine (systemd not running).
#
# Cases: a fresh install (files, conffiles, the shoal user and group, modes, `shoal
# --version` and `shoal check` from the root, also as user shoal); a reinstall over
# edited files (kept; postinst idempotent); a node with an lvs.cf already there, as one
# migrated from Piranha (never replaced); a purge (lvs.cf stays); and the root booted
# with systemd-nspawn (its own network namespace), where both units run as installed,
# but for a drop-in that makes the director a dry run (the kernel has no IPVS) and its
# watchdog 2 s: READY=1 and STATUS=, the journal, capabilities, the control socket for
# user shoal, systemctl reload, a frozen daemon restarted by the watchdog, the UI as
# user shoal answering on 3636. Needs root.
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/.."

cache=${SHOAL_ROOT_CACHE:-/var/cache/shoal-test}
base=$cache/bookworm-minbase-systemd-1.tar
work=$(mktemp -d /tmp/shoal-package-test.XXXXXX)
nspawn_pid=
container_init() {
    # The container's systemd: the child of systemd-nspawn.
    [ -n "$nspawn_pid" ] && pgrep -P "$nspawn_pid" -x systemd | head -n 1
}
stop_container() {
    [ -n "$nspawn_pid" ] || return 0
    local init
    init=$(container_init || true)
    kill -TERM "$nspawn_pid" 2>/dev/null || true
    for _ in $(seq 100); do
        kill -0 "$nspawn_pid" 2>/dev/null || break
        sleep 0.2
    done
    # Killing the namespace's init ends every process in it.
    [ -z "$init" ] || kill -KILL "$init" 2>/dev/null || true
    kill -KILL "$nspawn_pid" 2>/dev/null || true
    wait "$nspawn_pid" 2>/dev/null || true
    nspawn_pid=
}
cleanup() {
    stop_container
    # A chroot leaves no process or mount behind; the container's mounts were its own.
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
    # A root half made by an interrupted run is made again from nothing.
    rm -f "$base.part"
    sources=/etc/apt/sources.list.d/debian.sources
    [ -s "$sources" ] || sources=/etc/apt/sources.list
    # This machine's own apt sources (the registry it reaches), and its apt settings on
    # release-file dates (snapshots).
    mmdebstrap --variant=minbase --include=netbase,passwd,systemd,systemd-sysv,dbus \
        --format=tar \
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

# --- case 5: under systemd ------------------------------------------------------------
root=$(new_root booted)
check "dpkg -i in the root to boot" in_root "$root" dpkg -i /tmp/shoal.deb
mkdir -p "$root/etc/systemd/system/shoal.service.d"
cat >"$root/etc/systemd/system/shoal.service.d/test.conf" <<'UNIT'
# package-test.sh: the host kernel has no IPVS; everything else as installed.
[Service]
ExecStart=
ExecStart=/usr/sbin/shoal run --dry-run --no-checks -c /etc/sysconfig/ha/lvs.cf
WatchdogSec=2s
UNIT
check "shoal passwd as root" in_root "$root" sh -c 'echo package-test-password | shoal passwd'
systemd-nspawn -D "$root" --register=no --keep-unit --private-network --boot \
    >"$work/console.log" 2>&1 </dev/null &
nspawn_pid=$!
inside() {
    local init
    init=$(container_init) || return 1
    [ -n "$init" ] || return 1
    nsenter -t "$init" -a env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C "$@"
}
booted() {
    local state
    for _ in $(seq 300); do
        state=$(inside systemctl is-system-running 2>/dev/null || true)
        case $state in running | degraded) return 0 ;; esac
        sleep 0.2
    done
    echo "system state: ${state:-none}"
    tail -n 20 "$work/console.log"
    return 1
}
check "the root boots with systemd" booted
show() { inside systemctl show -p "$2" --value "$1"; }
check "systemctl start shoal (Type=notify: back once READY=1)" inside systemctl start shoal.service
status_ok() {
    local text
    text=$(show shoal.service StatusText)
    [ "$text" = "active (dry run): 2 virtual servers, 5 of 5 real servers up" ] || {
        echo "StatusText: $text"
        return 1
    }
}
check "STATUS= in systemctl status" status_ok
journal_ok() {
    # CODE_FILE is only in lines sent with journald's native protocol, not in stderr's.
    inside journalctl -u shoal.service -o verbose --no-pager >"$work/journal"
    grep -q 'MESSAGE=ready: 7 operations at start, 0 errors' "$work/journal" \
        && grep -q 'CODE_FILE=src/daemon/mod.rs' "$work/journal" \
        && grep -q 'SYSLOG_IDENTIFIER=shoal' "$work/journal" \
        && grep -q 'PRIORITY=6' "$work/journal" || {
        tail -n 30 "$work/journal"
        return 1
    }
}
check "the daemon logs to journald natively" journal_ok
caps_ok() {
    local pid caps groups
    pid=$(show shoal.service MainPID)
    caps=$(inside grep '^CapEff:' "/proc/$pid/status" | awk '{print $2}')
    groups=$(inside grep '^Groups:' "/proc/$pid/status" | awk '{print $2}')
    # CAP_NET_BIND_SERVICE (10), CAP_NET_ADMIN (12), CAP_NET_RAW (13) and nothing else.
    [ "$caps" = 0000000000003400 ] && [ "$groups" = "$(inside getent group shoal | cut -d: -f3)" ] || {
        echo "CapEff $caps, groups $groups"
        return 1
    }
}
check "the director has the network capabilities only, in group shoal" caps_ok
socket_ok() { [ "$(inside stat -c '%U:%G %a' /run/shoal/control.sock)" = "root:shoal 660" ]; }
check "the control socket is root:shoal 660" socket_ok
check "user shoal uses the control socket (shoal status)" inside runuser -u shoal -- shoal status
check "systemctl reload shoal (shoal reload)" inside systemctl reload shoal.service
reloaded_ok() { inside journalctl -u shoal.service -o cat --no-pager | grep -q '^reloaded: serial_no 1, 0 operations$'; }
check "the reload is in the journal" reloaded_ok
watchdog_ok() {
    local before
    before=$(show shoal.service MainPID)
    inside sh -c "kill -STOP $before"
    for _ in $(seq 100); do
        if [ "$(show shoal.service NRestarts)" = 1 ] && [ "$(show shoal.service ActiveState)" = active ] \
            && [ "$(show shoal.service MainPID)" != "$before" ]; then
            inside journalctl -u shoal.service -o cat --no-pager | grep -q 'Watchdog timeout (limit 2s)' && return 0
        fi
        sleep 0.2
    done
    inside systemctl status shoal.service --no-pager
    return 1
}
check "a frozen daemon is killed by the watchdog and started again" watchdog_ok
never_restarted_ok() {
    sleep 5
    [ "$(show shoal.service NRestarts)" = 1 ] && [ "$(show shoal.service ActiveState)" = active ]
}
check "a running daemon pings in time (no restart in 5 s)" never_restarted_ok
check "systemctl start shoal-web" inside systemctl start shoal-web.service
web_ok() {
    local pid uid caps answer
    for _ in $(seq 100); do
        answer=$(inside bash -c 'exec 3<>/dev/tcp/127.0.0.1/3636 && printf "GET /login HTTP/1.0\r\n\r\n" >&3 && head -n 1 <&3' 2>/dev/null || true)
        [ -n "$answer" ] && break
        sleep 0.2
    done
    pid=$(show shoal-web.service MainPID)
    uid=$(inside stat -c %U "/proc/$pid")
    caps=$(inside grep '^CapEff:' "/proc/$pid/status" | awk '{print $2}')
    case $answer in "HTTP/1.0 200"* | "HTTP/1.1 200"*) ;; *)
        echo "answer: $answer"
        inside journalctl -u shoal-web.service -o cat --no-pager | tail -n 10
        return 1
        ;;
    esac
    [ "$uid" = shoal ] && [ "$caps" = 0000000000000000 ] || {
        echo "user $uid, CapEff $caps"
        return 1
    }
}
check "the UI answers on 3636 as user shoal without capabilities" web_ok
web_sandbox_ok() {
    # In the UI's own mount namespace: as its user, it may replace files where it must;
    # even root there finds the rest of the system read-only (ProtectSystem=strict).
    local pid
    pid=$(show shoal-web.service MainPID)
    inside nsenter -t "$pid" -m setpriv --reuid=shoal --regid=shoal --init-groups sh -c '
        echo x > /etc/sysconfig/ha/.probe && mv /etc/sysconfig/ha/.probe /etc/sysconfig/ha/.probe2 \
            && rm /etc/sysconfig/ha/.probe2 && echo x > /etc/shoal/.probe && rm /etc/shoal/.probe' || return 1
    inside nsenter -t "$pid" -m sh -c 'for d in /etc /usr /var/lib; do
        touch $d/.probe 2>&1 | grep -q "Read-only file system" || { echo "$d is writable"; exit 1; }
    done'
}
check "the UI may write in /etc/sysconfig/ha and /etc/shoal, not elsewhere" web_sandbox_ok
check "systemctl stop shoal" inside systemctl stop shoal.service
stopped_ok() { inside journalctl -u shoal.service -o cat --no-pager | grep -q '^stopping: removing the services of /etc/sysconfig/ha/lvs.cf$'; }
check "the director deactivated on stop" stopped_ok
stop_container

echo "package-test: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
