# The demo, sourced inside the lab guest (after /lab/prelude.sh, so `ip` is the real one):
# a client, this director and three real servers, with shoal running the sample lvs.cf
# adapted to the lab's devices. Prints `fetch N: rsX` for each request the client makes
# through the VIP, so the scheduling can be seen (and tested).
#
#   client (192.0.2.100) --veth-- [d-c] director [d-rs1] --veth-- rs1 (198.51.100.11)
#                                 VIP 192.0.2.10 [d-rs2] --veth-- rs2 (198.51.100.12)
#                                 (shoal)        [d-rs3] --veth-- rs3 (198.51.100.13)
#                                                [d-rs] dummy: NAT router 198.51.100.254 (shoal)
#
#   Each real server has its own namespace and its own point-to-point veth to the
#   director, which routes 198.51.100.1N/32 over it: the director sees each server on its
#   own device, as the demo's output shows (tests/lab_pair/ puts a pair of directors on
#   a bridge instead, which the lab kernel also has). The
#   director's address on the real servers' network (lvs.cf's eth1, the NAT router) goes
#   on a dummy device d-rs, and each real server reaches it on-link through its veth (the
#   director answers ARP for any of its addresses on any device). Every real server runs
#   one busybox httpd on port 80 (any address), answering with its name, and its default
#   route is the NAT router. demo_direct_routing adds what direct routing needs.

demo_topology() {
    ip link set lo up
    echo 1 >/proc/sys/net/ipv4/ip_forward
    ip netns add client
    ip link add d-c type veth peer name eth0 netns client
    ip addr add 192.0.2.1/24 dev d-c
    ip link set d-c up
    ip -n client link set lo up
    ip -n client addr add 192.0.2.100/24 dev eth0
    ip -n client link set eth0 up
    ip link add d-rs type dummy
    ip link set d-rs up
    for n in 1 2 3; do
        ip netns add "rs$n"
        ip link add "d-rs$n" type veth peer name eth0 netns "rs$n"
        ip link set "d-rs$n" up
        ip route add "198.51.100.1$n/32" dev "d-rs$n"
        ip -n "rs$n" link set lo up
        ip -n "rs$n" addr add "198.51.100.1$n/24" dev eth0
        ip -n "rs$n" link set eth0 up
        ip -n "rs$n" route add default via 198.51.100.254
        mkdir -p "/srv/rs$n"
        echo "rs$n" >"/srv/rs$n/index.html"
        ip netns exec "rs$n" httpd -p 80 -h "/srv/rs$n"
    done
}

# Direct routing (lvs.cf `network = direct`) for the VIP $1 (default 192.0.2.10): each real
# server holds the VIP on its lo, with arp_ignore=1 and arp_announce=2 so it never answers
# or announces it, and sends what it answers from the VIP straight to the client (policy
# routing: `from VIP` over its own veth c-rsN <-> eth1 to the client namespace), so the
# replies bypass the director, as direct routing means. The director is left as it is:
# with accept_local=0 it would drop a reply from its own VIP as a martian, so an answered
# fetch also shows that the replies did not come back through it.
demo_direct_routing() {
    vip=${1:-192.0.2.10}
    for n in 1 2 3; do
        ip -n "rs$n" addr add "$vip/32" dev lo
        ip netns exec "rs$n" sh -c 'echo 1 >/proc/sys/net/ipv4/conf/all/arp_ignore; echo 2 >/proc/sys/net/ipv4/conf/all/arp_announce'
        ip link add "c-rs$n" netns client type veth peer name eth1 netns "rs$n"
        ip -n client link set "c-rs$n" up
        ip -n "rs$n" link set eth1 up
        ip -n "rs$n" route add 192.0.2.0/24 dev eth1 table 100
        ip -n "rs$n" rule add from "$vip" lookup 100
    done
}

# The sample lvs.cf, with the lab's devices for its VIPs and NAT router.
demo_config() {
    mkdir -p /etc/sysconfig/ha
    sed -e 's/ eth0:/ d-c:/' -e 's/ eth1:/ d-rs:/' /lab/lvs.cf >/etc/sysconfig/ha/lvs.cf
}

