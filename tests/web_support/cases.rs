//! The changes both the HTTP tests (tests/web_panels.rs) and the browser tests
//! (tests/web_e2e.rs) make to the sample lvs.cf, each with exactly what it must do to
//! the file: one statement of what every field of a panel writes.

use super::browser::Input::{self, Choose, Text, Tick};

/// Fields to enter and the diff lines (in file order, `serial_no` aside) they make.
pub struct Case {
    /// What is typed, chosen and ticked.
    pub inputs: &'static [Input<'static>],
    /// The lines removed (`-`) and added (`+`).
    pub expected: &'static [&'static str],
}

/// Every field of GLOBAL SETTINGS changed at once. New keywords go after the section's
/// last setting, in the keyword table's order.
pub const GLOBAL_EVERY_FIELD: Case = Case {
    inputs: &[
        Text("primary", "192.0.2.3"),
        Text("primary_private", "198.51.100.1"),
        Text("tcp_timeout", "900"),
        Text("tcpfin_timeout", "120"),
        Text("udp_timeout", "300"),
        Choose("network", "tunnel"),
        Text("nat_router", "198.51.100.253"),
        Text("nat_nmask", "255.255.255.128"),
        Text("nat_router_device", "eth1:2"),
        Text("active_cmd", "\"/usr/local/bin/became active\""),
        Text("inactive_cmd", "/usr/local/bin/inactive"),
        Text("rsh_command", "ssh"),
        Choose("standby", "cold"),
        Text("garp_count", "3"),
        Text("garp_interval", "0.5"),
        Text("debug_level", "LOW"),
        Tick("hard_shutdown", false),
        Text("ipvsadm", "/usr/sbin/ipvsadm"),
        Tick("heartbeat", true),
        Tick("sync", true),
        Text("primary_shared", "/dev/sdb1"),
        Text("backup_shared", "/dev/sdc1"),
        Choose("reservation_conflict_action", "preempt"),
    ],
    expected: &[
        "-primary = 192.0.2.1",
        "+primary = 192.0.2.3",
        "-network = nat",
        "+network = tunnel",
        "-nat_router = 198.51.100.254 eth1:1",
        "-nat_nmask = 255.255.255.0",
        "+nat_router = 198.51.100.253 eth1:2",
        "+nat_nmask = 255.255.255.128",
        "+primary_private = 198.51.100.1",
        "+primary_shared = /dev/sdb1",
        "+backup_shared = /dev/sdc1",
        "+reservation_conflict_action = preempt",
        "+active_cmd = \"/usr/local/bin/became active\"",
        "+inactive_cmd = /usr/local/bin/inactive",
        "+debug_level = LOW",
        "+hard_shutdown = 0",
        "+ipvsadm = /usr/sbin/ipvsadm",
        "+rsh_command = ssh",
        "+tcp_timeout = 900",
        "+tcpfin_timeout = 120",
        "+udp_timeout = 300",
        "+heartbeat = 1",
        "+sync = 1",
        "+standby = cold",
        "+garp_count = 3",
        "+garp_interval = 0.5",
    ],
};

/// Every field of REDUNDANCY changed at once.
pub const REDUNDANCY_EVERY_FIELD: Case = Case {
    inputs: &[
        Text("backup", "192.0.2.4"),
        Text("backup_private", "198.51.100.2"),
        Text("keepalive", "2"),
        Text("deadtime", "10"),
        Text("heartbeat_port", "540"),
        Tick("monitor_links", true),
        Tick("preempt", false),
        Tick("syncdaemon", true),
        Text("syncd_iface", "eth1"),
        Text("syncd_id", "7"),
    ],
    expected: &[
        "-backup = 192.0.2.2",
        "+backup = 192.0.2.4",
        "-heartbeat_port = 539",
        "+heartbeat_port = 540",
        "-keepalive = 6",
        "-deadtime = 18",
        "+keepalive = 2",
        "+deadtime = 10",
        "+backup_private = 198.51.100.2",
        "+monitor_links = 1",
        "+syncdaemon = 1",
        "+syncd_iface = eth1",
        "+syncd_id = 7",
        "+preempt = 0",
    ],
};

/// The VIRTUAL SERVER group of http's page, every field (a rename to www among them).
pub const VIRTUAL_SERVER_FIELDS: Case = Case {
    inputs: &[
        Text("name", "www"),
        Text("port", "8080"),
        Choose("protocol", "udp"),
        Text("address", "192.0.2.20"),
        Text("vip_nmask", "255.255.255.128"),
        Text("fwmark", "80"),
        Text("address_device", "eth0:5"),
        Text("reentry", "30"),
        Text("timeout", "8"),
        Tick("quiesce_server", false),
        Choose("load_monitor", "rup"),
        Choose("scheduler", "rr"),
        Text("persistent", "600"),
        Text("pmask", "255.255.255.0"),
        Text("sorry_server", "198.51.100.99"),
    ],
    expected: &[
        "-virtual http {",
        "+virtual www {",
        "-    address = 192.0.2.10 eth0:1",
        "-    vip_nmask = 255.255.255.0",
        "+    address = 192.0.2.20 eth0:5",
        "+    vip_nmask = 255.255.255.128",
        "-    protocol = tcp",
        "-    port = 80",
        "+    protocol = udp",
        "+    port = 8080",
        "-    scheduler = wlc",
        "+    scheduler = rr",
        "-    timeout = 6",
        "-    reentry = 15",
        "+    timeout = 8",
        "+    reentry = 30",
        "-    quiesce_server = 1",
        "+    quiesce_server = 0",
        "-    load_monitor = none",
        "+    load_monitor = rup",
        "+    sorry_server = 198.51.100.99",
        "+    fwmark = 80",
        "+    persistent = 600",
        "+    pmask = 255.255.255.0",
    ],
};

