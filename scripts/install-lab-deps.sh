#!/usr/bin/env bash
# Installs what the host needs to run the IPVS lab (scripts/lab.sh): qemu-system-x86 for
# booting Debian's stock kernel under software emulation, and the small host tools the
# initramfs build uses. Idempotent: when everything is present it does nothing at all
# (no apt-get update either). Needs root (or sudo).
#
# Why qemu comes from bookworm-backports: the machines this project runs on carry
# qemu-utils 10.0.2 from bookworm-backports. Installing bookworm's qemu-system-x86 (7.2)
# would make apt remove that qemu-utils (it reports only "1 to remove"). Installing
# qemu-system-x86 from backports keeps both at 10.0.2. Backports is reached through a
# private apt configuration (own sources list, own lists directory, own cache) so
# /etc/apt and the system's package lists are not changed.
set -euo pipefail

# Host packages: name -> why.
host_packages=(
    xz-utils  # .ko.xz modules (newer kernels) are decompressed at initramfs build time
    gzip      # the initramfs is a gzip'ed newc cpio
    iproute2  # the host's /sbin/ip is copied into the guest (busybox ip has no netns)
    libc-bin  # ldd: an ELF copied into the guest gets its shared libraries too
    binutils  # strip: included test binaries lose their debug info (a smaller initramfs)
)
qemu_binary=qemu-system-x86_64

sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)

is_installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}

# The distribution's codename (bookworm on the project's machines).
codename() {
    # shellcheck disable=SC1091
    (. /etc/os-release && echo "${VERSION_CODENAME:-}")
}

install_host_packages() {
    local missing=() package
    for package in "${host_packages[@]}"; do
        is_installed "$package" || missing+=("$package")
    done
    ((${#missing[@]})) || return 0
    echo "install-lab-deps: installing ${missing[*]}"
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# Writes a one-line-style sources list with every Debian suite the system already uses,
# plus <codename>-backports on the same mirror. The mirror is read from the system's own
# apt configuration (apt-get indextargets), so no host name is hard-coded here.
write_private_sources() {
    local list=$1 suite=$2 keyring=/usr/share/keyrings/debian-archive-keyring.gpg
    local options="" uri release main_uri=""
    [ -r "$keyring" ] && options="[signed-by=$keyring] "
    : >"$list"
    # shellcheck disable=SC2016 # $(REPO_URI) and $(RELEASE) are apt's placeholders
    while IFS='|' read -r uri release; do
        case $release in
        "$suite" | "$suite"-updates | "$suite"-security) ;;
        *) continue ;; # third-party repositories are not needed for qemu
        esac
        echo "deb ${options}${uri} ${release} main" >>"$list"
        [ "$release" = "$suite" ] && main_uri=$uri
    done < <(apt-get indextargets --format '$(REPO_URI)|$(RELEASE)' 'Identifier: Packages' | sort -u)
    if [ -z "$main_uri" ]; then
        echo "install-lab-deps: no '$suite' suite in the system's apt sources" >&2
        return 1
    fi
    echo "deb ${options}${main_uri} ${suite}-backports main" >>"$list"
}

install_qemu_from_backports() {
    local suite=$1 dir
    dir=$(mktemp -d /tmp/shoal-lab-apt.XXXXXX)
    chmod 755 "$dir" # apt downloads as user _apt: let it in (no "unsandboxed" warning)
    # shellcheck disable=SC2064 # expand $dir now: it is local
    trap "rm -rf '$dir'" RETURN
    mkdir -p "$dir/lists/partial" "$dir/cache/archives/partial"
    write_private_sources "$dir/sources.list" "$suite"
    local apt_private=(
        -o "Dir::Etc::sourcelist=$dir/sources.list"
        -o "Dir::Etc::sourceparts=-"
        -o "Dir::State::Lists=$dir/lists"
        -o "Dir::Cache=$dir/cache"
        -o "APT::Get::List-Cleanup=0"
    )
    echo "install-lab-deps: installing qemu-system-x86 from ${suite}-backports (private apt config)"
    "${sudo_cmd[@]}" apt-get "${apt_private[@]}" update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get "${apt_private[@]}" install -y -qq \
        --no-install-recommends -t "${suite}-backports" qemu-system-x86
}

install_qemu() {
    if is_installed qemu-system-x86 && command -v "$qemu_binary" >/dev/null; then
        return 0
    fi
    local suite
    suite=$(codename)
    if [ "$suite" = bookworm ]; then
        install_qemu_from_backports "$suite"
    else
        # Newer releases ship a recent qemu; no backports needed.
        "${sudo_cmd[@]}" apt-get update -qq
        DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends qemu-system-x86
    fi
    "$qemu_binary" --version | head -n 1
}

install_host_packages
install_qemu
