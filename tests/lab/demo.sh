# The demo, sourced inside the lab guest (after /lab/prelude.sh, so `ip` is the real one):
# a client, this director and three real servers, with shoal running the sample lvs.cf
# adapted to the lab's devices. Prints `fetch N: rsX` for each request the client makes
# through the VIP, so the scheduling can be seen (and tested).
#
#   client (192.0.2.100) --veth-- [d-c] director [d-rs] --veth-- servers
#                                 VIP 192.0.2.10 (shoal)  NAT router 198.51.100.254 (shoal)
#   The real servers 198.51.100.11-13 share one namespace (the lab kernel has no bridge
#   module): one busybox httpd per address on port 80, default route via the NAT router.

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
    ip netns add servers
    ip link add d-rs type veth peer name eth0 netns servers
    ip link set d-rs up
    ip -n servers link set lo up
    ip -n servers link set eth0 up
    for n in 1 2 3; do
        ip -n servers addr add "198.51.100.1$n/24" dev eth0
        mkdir -p "/srv/rs$n"
        echo "rs$n" >"/srv/rs$n/index.html"
        ip netns exec servers httpd -p "198.51.100.1$n:80" -h "/srv/rs$n"
    done
    ip -n servers route add default via 198.51.100.254
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

# Stops shoal (which removes its services and addresses) and the namespaces.
demo_stop() {
    kill "$SHOAL_PID" 2>/dev/null
    wait "$SHOAL_PID" 2>/dev/null
    ip netns pids servers 2>/dev/null | xargs -r kill 2>/dev/null
    ip netns del client
    ip netns del servers
}

demo_fetch() {
    for n in $(seq "${1:-6}"); do
        echo "fetch $n: $(ip netns exec client wget -q -O - http://192.0.2.10/ 2>&1)"
    done
}

demo_main() {
    demo_topology
    demo_config
    echo "== shoal check /etc/sysconfig/ha/lvs.cf (the sample, with lab devices)"
    shoal check /etc/sysconfig/ha/lvs.cf
    demo_start_shoal || return 1
    echo "== ip -4 addr: the VIPs and the NAT router address shoal added"
    ip -4 -o addr show | grep -E 'd-c|d-rs' | sed -e 's/^[0-9]*: //' -e 's/\\.*//'
    echo "== shoal status"
    shoal status
    echo "== the client fetches http://192.0.2.10/ six times"
    demo_fetch 6
    echo "== shoal status after the fetches"
    shoal status
}
