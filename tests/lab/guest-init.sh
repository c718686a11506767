#!/bin/sh
# /init of the lab VM (scripts/lab.sh builds the initramfs around it). Runs under busybox
# sh as PID 1: sets up a minimal system, loads the IPVS/veth/tunnel modules, runs the
# guest command from /lab-command and reports its exit status to the host as
# "@@LAB-EXIT <code>" on the serial console, then powers the VM off.
#
# Never let this script exit: PID 1 exiting panics the kernel (the host then sees no
# marker and reports a broken VM, which is right, but slower to diagnose).

PATH=/sbin:/usr/sbin:/bin:/usr/bin:/usr/local/sbin:/usr/local/bin
export PATH HOME=/root TERM=dumb

say() { echo "lab-guest: $*"; }

finish() {
    echo "@@LAB-EXIT $1"
    sync
    poweroff -f
    sleep 5 # poweroff -f does not return; this is only a guard
}

setup_system() {
    /bin/busybox mkdir -p /proc /sys /dev /tmp /run /root /var
    /bin/busybox mount -t proc proc /proc
    /bin/busybox mount -t sysfs sysfs /sys
    /bin/busybox mount -t devtmpfs devtmpfs /dev
    # The root file system is already in RAM; a tmpfs on /tmp would only hide files that
    # --include put there, so /tmp gets one only when it is empty.
    if [ -z "$(/bin/busybox ls -A /tmp)" ]; then
        /bin/busybox mount -t tmpfs -o mode=1777 tmpfs /tmp
    fi
    /bin/busybox mount -t tmpfs -o mode=755 tmpfs /run
    # Applets go to /bin only: /sbin and /usr/sbin hold the real ip and ipvsadm, and
    # PATH lists them first.
    /bin/busybox --install -s /bin
    # `ip netns add` needs /var/run/netns (it bind-mounts namespaces there).
    ln -s /run /var/run
    mkdir -p /run/netns
    mkdir -p /dev/pts /dev/shm
    mount -t devpts devpts /dev/pts 2>/dev/null || true
}

# Debian's busybox sh runs its own applet for a command name before looking at PATH
# (FEATURE_SH_STANDALONE), so `ip netns ...` in a script would run busybox's ip, which
# has no netns support. For every real program shadowed by an applet, define a function
# that calls it by path; the guest command is run with these functions in scope.
write_prelude() {
    : >/lab/prelude.sh
    for dir in /usr/local/bin /usr/local/sbin /usr/bin /usr/sbin /sbin; do
        [ -d "$dir" ] || continue
        for program in "$dir"/*; do
            if [ ! -f "$program" ] || [ ! -x "$program" ] || [ -L "$program" ]; then
                continue
            fi
            name=${program##*/}
            case $name in *[!A-Za-z0-9_]*) continue ;; esac
            [ -e "/bin/$name" ] || continue # not an applet name
            grep -q "^$name()" /lab/prelude.sh && continue
            echo "$name() { $program \"\$@\"; }" >>/lab/prelude.sh
        done
    done
}

load_modules() {
    status=0
    while read -r kind module; do
        if out=$(modprobe "$module" 2>&1); then
            continue
        elif [ "$kind" = required ]; then
            say "cannot load required module $module: $out"
            status=1
        else
            say "optional module $module not loaded: $out"
        fi
    done </lab/modules
    return $status
}

# Powers off after LAB_TIMEOUT seconds (from the kernel command line) even if the
# command hangs, so the host gets a clear message before its own timeout kills qemu.
start_watchdog() {
    [ -n "${LAB_TIMEOUT:-}" ] || return 0
    (
        sleep "$LAB_TIMEOUT"
        say "guest watchdog: the command did not finish in $LAB_TIMEOUT s"
        finish 124
    ) &
}

setup_system
start_watchdog
say "kernel $(uname -r), up $(cut -d' ' -f1 /proc/uptime) s"
if ! load_modules; then
    finish 125
fi
/sbin/ip link set lo up
# scripts/lab.sh --forward: qemu's user network, for ports forwarded from the host only.
if [ "${LAB_NET:-0}" != 0 ]; then
    /sbin/ip link set eth0 up && /sbin/ip addr add 10.0.2.15/24 dev eth0 ||
        say "no eth0 for the forwarded ports"
fi
write_prelude
cd /
say "running: $(cat /lab-command)"
# stdin is /dev/null, as on the host side: a command reading it must not wait forever.
sh -c '. /lab/prelude.sh; . /lab-command' </dev/null
finish $?
