#!/usr/bin/env bash
# The IPVS lab: runs a command inside Debian's stock kernel booted under qemu.
#
#   scripts/lab.sh [--timeout S] [--include HOST_PATH[:GUEST_PATH]]...
#                  [--forward HOST_PORT:GUEST_PORT]... -- GUEST_COMMAND...
#
# The host kernel has no IPVS, so everything that needs the real ip_vs module runs in a
# tiny VM: Debian's kernel, a busybox initramfs with ipvsadm, iproute2's ip and the IPVS,
# veth, dummy and tunnel modules, plus the files given with --include (an ELF file gets
# the shared libraries ldd lists for it). The guest command words are joined with spaces
# and run by the guest's `sh -c` (like ssh); its output streams to stdout and its exit
# status is this script's exit status. No marker from the guest (kernel panic, timeout,
# crash) is a failure: exit 1, or 124 when the host-side timeout fired.
#
# The guest has no network link, except with --forward: then it gets one virtio NIC on
# qemu's user network (eth0, 10.0.2.15/24) with `restrict=on`, so it can reach nothing
# outside, and 127.0.0.1:HOST_PORT on the host is forwarded to GUEST_PORT in the guest
# (the demo's web UI).
#
# Environment:
#   LAB_DIR   cache directory (default: target/lab in the repository). Downloads and the
#             unpacked kernel are kept there; the initramfs is rebuilt on every run.
#   KVER      kernel ABI to use, e.g. 6.1.0-56-amd64 (default: whatever
#             linux-image-amd64 depends on in the apt lists).
#   LAB_MEM   guest memory in MiB (default 1024).
#   LAB_KEEP_DEBUG=1  keep the debug info of included ELF files (stripped by default).
#
# Host requirements: scripts/install-lab-deps.sh (qemu-system-x86 and friends).
# See docs/lab.md for timings and the pitfalls behind the choices made here.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
lab_dir=${LAB_DIR:-$repo/target/lab}
guest_init=$repo/tests/lab/guest-init.sh
timeout_s=300
includes=()
forwards=()
guest_command=()

# Debian packages besides the kernel. ipvsadm's libraries are listed explicitly: the guest
# has no package manager, and these are exactly what `ldd ipvsadm` needs besides libc.
support_packages=(busybox-static ipvsadm libnl-3-200 libnl-genl-3-200 libpopt0)

# Modules, in load order, as "required NAME" or "optional NAME". Required ones must exist
# in the kernel (the build fails otherwise); optional ones are loaded when the kernel has
# them, and a failure to load them is only logged in the guest.
# crc32c_generic comes first: libcrc32c (needed by nf_conntrack, needed by ip_vs) has only
# a *softdep* on crc32c, which modules.dep does not record.
# "@ipvs-schedulers" stands for every ip_vs_*.ko the kernel ships except the application
# helper and persistence engines (ip_vs_ftp, ip_vs_pe_*), which would pull in nf_nat.
# ipip, fou (GUE) and gre/ip_gre are there for the tunnelling forwarding method (-i).
modules=(
    "optional crc32c_generic"
    "required ip_vs"
    "optional @ipvs-schedulers"
    "required veth"
    "required dummy"
    "optional bridge"
    "optional ipip"
    "optional fou"
    "optional gre"
    "optional ip_gre"
    "optional virtio_pci"
    "optional virtio_net"
)
ipvs_module_exclude='^ip_vs_(ftp|pe_.*)$'

log() { echo "lab: $*" >&2; }
die() {
    log "error: $*"
    exit 1
}

usage() {
    sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
    exit "${1:-0}"
}