# SHOAL names the binary when it is not on PATH (the kernel tests pass theirs).
demo_start_shoal() {
    "${SHOAL:-shoal}" run --force-active -c /etc/sysconfig/ha/lvs.cf >/tmp/shoal.log 2>&1 &
    SHOAL_PID=$!
    for _ in $(seq 50); do
        "${SHOAL:-shoal}" status >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    cat /tmp/shoal.log
    return 1
}

# Waits (up to 20 s) until the service $1 (TCP ADDRESS:PORT) has $2 real servers with a
# weight above 0 in the kernel table: shoal adds each one at its first passed health
# check, and the first probes are spread over a second.
demo_wait_servers() {
    for _ in $(seq 100); do
        [ "$(ipvsadm -Ln -t "$1" 2>/dev/null | awk '$1 == "->" && $4 ~ /^[0-9]+$/ && $4 > 0' | wc -l)" -ge "$2" ] && return 0
        sleep 0.2
    done
    echo "demo: $1 has no $2 real servers up after 20 s"
    ipvsadm -Ln
    cat /tmp/shoal.log
    return 1
}

# Stops shoal (which removes its services and addresses), the real servers' httpds and
# the namespaces (with them every veth; the dummy goes too). Safe to call after a partial
# demo_topology, and twice.
demo_stop() {
    if [ -n "${SHOAL_PID:-}" ]; then
        kill "$SHOAL_PID" 2>/dev/null
        wait "$SHOAL_PID" 2>/dev/null
        SHOAL_PID=
    fi
    for ns in rs1 rs2 rs3 client; do
        ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null
        ip netns del "$ns" 2>/dev/null
    done
    ip link del d-rs 2>/dev/null
    return 0
}

# Each fetch is bounded (busybox 1.35's `wget -T` crashes, hence timeout), so a broken
# path shows as a failed fetch instead of a hang.
demo_fetch() {
    for n in $(seq "${1:-6}"); do
        echo "fetch $n: $(ip netns exec client timeout 5 wget -q -O - http://192.0.2.10/ 2>&1)"
    done
}

demo_main() {
    demo_topology
    demo_config
    echo "== shoal check /etc/sysconfig/ha/lvs.cf (the sample, with lab devices)"
    shoal check /etc/sysconfig/ha/lvs.cf
    demo_start_shoal || return 1
    demo_wait_servers 192.0.2.10:80 3 || return 1
    echo "== ip -4 addr: the VIPs and the NAT router address shoal added"
    ip -4 -o addr show | grep -E 'd-c|d-rs' | sed -e 's/^[0-9]*: //' -e 's/\\.*//'
    echo "== shoal status"
    shoal status
    echo "== the client fetches http://192.0.2.10/ six times"
    demo_fetch 6
    echo "== shoal status after the fetches"
    shoal status
}

# The web UI for the host (scripts/demo.sh forwards 127.0.0.1:3636 there): a password,
# `shoal web` on the guest's user-network NIC, and a client fetching through the VIP twice
# a second so the routing table and the charts move. Runs for $1 minutes (default 30).
demo_web() {
    minutes=${1:-30}
    mkdir -p /etc/shoal
    echo "${DEMO_PASSWORD:-shoal-demo}" | shoal passwd >/dev/null 2>&1 || return 1
    shoal web >/tmp/shoal-web.log 2>&1 &
    (
        while :; do
            ip netns exec client timeout 5 wget -q -O /dev/null http://192.0.2.10/ 2>/dev/null
            sleep 0.5
        done
    ) &
    for _ in $(seq 50); do
        grep -q 'listening on' /tmp/shoal-web.log && break
        sleep 0.2
    done
    cat /tmp/shoal-web.log
    echo "== the web UI: http://127.0.0.1:3636/ on the host, user piranha, password ${DEMO_PASSWORD:-shoal-demo}"
    echo "== the client fetches through the VIP twice a second; the demo ends in $minutes minutes (Ctrl-C ends it now)"
    sleep $((minutes * 60))
}