/// The shoal extensions and the Piranha keywords shoal ignores, on www (renamed by VIRTUAL_SERVER_FIELDS).
pub const VIRTUAL_EXTENSIONS: Case = Case {
    inputs: &[
        Choose("forwarding", "tunnel"),
        Choose("scheduler", "sh"),
        Text("scheduler_flags", "sh-fallback sh-port"),
        Choose("tunnel_type", "gue"),
        Text("tunnel_port", "6080"),
        Choose("tunnel_csum", "csum"),
        Text("drain_timeout", "30"),
        Tick("one_packet", true),
        Text("client_monitor", "/usr/sbin/nanny2"),
        Text("start_cmd", "/bin/start"),
        Text("stop_cmd", "/bin/stop"),
        Text("master", "192.0.2.50"),
        Text("dirs", "[ /a /b ]"),
    ],
    expected: &[
        "-    scheduler = rr",
        "+    scheduler = sh",
        "+    scheduler_flags = sh-fallback sh-port",
        "+    client_monitor = /usr/sbin/nanny2",
        "+    start_cmd = /bin/start",
        "+    stop_cmd = /bin/stop",
        "+    master = 192.0.2.50",
        "+    dirs = [ /a /b ]",
        "+    forwarding = tunnel",
        "+    tunnel_type = gue",
        "+    tunnel_port = 6080",
        "+    tunnel_csum = csum",
        "+    drain_timeout = 30",
        "+    one_packet = 1",
    ],
};

/// The health checks, on ftp.
pub const VIRTUAL_CHECKS: Case = Case {
    inputs: &[
        Choose("monitor", "http"),
        Text("monitor_port", "2121"),
        Text("rise", "3"),
        Text("fall", "2"),
        Text("http_method", "HEAD"),
        Text("http_path", "/health"),
        Text("http_host", "www.example.com"),
        Text("http_status", "200 301-302"),
        Text("http_body", "ok"),
        Tick("tls_verify", true),
        Text("dns_name", "example.com"),
        Choose("dns_type", "AAAA"),
        Choose("dns_rcode", "NXDOMAIN"),
    ],
    expected: &[
        "+    rise = 3",
        "+    fall = 2",
        "+    monitor = http",
        "+    monitor_port = 2121",
        "+    http_method = HEAD",
        "+    http_path = /health",
        "+    http_host = www.example.com",
        "+    http_status = 200 301-302",
        "+    http_body = ok",
        "+    tls_verify = 1",
        "+    dns_name = example.com",
        "+    dns_type = AAAA",
        "+    dns_rcode = NXDOMAIN",
    ],
};

/// Every field of the real server that ADD made in http (server1).
pub const REAL_EVERY_FIELD: Case = Case {
    inputs: &[
        Text("name", "web4"),
        Text("address", "198.51.100.14"),
        Text("weight", "3"),
        Text("port", "8080"),
        Choose("forwarding", "nat"),
        Choose("tunnel_type", "ipip"),
        Text("tunnel_port", "6080"),
        Choose("tunnel_csum", "nocsum"),
        Text("upper_threshold", "100"),
        Text("lower_threshold", "50"),
    ],
    expected: &[
        "-    server server1 {",
        "+    server web4 {",
        "+        address = 198.51.100.14",
        "+        weight = 3",
        "+        port = 8080",
        "+        forwarding = nat",
        "+        tunnel_type = ipip",
        "+        tunnel_port = 6080",
        "+        tunnel_csum = nocsum",
        "+        upper_threshold = 100",
        "+        lower_threshold = 50",
    ],
};

/// The sending program, send, expect and its regular expression switch of ftp.
pub const SCRIPTS_TEXTS: Case = Case {
    inputs: &[
        Text("send_program", "\"/usr/local/bin/check-ftp %h %p\""),
        Text("send", "\"QUIT\\r\\n\""),
        Text("expect", "\"^2[0-9]{2}\""),
        Tick("use_regex", true),
    ],
    expected: &[
        "-    send = \"quit\\r\\n\"",
        "-    expect = \"220\"",
        "+    send = \"QUIT\\r\\n\"",
        "+    expect = \"^2[0-9]{2}\"",
        "+    send_program = \"/usr/local/bin/check-ftp %h %p\"",
        "+    use_regex = 1",
    ],
};