parse_args() {
    while (($#)); do
        case $1 in
        --timeout)
            [[ ${2:-} =~ ^[0-9]+$ ]] || die "--timeout needs a number of seconds"
            timeout_s=$2
            shift 2
            ;;
        --include)
            [ -n "${2:-}" ] || die "--include needs HOST_PATH[:GUEST_PATH]"
            includes+=("$2")
            shift 2
            ;;
        --forward)
            [[ ${2:-} =~ ^[0-9]+:[0-9]+$ ]] || die "--forward needs HOST_PORT:GUEST_PORT"
            forwards+=("$2")
            shift 2
            ;;
        -h | --help) usage 0 ;;
        --)
            shift
            guest_command=("$@")
            break
            ;;
        *) die "unknown argument '$1' (usage: scripts/lab.sh [--timeout S] [--include H[:G]]... -- CMD...)" ;;
        esac
    done
    ((${#guest_command[@]})) || die "no guest command (put it after --)"
    ((timeout_s >= 10)) || die "--timeout must be at least 10 seconds"
}

# --- downloads -----------------------------------------------------------------------

# The kernel image package that linux-image-amd64 currently points at.
resolve_kernel_package() {
    if [ -n "${KVER:-}" ]; then
        echo "linux-image-$KVER"
        return
    fi
    apt-cache depends linux-image-amd64 2>/dev/null |
        sed -n 's/^ *Depends: \(linux-image-[0-9].*\)$/\1/p' | head -n 1
}

# apt-get download into the cache, unless a .deb of that package is already there.
# Fails (returns 1) instead of exiting, so the caller can refresh the apt lists and retry.
download_packages() {
    local package missing=() errors
    for package in "$@"; do
        compgen -G "$lab_dir/debs/${package}_*.deb" >/dev/null || missing+=("$package")
    done
    ((${#missing[@]})) || return 0
    log "downloading ${missing[*]}"
    errors=$(mktemp)
    # As root, apt warns that the download is "unsandboxed" when user _apt cannot write
    # the directory; harmless, so stderr is shown only when the download fails.
    if (cd "$lab_dir/debs" && apt-get download "${missing[@]}") >/dev/null 2>"$errors"; then
        rm -f "$errors"
        return 0
    fi
    cat "$errors" >&2
    rm -f "$errors"
    return 1
}

# Stale apt lists name a kernel the mirror has already dropped (404); refresh them once.
refresh_apt_lists() {
    if [ "$(id -u)" -ne 0 ]; then
        log "apt lists look stale and this is not root: run 'apt-get update' (or set KVER)"
        return 1
    fi
    log "refreshing apt lists (apt-get update)"
    apt-get update -qq
}

fetch_debs() {
    mkdir -p "$lab_dir/debs"
    kernel_package=$(resolve_kernel_package)
    if [ -z "$kernel_package" ] || ! download_packages "$kernel_package" "${support_packages[@]}"; then
        refresh_apt_lists || die "cannot download the lab's packages"
        kernel_package=$(resolve_kernel_package)
        [ -n "$kernel_package" ] || die "cannot resolve linux-image-amd64 (apt-cache depends)"
        download_packages "$kernel_package" "${support_packages[@]}" ||
            die "cannot download the lab's packages"
    fi
    kver=${kernel_package#linux-image-}
}

# --- unpacking (cached) --------------------------------------------------------------

# dpkg -x into a temporary directory renamed at the end, so an interrupted unpack is
# never mistaken for a complete one.
unpack_deb() {
    local deb=$1 dest=$2
    [ -d "$dest" ] && return 0
    rm -rf "$dest.partial"
    mkdir -p "$(dirname "$dest")"
    dpkg -x "$deb" "$dest.partial"
    mv "$dest.partial" "$dest"
}

unpack_all() {
    local package
    for package in "${support_packages[@]}"; do
        unpack_deb "$(compgen -G "$lab_dir/debs/${package}_*.deb" | tail -n 1)" "$lab_dir/pkgs/$package"
    done
    busybox=$lab_dir/pkgs/busybox-static/bin/busybox

    kernel_tree=$lab_dir/kernel/$kver
    [ -d "$kernel_tree" ] || unpack_kernel
    kernel_modules=$kernel_tree/lib/modules/$kver
    vmlinuz=$kernel_tree/boot/vmlinuz-$kver
    [ -f "$vmlinuz" ] || die "no $vmlinuz in $kernel_package"
}

# Unpacks the kernel package and gives it a modules.dep, in a temporary directory renamed
# at the end (an interrupted depmod must not leave a half-written modules.dep behind).
unpack_kernel() {
    local partial=$kernel_tree.partial
    log "unpacking $kernel_package"
    # Only one kernel tree is kept (about 400 MB each), and only its .deb.
    rm -rf "$lab_dir/kernel"
    find "$lab_dir/debs" -name 'linux-image-*.deb' ! -name "${kernel_package}_*" -delete
    mkdir -p "$lab_dir/kernel"
    dpkg -x "$(compgen -G "$lab_dir/debs/${kernel_package}_*.deb")" "$partial"
    # Newer kernels ship their modules under /usr/lib/modules; busybox depmod -b wants
    # BASE/lib/modules.
    if [ ! -e "$partial/lib/modules" ] && [ -d "$partial/usr/lib/modules" ]; then
        ln -s usr/lib "$partial/lib"
    fi
    # The .deb has no modules.dep (its postinst runs depmod) and the host has no kmod:
    # busybox depmod makes one (4-5 s for the whole tree, once).
    log "busybox depmod for the whole kernel tree (once)"
    "$busybox" depmod -b "$partial" "$kver"
    mv "$partial" "$kernel_tree"
}

# --- initramfs -----------------------------------------------------------------------

# Puts FILE into the initramfs at GUEST_PATH (dereferencing symlinks).
put_file() {
    local file=$1 guest_path=$2
    mkdir -p "$root/$(dirname "$guest_path")"
    cp -L "$file" "$root$guest_path"
}

is_elf() {
    [ "$(head -c 4 "$1" 2>/dev/null | tr -d '\0')" = $'\x7fELF' ]
}

# Copies the shared libraries ldd lists for an ELF file to the same paths in the guest.
# Libraries found under one of the unpacked packages (LD_LIBRARY_PATH) keep the path they
# have inside their package. Static executables and non-executables are fine.
put_libraries() {
    local elf=$1 line path guest_path
    local output
    output=$(ldd "$elf" 2>&1) || {
        case $output in
        *"not a dynamic executable"* | *"statically linked"*) return 0 ;;
        esac
        die "ldd $elf: $output"
    }
    while read -r line; do # (read strips the leading tab)
        case $line in
        *"=> not found"*) die "ldd $elf: ${line%% =>*} not found" ;;
        *"=> /"*) path=${line#*=> } ;;
        /*) path=${line%% (*} ;; # the ELF interpreter, /lib64/ld-linux-x86-64.so.2
        *) continue ;;            # linux-vdso.so.1 and friends
        esac
        path=${path%% (0x*}
        path=$(printf '%s' "$path" | sed 's/[[:space:]]*$//')
        guest_path=$path
        case $path in "$lab_dir"/pkgs/*) guest_path=/${path#"$lab_dir"/pkgs/*/} ;; esac
        [ -e "$root$guest_path" ] || put_file "$path" "$guest_path"
    done <<<"$output"
}

put_elf() {
    put_file "$1" "$2"
    put_libraries "$1"
}

# Rust debug builds are mostly DWARF (a 40 MB test binary strips to 9 MB): the copy in the
# guest loses it, which makes the initramfs several times smaller and the boot (gzip
# decompression, emulated) faster. Panic messages keep their file:line (that is not debug
# info) and backtraces keep function names. LAB_KEEP_DEBUG=1 keeps everything.
strip_debug_info() {
    [ "${LAB_KEEP_DEBUG:-0}" = 1 ] && return 0
    strip --strip-debug "$1" 2>/dev/null || true # not every ELF is strippable; keep it whole
}

# The module file (relative to the kernel's module directory) of every module NAME in
# modules.dep, as "name path" lines. File names use '-' and '_' interchangeably.
module_index() {
    sed -n 's/^\([^:]*\):.*/\1/p' "$kernel_modules/modules.dep" |
        awk '{ n = $0; sub(/.*\//, "", n); sub(/\.ko.*/, "", n); gsub(/-/, "_", n); print n, $0 }'
}

# Adds the modules and everything they depend on to the initramfs and writes the guest's
# load list (/lab/modules: "required|optional NAME" lines, in load order).
put_modules() {
    local index name path dep line
    index=$(module_index)
    module_path() { awk -v n="$1" '$1 == n { print $2; exit }' <<<"$index"; }

    # Expand @ipvs-schedulers and drop the optional modules this kernel lacks.
    local entry kind load=() absent=()
    for entry in "${modules[@]}"; do
        kind=${entry%% *}
        name=${entry#* }
        if [ "$name" = @ipvs-schedulers ]; then
            while read -r name _; do
                [[ $name =~ ^ip_vs_ && ! $name =~ $ipvs_module_exclude ]] && load+=("$kind $name")
            done < <(sort <<<"$index")
        elif [ -n "$(module_path "$name")" ]; then
            load+=("$kind $name")
        elif [ "$kind" = required ]; then
            die "kernel $kver has no module $name"
        else
            absent+=("$name")
        fi
    done
    ((${#absent[@]} == 0)) || log "not in kernel $kver (skipped): ${absent[*]}"

    # Closure over modules.dep (each line lists the module's full dependency set).
    local files=()
    for entry in "${load[@]}"; do
        path=$(module_path "${entry#* }")
        line=$(grep -m1 "^$path:" "$kernel_modules/modules.dep")
        files+=("$path")
        for dep in ${line#*:}; do files+=("$dep"); done
    done

    local dest=$root/lib/modules/$kver file
    mkdir -p "$dest"
    for file in $(printf '%s\n' "${files[@]}" | sort -u); do
        mkdir -p "$dest/$(dirname "$file")"
        case $file in
        # Compressed modules (newer kernels) are decompressed here, where it is sure to
        # work, rather than relying on busybox modprobe's fallback in the guest.
        *.ko.xz) xz -dc "$kernel_modules/$file" >"$dest/${file%.xz}" ;;
        *.ko.zst) zstd -qdc "$kernel_modules/$file" >"$dest/${file%.zst}" ;;
        *) cp "$kernel_modules/$file" "$dest/$file" ;;
        esac
    done
    for file in modules.builtin modules.order; do
        [ -f "$kernel_modules/$file" ] && cp "$kernel_modules/$file" "$dest/"
    done
    "$busybox" depmod -b "$root" "$kver"

    mkdir -p "$root/lab"
    printf '%s\n' "${load[@]}" >"$root/lab/modules"
}

# --include HOST_PATH[:GUEST_PATH]; the guest path defaults to the host's absolute path,
# so paths compiled into test binaries (env!("CARGO_BIN_EXE_...")) still work.
put_includes() {
    local spec host guest file
    for spec in ${includes[@]+"${includes[@]}"}; do
        host=${spec%%:*}
        guest=${spec#*:}
        [ "$spec" = "$host" ] && guest=$(realpath -s "$host")
        [ -e "$host" ] || die "--include $host: no such file"
        [[ $guest == /* ]] || die "--include $spec: the guest path must be absolute"
        if [ -d "$host" ]; then
            mkdir -p "$root$guest"
            cp -a "$host/." "$root$guest/"
            while IFS= read -r -d '' file; do
                if is_elf "$file"; then
                    put_libraries "$file"
                    strip_debug_info "$root$guest/${file#"$host"/}"
                fi
            done < <(find "$host" -type f -print0)
        elif is_elf "$host"; then
            put_elf "$host" "$guest"
            strip_debug_info "$root$guest"
        else
            put_file "$host" "$guest"
        fi
    done
}

build_initramfs() {
    root=$run_dir/root
    mkdir -p "$root"/{bin,sbin,dev,proc,sys,tmp,run,etc,lab}

    cp "$busybox" "$root/bin/busybox"
    ln -s busybox "$root/bin/sh"
    put_file "$guest_init" /init
    chmod 755 "$root/init"

    # ipvsadm and its libraries from the unpacked packages (the host need not have them).
    local lib_path
    lib_path=$(find "$lab_dir"/pkgs/lib*/ -name '*.so*' -printf '%h\n' | sort -u | paste -sd:)
    put_file "$lab_dir/pkgs/ipvsadm/sbin/ipvsadm" /sbin/ipvsadm
    LD_LIBRARY_PATH=$lib_path put_libraries "$lab_dir/pkgs/ipvsadm/sbin/ipvsadm"
    # iproute2 from the host: busybox's ip has no netns support.
    put_elf "$(command -v ip)" /sbin/ip

    put_modules
    put_includes

    # The guest command, joined with spaces like ssh does.
    printf '%s\n' "${guest_command[*]}" >"$root/lab-command"

    initramfs=$run_dir/initramfs.cpio.gz
    # The host has no cpio: busybox's does newc. Files are listed relative to the root.
    (cd "$root" && find . | "$busybox" cpio -o -H newc 2>/dev/null) | gzip -1 >"$initramfs"
}

# --- boot ----------------------------------------------------------------------------

# Boots the guest and streams its serial console to stdout. Sets guest_status to the
# code from the "@@LAB-EXIT <code>" marker ("" when there was none) and qemu_status.
boot() {
    # No link at all, or only the forwarded ports on a restricted user network.
    local network=(-nic none)
    if ((${#forwards[@]})); then
        local netdev="user,id=lab0,restrict=on" forward
        for forward in "${forwards[@]}"; do
            netdev+=",hostfwd=tcp:127.0.0.1:${forward%%:*}-:${forward##*:}"
        done
        network=(-netdev "$netdev" -device virtio-net-pci,netdev=lab0)
    fi
    # The guest watchdog fires 30 s before the host's timeout, so a hung command is
    # reported by the guest with its output intact; short timeouts get half the time.
    local guest_timeout=$((timeout_s > 60 ? timeout_s - 30 : timeout_s / 2))
    local qemu=(
        qemu-system-x86_64
        # TCG: the machine's /dev/kvm is KVM PVM, which runs only PVM-enabled guest
        # kernels; Debian's stock kernel hangs or aborts under it.
        -accel tcg -cpu max -m "${LAB_MEM:-1024}" -smp 1
        "${network[@]}" -no-reboot -display none -monitor none -serial stdio
        -kernel "$vmlinuz" -initrd "$initramfs"
        # panic=-1 + -no-reboot: if /init dies, qemu exits instead of hanging. Unknown
        # key=value parameters become environment variables of /init.
        -append "console=ttyS0 panic=-1 quiet LAB_TIMEOUT=$guest_timeout LAB_NET=${#forwards[@]}"
    )
    command -v qemu-system-x86_64 >/dev/null || die "no qemu-system-x86_64: run scripts/install-lab-deps.sh"

    guest_status=""
    local line
    # The CR that the serial console puts before every newline is stripped here, in the
    # read loop: a `tr -d '\r'` in the pipe would block-buffer the stream.
    exec {qemu_out}< <(exec timeout --kill-after=10 "$timeout_s" "${qemu[@]}" </dev/null 2>&1)
    qemu_pid=$!
    while IFS= read -r line <&"$qemu_out" || [ -n "$line" ]; do
        line=${line//$'\r'/}
        printf '%s\n' "$line"
        if [[ $line =~ @@LAB-EXIT\ ([0-9]+) ]]; then
            guest_status=${BASH_REMATCH[1]}
        fi
        line=""
    done
    exec {qemu_out}<&-
    qemu_status=0
    wait "$qemu_pid" || qemu_status=$?
    qemu_pid=""
}

# shellcheck disable=SC2317 # called from the EXIT trap
cleanup() {
    # Only our own qemu (through its timeout wrapper), and our own temporary files.
    if [ -n "${qemu_pid:-}" ]; then
        kill "$qemu_pid" 2>/dev/null || true
        wait "$qemu_pid" 2>/dev/null || true
    fi
    if [ -n "${run_dir:-}" ]; then rm -rf "$run_dir"; fi
}

main() {
    parse_args "$@"
    local started=$SECONDS
    mkdir -p "$lab_dir"
    trap cleanup EXIT
    trap 'log interrupted; exit 130' INT
    trap 'log terminated; exit 143' TERM

    # Downloads and unpacking are shared between concurrent runs: one at a time.
    exec {lock}>"$lab_dir/lock"
    flock "$lock"
    fetch_debs
    unpack_all
    flock -u "$lock"

    run_dir=$(mktemp -d "$lab_dir/run.XXXXXX")
    build_initramfs
    log "kernel $kver, initramfs $(du -k "$initramfs" | cut -f1) KiB, prepared in $((SECONDS - started)) s; booting (timeout ${timeout_s} s)"

    boot
    local elapsed=$((SECONDS - started))
    if [ -z "$guest_status" ]; then
        if [ "$qemu_status" -eq 124 ] || [ "$qemu_status" -eq 137 ]; then
            log "error: timed out after ${timeout_s} s without an exit marker from the guest"
            exit 124
        fi
        log "error: the guest printed no '@@LAB-EXIT' marker (qemu exit status $qemu_status): the VM broke"
        exit 1
    fi
    [ "$qemu_status" -eq 0 ] || log "warning: qemu exit status $qemu_status after the guest's marker"
    log "guest command exit status $guest_status (${elapsed} s in all)"
    exit "$guest_status"
}

main "$@"
