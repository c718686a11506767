#!/usr/bin/env bash
# Runs the kernel tests (tests/kernel_*.rs) inside the lab VM (scripts/lab.sh). They are
# #[ignore]d on the host, which has no IPVS; in the guest each test binary runs with
# --ignored, one test at a time, so cargo's usual "test result: ok. N passed" lines show
# up in the output. Exits non-zero if any guest test fails or the VM breaks.
#
#   scripts/lab-tests.sh [--timeout S] [kernel_NAME...]
#
# Without names, every tests/kernel_*.rs runs. --timeout is lab.sh's (default 900 s).
set -euo pipefail
cd "$(dirname "$0")/.."

# Builds the kernel test binaries and prints "KIND NAME EXECUTABLE" for every executable
# cargo produced: the test binaries, and the crate's own binaries (shoal), which
# integration tests find through the absolute path env!("CARGO_BIN_EXE_shoal").
# Cargo's JSON messages are one object a line and only the target object has a "name",
# so plain text matching is enough (no jq on the host).
build_executables() {
    local tests=() name
    for name in "$@"; do tests+=(--test "$name"); done
    local json
    if ! json=$(cargo test --locked --no-run "${tests[@]}" --message-format=json); then
        # The JSON stream hid the compiler's messages: show them the usual way.
        cargo test --locked --no-run "${tests[@]}" >&2 || true
        return 1
    fi
    grep -F '"reason":"compiler-artifact"' <<<"$json" |
        sed -n 's/.*"target":{"kind":\["\([a-z-]*\)"\].*"name":"\([^"]*\)".*"executable":"\([^"]*\)".*/\1 \2 \3/p'
}

main() {
    local names=() lab_options=(--timeout 900) file
    while (($#)); do
        case $1 in
        --timeout) lab_options+=("$1" "${2:?--timeout needs seconds}") && shift 2 ;;
        kernel_*) names+=("$1") && shift ;;
        *) echo "lab-tests: unknown argument '$1' (usage: scripts/lab-tests.sh [--timeout S] [kernel_NAME...])" >&2 && exit 2 ;;
        esac
    done
    if ((${#names[@]} == 0)); then
        for file in tests/kernel_*.rs; do
            [ -e "$file" ] && names+=("$(basename "$file" .rs)")
        done
    fi
    ((${#names[@]})) || { echo "lab-tests: no tests/kernel_*.rs" >&2; exit 1; }

    local listing includes=() kind name executable
    listing=$(build_executables "${names[@]}")
    while read -r kind name executable; do
        case $kind in
        test) includes+=(--include "$executable:/tests/$name") ;;
        bin) includes+=(--include "$executable") ;; # same path as on the host
        esac
    done <<<"$listing"
    [[ ${includes[*]} == *:/tests/* ]] || { echo "lab-tests: cargo built no kernel test binary" >&2; exit 1; }

    # The demo's topology and sample, which tests/kernel_traffic.rs reuses.
    includes+=(--include tests/lab/demo.sh:/lab/demo.sh --include etc/lvs.cf:/lab/lvs.cf)

    # Port names in lvs.cf ("port = http") are looked up in /etc/services, as on a director.
    [ -e /etc/services ] && includes+=(--include /etc/services:/etc/services)

    # The shared lvs.cf corpus (beside the repository), for tests that replay it: at
    # /corpus in the guest, named by SHOAL_CORPUS.
    local corpus=../shared/corpus/lvs.cf
    if [ -d "$corpus" ]; then
        for file in "$corpus"/*.cf "$corpus"/*.ipvs; do
            includes+=(--include "$file:/corpus/$(basename "$file")")
        done
    fi

    # The command is expanded by the guest's shell, hence the single quotes.
    # Every binary runs, so one failure does not hide the others' results; the exit
    # status is 1 when any of them failed.
    # shellcheck disable=SC2016
    scripts/lab.sh "${lab_options[@]}" "${includes[@]}" -- \
        'export SHOAL_CORPUS=/corpus; failed=0; for t in /tests/*; do echo "== $t"; $t --ignored --test-threads=1 || failed=1; done; exit $failed'
}

main "$@"
