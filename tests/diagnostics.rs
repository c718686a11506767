//! Every kind of error and warning `shoal check` gives about an lvs.cf, with the exact
//! text an administrator reads: `file:line:column: severity: message`.
//!
//! Each test feeds a small file to `shoal::config::check` and compares all rendered
//! diagnostics, so a test also fails when a follow-up error appears that should not.

use shoal::config::{self, KernelFeatures, resolve::StaticResolver};

/// Names the files below use: two hosts and one service.
fn resolver() -> StaticResolver {
    let mut resolver = StaticResolver::default();
    for (name, address) in [
        ("lvs2.example.net", "192.0.2.2"),
        ("web1.example.net", "198.51.100.11"),
    ] {
        resolver
            .hosts
            .insert(name.to_string(), address.parse().expect("literal"));
    }
    resolver.services.insert("http".to_string(), 80);
    resolver
}

/// The rendered diagnostics of `bytes` checked against `kernel`, in the order shoal gives them.
fn diagnostics_of(bytes: &[u8], kernel: &KernelFeatures) -> Vec<String> {
    config::check(bytes, &resolver(), kernel)
        .diagnostics
        .iter()
        .map(|d| d.render("lvs.cf"))
        .collect()
}

/// The rendered diagnostics of `text`, with nothing known about the kernel.
fn diagnostics(text: &str) -> Vec<String> {
    diagnostics_of(text.as_bytes(), &KernelFeatures::unknown())
}

/// A virtual server with one real server, whose body lines are `virtual_lines` and
/// `server_lines`; the block starts on line 2 (after `primary`), the virtual lines on line 6.
fn service(virtual_lines: &str, server_lines: &str) -> String {
    format!(
        "primary = 192.0.2.1\n\
         virtual web {{\n\
         \x20   active = 1\n\
         \x20   address = 192.0.2.10 eth0:1\n\
         \x20   port = 80\n\
         {virtual_lines}\
         \x20   server a {{\n\
         \x20       address = 198.51.100.11\n\
         \x20       active = 1\n\
         {server_lines}\
         \x20   }}\n\
         }}\n"
    )
}

// ---------------------------------------------------------------- well-formed files

#[test]
fn a_good_file_has_no_diagnostics() {
    let text = format!(
        "{}backup = lvs2.example.net\n",
        service("", "        port = http\n").replace("port = 80", "port = http")
    );
    assert_eq!(diagnostics(&text), Vec::<String>::new());
}

// ---------------------------------------------------------------- lexical and syntax errors

#[test]
fn missing_equals() {
    assert_eq!(
        diagnostics("serial_no = 1\n\nprimary 192.0.2.1\n"),
        ["lvs.cf:3:9: error: equal (=) expected after 'primary', separated by blanks"]
    );
}

#[test]
fn equals_glued_to_the_keyword() {
    assert_eq!(
        diagnostics("primary=192.0.2.1\nvirtual web {\n    port= 80\n    port =80\n}\n"),
        [
            "lvs.cf:1:8: error: equal (=) expected after 'primary', separated by blanks",
            "lvs.cf:3:9: error: equal (=) expected after 'port', separated by blanks",
            "lvs.cf:4:10: error: equal (=) expected after 'port', separated by blanks",
        ]
    );
}

#[test]
fn unknown_keyword_with_a_suggestion() {
    assert_eq!(
        diagnostics("virtual web {\n    persistance = 60\n}\n"),
        ["lvs.cf:2:5: error: unknown command 'persistance' (did you mean 'persistent'?)"]
    );
}

#[test]
fn unknown_keyword_without_a_suggestion() {
    assert_eq!(
        diagnostics("primary = 192.0.2.1\nfrobnicate = 1\n"),
        ["lvs.cf:2:1: error: unknown command 'frobnicate' in the global section"]
    );
}

#[test]
fn keyword_in_the_wrong_block() {
    assert_eq!(
        diagnostics("virtual web {\n    weight = 2\n}\n"),
        [
            "lvs.cf:2:5: error: unknown command: 'weight' belongs in a server block, not in a virtual block (is a '}' missing or extra?)"
        ]
    );
}

#[test]
fn keepalived_block_is_one_error() {
    assert_eq!(
        diagnostics(
            "global_defs {\n    router_id LVS1\n}\nvirtual_server 192.0.2.10 80 {\n    real_server 198.51.100.11 80 {\n        weight 1\n    }\n}\nprimary = 192.0.2.1\n"
        ),
        [
            "lvs.cf:1:1: error: unknown command: 'global_defs {' is not an lvs.cf block (only virtual, failover and server are); is this keepalived.conf syntax? The block is skipped",
            "lvs.cf:4:1: error: unknown command: 'virtual_server ... {' is not an lvs.cf block (only virtual, failover and server are); is this keepalived.conf syntax? The block is skipped",
        ]
    );
}

#[test]
fn unterminated_quote() {
    assert_eq!(
        diagnostics("virtual web {\n    send = \"GET / HTTP/1.0\n}\n"),
        ["lvs.cf:2:12: error: quotation mismatch: the \" opened here is never closed"]
    );
}

#[test]
fn unreadable_block_header_still_opens_its_block() {
    assert_eq!(
        diagnostics(
            "virtual \"web {\n    active = 0\n    server a {\n        address = 198.51.100.11\n    }\n}\n"
        ),
        ["lvs.cf:1:9: error: quotation mismatch: the \" opened here is never closed"]
    );
    assert_eq!(
        diagnostics_of(
            b"virtual caf\xe9 {\n    active = 0\n}\n",
            &KernelFeatures::unknown()
        ),
        ["lvs.cf:1:12: error: line is not valid UTF-8 text (byte 0xe9); save the file as UTF-8"]
    );
}

#[test]
fn unreadable_lines_of_a_skipped_block_are_not_reported() {
    assert_eq!(
        diagnostics_of(
            b"global_defs {\n    notification_email_from \"caf\xe9\n}\nprimary = 192.0.2.1\n",
            &KernelFeatures::unknown()
        ),
        [
            "lvs.cf:1:1: error: unknown command: 'global_defs {' is not an lvs.cf block (only virtual, failover and server are); is this keepalived.conf syntax? The block is skipped"
        ]
    );
}

#[test]
fn integer_expected() {
    assert_eq!(
        diagnostics("virtual web {\n    persistent = sixty\n}\n"),
        ["lvs.cf:2:18: error: 'persistent': integer expected, found 'sixty'"]
    );
}

#[test]
fn boolean_expected() {
    assert_eq!(
        diagnostics("virtual web {\n    active = 2\n}\n"),
        ["lvs.cf:2:14: error: 'active': boolean expected (0 or 1), found 2"]
    );
}

#[test]
fn bad_netmask() {
    assert_eq!(
        diagnostics(
            "virtual web {\n    vip_nmask = 255.255.255.256\n    pmask = 256\n}\nnat_nmask = 255.0.255.0\n"
        ),
        [
            "lvs.cf:2:17: error: 'vip_nmask': bad netmask '255.255.255.256': dotted mask such as 255.255.255.0 or a prefix length expected",
            "lvs.cf:3:13: error: 'pmask': bad netmask: prefix length 256 is over 128",
            "lvs.cf:5:13: error: 'nat_nmask': bad netmask '255.0.255.0': the mask's bits must be contiguous",
        ]
    );
}

#[test]
fn missing_arguments() {
    assert_eq!(
        diagnostics("primary = 192.0.2.1\nnat_router = 192.0.2.254\n"),
        [
            "lvs.cf:2:25: error: missing arguments: 'nat_router' takes two values: an address and a device (such as 192.0.2.10 eth0:1)"
        ]
    );
    assert_eq!(
        diagnostics("primary =\n"),
        [
            "lvs.cf:1:10: error: missing arguments: 'primary' takes one value (quote a value that contains blanks)"
        ]
    );
}

#[test]
fn unexpected_arguments() {
    assert_eq!(
        diagnostics("primary = 192.0.2.1 192.0.2.2\n"),
        [
            "lvs.cf:1:21: error: unexpected arguments: 'primary' takes one value (quote a value that contains blanks)"
        ]
    );
}

#[test]
fn unknown_port_name() {
    assert_eq!(
        diagnostics("virtual web {\n    port = htp\n    port = 80/tcp\n}\n"),
        [
            "lvs.cf:2:12: error: 'port': unknown service name 'htp' (not a TCP service in /etc/services)",
            "lvs.cf:3:12: error: 'port': port number or service name expected, found '80/tcp'",
        ]
    );
}

#[test]
fn port_out_of_range() {
    assert_eq!(
        diagnostics("virtual web {\n    port = 65536\n}\n"),
        ["lvs.cf:2:12: error: 'port': port from 0 to 65535 expected, found 65536"]
    );
}

#[test]
fn unresolvable_host() {
    assert_eq!(
        diagnostics("primary = 192.0.2.1\nbackup = lvs9.example.net\n"),
        ["lvs.cf:2:10: error: 'backup': cannot resolve host name 'lvs9.example.net': unknown host"]
    );
}

#[test]
fn primary_unspecified_address() {
    assert_eq!(
        diagnostics("primary = 0.0.0.0\n"),
        [
            "lvs.cf:1:11: error: 'primary': invalid host name or IP address: 0.0.0.0 is not an address of a node"
        ]
    );
}

#[test]
fn sorry_server_needs_a_literal() {
    assert_eq!(
        diagnostics("virtual web {\n    sorry_server = web1.example.net\n}\n"),
        ["lvs.cf:2:20: error: 'sorry_server': IP address expected, found 'web1.example.net'"]
    );
}

#[test]
fn invalid_choice() {
    assert_eq!(
        diagnostics("virtual web {\n    scheduler = foo\n    protocol = icmp\n}\n"),
        [
            "lvs.cf:2:17: error: 'scheduler': 'foo' is not one of 'lc', 'rr', 'wlc', 'wrr', 'lblc', 'lblcr', 'dh', 'sh', 'sed', 'nq', 'fo', 'ovf', 'mh' or 'twos'",
            "lvs.cf:3:16: error: 'protocol': 'icmp' is not one of 'tcp', 'udp' or 'sctp'",
        ]
    );
}

#[test]
fn brace_glued_to_the_name() {
    assert_eq!(
        diagnostics("virtual web{\n    active = 0\n}\n"),
        [
            "lvs.cf:1:9: error: missing arguments: put a blank between the name and '{' (virtual web {)"
        ]
    );
}

#[test]
fn brace_on_the_next_line_is_one_error() {
    assert_eq!(
        diagnostics("virtual web\n{\n    active = 0\n}\n"),
        [
            "lvs.cf:1:12: error: missing arguments: '{' expected after 'virtual web', on the same line"
        ]
    );
}

#[test]
fn block_without_a_name() {
    assert_eq!(
        diagnostics("virtual\n    active = 0\n}\n"),
        ["lvs.cf:1:8: error: missing arguments: 'virtual' needs a name and '{' (virtual NAME {)"]
    );
}

#[test]
fn server_outside_a_virtual_block() {
    assert_eq!(
        diagnostics("primary = 192.0.2.1\nserver a {\n    address = 198.51.100.11\n}\n"),
        ["lvs.cf:2:1: error: unknown command: a 'server' block must be inside a 'virtual' block"]
    );
}

#[test]
fn virtual_inside_a_virtual_block() {
    assert_eq!(
        diagnostics("virtual a {\n    active = 0\nvirtual b {\n    active = 0\n}\n"),
        ["lvs.cf:3:1: error: 'virtual' block inside virtual 'a': is a '}' missing above?"]
    );
}

#[test]
fn server_nested_in_a_server_is_one_error() {
    assert_eq!(
        diagnostics(
            "virtual web {\n    server a {\n        server b {\n        }\n    }\n}\nprimary = 192.0.2.1\n"
        ),
        ["lvs.cf:3:9: error: 'server' block inside server 'a': is a '}' missing above?"]
    );
}

#[test]
fn block_header_with_extra_words() {
    assert_eq!(
        diagnostics("virtual web extra {\n}\nvirtual web2 { extra\n}\n"),
        [
            "lvs.cf:1:13: error: '{' expected after 'virtual web', found 'extra'",
            "lvs.cf:3:16: error: unexpected arguments after '{'",
        ]
    );
}

#[test]
fn stray_closing_brace() {
    assert_eq!(
        diagnostics("primary = 192.0.2.1\n}\n"),
        ["lvs.cf:2:1: error: unknown command: '}' without an open block"]
    );
}

#[test]
fn empty_file() {
    assert_eq!(
        diagnostics(""),
        ["lvs.cf: error: empty configuration: the file has no settings"]
    );
    assert_eq!(
        diagnostics("# only a comment\n\n"),
        ["lvs.cf: error: empty configuration: the file has no settings"]
    );
}

#[test]
fn line_not_utf8() {
    assert_eq!(
        diagnostics_of(
            b"primary = 192.0.2.1\nrsh_command = \"caf\xe9\"\n",
            &KernelFeatures::unknown()
        ),
        ["lvs.cf:2:19: error: line is not valid UTF-8 text (byte 0xe9); save the file as UTF-8"]
    );
}

#[test]
fn list_without_brackets() {
    assert_eq!(
        diagnostics(
            "failover f {\n    dirs = a b\n    dirs = a\n    dirs = [ a b\n    dirs = [ a b]\n}\n"
        ),
        [
            "lvs.cf:2:12: error: 'dirs': list expected: '[' first, separated by blanks",
            "lvs.cf:3:12: error: 'dirs': list expected: '[' first, separated by blanks",
            "lvs.cf:4:17: error: 'dirs': list expected: ']' last, separated by blanks",
            "lvs.cf:5:16: error: 'dirs': list expected: ']' last, separated by blanks",
        ]
    );
}

#[test]
fn decimal_where_whole_seconds_are_needed() {
    assert_eq!(
        diagnostics("virtual web {\n    persistent = 1.5\n}\n"),
        [
            "lvs.cf:2:18: error: 'persistent': whole seconds expected, found '1.5' (this keyword takes no decimals)"
        ]
    );
}

// ---------------------------------------------------------------- parse warnings

#[test]
fn trailing_comment() {
    assert_eq!(
        diagnostics("primary = 192.0.2.1 # the primary\n"),
        [
            "lvs.cf:1:21: warning: trailing comment ignored; Piranha rejects comments after a value (unexpected arguments)"
        ]
    );
}

#[test]
fn text_after_a_closing_brace() {
    assert_eq!(
        diagnostics("virtual web {\n    active = 0\n} # web\n"),
        ["lvs.cf:3:3: warning: text after '}' is ignored (as Piranha did); remove it"]
    );
}

#[test]
fn keyword_set_twice() {
    assert_eq!(
        diagnostics("primary = 192.0.2.1\nkeepalive = 1\nkeepalive = 3\ndeadtime = 10\n"),
        ["lvs.cf:3:1: warning: 'keepalive' is set again (first on line 2); the last value counts"]
    );
}

#[test]
fn ignored_keyword() {
    assert_eq!(
        diagnostics("primary = 192.0.2.1\nhard_shutdown = 0\n"),
        [
            "lvs.cf:2:1: warning: 'hard_shutdown' has no effect in shoal: Piranha stopped when a nanny died; shoal restarts a failed monitor instead."
        ]
    );
}

#[test]
fn unclosed_block_at_the_end() {
    assert_eq!(
        diagnostics("primary = 192.0.2.1\nvirtual web {\n    active = 0\n"),
        [
            "lvs.cf:2: warning: virtual 'web' is not closed before the end of the file; a '}' is missing (Piranha accepted this)"
        ]
    );
}

// ---------------------------------------------------------------- validation

#[test]
fn virtual_name_used_twice() {
    assert_eq!(
        diagnostics("virtual web {\n    active = 0\n}\nvirtual web {\n    active = 0\n}\n"),
        [
            "lvs.cf:4: error: virtual server name 'web' is used twice (first on line 1); names must be unique"
        ]
    );
}

#[test]
fn server_name_used_twice() {
    let text = service(
        "",
        "    }\n    server a {\n        address = 198.51.100.12\n",
    );
    assert_eq!(
        diagnostics(&text),
        [
            "lvs.cf:10: error: real server name 'a' is used twice in virtual server 'web' (first on line 6)"
        ]
    );
}

#[test]
fn same_service_twice() {
    let text = format!(
        "{}virtual web2 {{\n    active = 1\n    address = 192.0.2.10 eth0:2\n    sorry_server = 198.51.100.99\n}}\n",
        service("", "")
    );
    assert_eq!(
        diagnostics(&text),
        [
            "lvs.cf:13:15: error: virtual servers 'web' and 'web2' are both active for the same service (192.0.2.10 tcp port 80)"
        ]
    );
}

#[test]
fn same_fwmark_twice() {
    let text = format!(
        "{}virtual web2 {{\n    active = 1\n    address = 192.0.2.11 eth0:2\n    fwmark = 7\n    persistent = 60\n    sorry_server = 198.51.100.99\n}}\n",
        service("    fwmark = 7\n    persistent = 60\n", "")
    );
    assert_eq!(
        diagnostics(&text),
        [
            "lvs.cf:16:14: error: virtual servers 'web' and 'web2' are both active for the same service (firewall mark 7)"
        ]
    );
}

#[test]
fn real_server_of_another_address_family() {
    let text = service("", "").replace("198.51.100.11", "2001:db8::11");
    assert_eq!(
        diagnostics(&text),
        [
            "lvs.cf:7:19: error: real server 2001:db8::11 and the VIP 192.0.2.10 are of different address families"
        ]
    );
}

#[test]
fn port_mapping_needs_nat() {
    let text = format!("network = direct\n{}", service("", "        port = 8080\n"));
    assert_eq!(
        diagnostics(&text),
        [
            "lvs.cf:10:16: error: real server port 8080 differs from the virtual server's port 80: port mapping needs NAT, not direct"
        ]
    );
}

#[test]
fn backup_active_without_backup_or_primary() {
    assert_eq!(
        diagnostics("primary = 192.0.2.1\nbackup_active = 1\n"),
        [
            "lvs.cf:2:17: warning: backup_active = 1 but no backup address: this node runs without a backup (as Piranha did)"
        ]
    );
    assert_eq!(
        diagnostics("backup = 192.0.2.2\nbackup_active = 1\n"),
        [
            "lvs.cf:2:17: error: backup_active = 1 needs 'primary': without it no node can tell its role"
        ]
    );
}

#[test]
fn primary_equal_to_backup() {
    assert_eq!(
        diagnostics("primary = 192.0.2.1\nbackup_active = 1\nbackup = 192.0.2.1\n"),
        ["lvs.cf:3:10: error: backup is the same address as primary (192.0.2.1)"]
    );
}

#[test]
fn deadtime_not_above_keepalive() {
    assert_eq!(
        diagnostics("primary = 192.0.2.1\nkeepalive = 2\ndeadtime = 2\n"),
        [
            "lvs.cf:3:12: error: deadtime (2 s) must be greater than keepalive (2 s), or one late heartbeat is a failover"
        ]
    );
    assert_eq!(
        diagnostics("primary = 192.0.2.1\nkeepalive = 6\n"),
        [
            "lvs.cf:2:13: error: deadtime (5 s) must be greater than keepalive (6 s), or one late heartbeat is a failover"
        ]
    );
}

#[test]
fn fwmark_without_persistent() {
    assert_eq!(
        diagnostics(&service("    fwmark = 7\n", "")),
        [
            "lvs.cf:6:14: warning: fwmark 7 without persistent: connections of one client may reach different real servers (the Red Hat guide sets persistence for firewall-mark services)"
        ]
    );
}

#[test]
fn fwmark_shared_with_different_persistence() {
    let text = format!(
        "{}virtual web2 {{\n    fwmark = 7\n    persistent = 300\n}}\n",
        service("    fwmark = 7\n    persistent = 60\n", "")
    );
    assert_eq!(
        diagnostics(&text),
        [
            "lvs.cf:15:18: error: virtual servers 'web' and 'web2' share fwmark 7 but not the same persistent value"
        ]
    );
}

#[test]
fn pmask_without_persistent() {
    assert_eq!(
        diagnostics(&service("    pmask = 255.255.255.0\n", "")),
        ["lvs.cf:6:13: warning: pmask has no effect without persistent"]
    );
}

#[test]
fn send_program_overrides_send() {
    assert_eq!(
        diagnostics(&service(
            "    send_program = \"/usr/local/bin/check %h\"\n    send = \"GET /\\r\\n\"\n",
            ""
        )),
        ["lvs.cf:7:12: warning: send is ignored because send_program is set (as in Piranha)"]
    );
}

#[test]
fn invalid_regular_expression() {
    assert_eq!(
        diagnostics(&service(
            "    use_regex = 1\n    expect = \"HTTP/1\\.[01\"\n",
            ""
        )),
        [
            "lvs.cf:7:14: error: expect is not a valid regular expression (use_regex = 1): error: unclosed character class"
        ]
    );
}

#[test]
fn nat_router_with_direct_routing() {
    let text = format!(
        "network = direct\nnat_router = 198.51.100.254 eth1:1\n{}",
        service("", "")
    );
    assert_eq!(
        diagnostics(&text),
        [
            "lvs.cf:2:14: warning: nat_router has no use: no virtual server uses NAT (network = direct)"
        ]
    );
}

#[test]
fn sorry_server_is_a_real_server() {
    assert_eq!(
        diagnostics(&service("    sorry_server = 198.51.100.11\n", "")),
        ["lvs.cf:6:20: error: sorry_server 198.51.100.11 is also a real server of 'web'"]
    );
}

#[test]
fn weight_out_of_range() {
    assert_eq!(
        diagnostics(&service("", "        weight = -1\n")),
        ["lvs.cf:9:18: error: weight -1 is outside what the kernel takes (0 to 2147483647)"]
    );
    assert_eq!(
        diagnostics(&service("", "        weight = 2147483648\n")),
        [
            "lvs.cf:9:18: error: weight 2147483648 is outside what the kernel takes (0 to 2147483647)"
        ]
    );
}

#[test]
fn scheduler_missing_from_the_kernel() {
    let kernel = KernelFeatures::from_module_lists(
        "kernel/net/netfilter/ipvs/ip_vs.ko:\nkernel/net/netfilter/ipvs/ip_vs_rr.ko:\nkernel/net/netfilter/ipvs/ip_vs_wlc.ko:\n",
    );
    let text = service("    scheduler = sed\n", "");
    assert_eq!(
        diagnostics_of(text.as_bytes(), &kernel),
        [
            "lvs.cf:6:17: error: scheduler 'sed' is not available in this kernel (no ip_vs_sed module)"
        ]
    );
    assert_eq!(
        diagnostics_of(service("    scheduler = rr\n", "").as_bytes(), &kernel),
        Vec::<String>::new()
    );
}

#[test]
fn scheduler_flag_of_another_scheduler() {
    assert_eq!(
        diagnostics(&service(
            "    scheduler = mh\n    scheduler_flags = sh-port\n",
            ""
        )),
        ["lvs.cf:7:23: error: scheduler flag 'sh-port' is for the sh scheduler, not mh"]
    );
}

#[test]
fn active_virtual_server_without_address() {
    assert_eq!(
        diagnostics(&service("", "").replace("    address = 192.0.2.10 eth0:1\n", "")),
        ["lvs.cf:2: error: active virtual server 'web' has no address"]
    );
}

#[test]
fn netmask_of_another_address_family() {
    assert_eq!(
        diagnostics(&service("    vip_nmask = 64\n", "")),
        ["lvs.cf:6:17: error: vip_nmask 64 does not fit the address family of 192.0.2.10"]
    );
}

#[test]
fn zero_timeout_and_fall() {
    assert_eq!(
        diagnostics(&service("    timeout = 0\n    fall = 0\n", "")),
        [
            "lvs.cf:6:15: error: timeout must be more than 0: it is the check interval",
            "lvs.cf:7:12: error: fall must be at least 1",
        ]
    );
}

#[test]
fn lower_threshold_above_upper_threshold() {
    assert_eq!(
        diagnostics(&service(
            "",
            "        upper_threshold = 100\n        lower_threshold = 200\n"
        )),
        ["lvs.cf:10:27: error: lower_threshold 200 is above upper_threshold 100"]
    );
}

// ---------------------------------------------------------------- all errors, in line order

#[test]
fn every_error_is_reported_in_line_order() {
    let text = "primary 192.0.2.1\n\
                keepalive = 1 # fast\n\
                virtual web {\n\
                \x20   active = yes\n\
                \x20   persistance = 60\n\
                \x20   server a {\n\
                \x20       weight = 2 3\n\
                \x20   }\n\
                }\n\
                }\n";
    assert_eq!(
        diagnostics(text),
        [
            "lvs.cf:1:9: error: equal (=) expected after 'primary', separated by blanks",
            "lvs.cf:2:15: warning: trailing comment ignored; Piranha rejects comments after a value (unexpected arguments)",
            "lvs.cf:4:14: error: 'active': integer expected, found 'yes'",
            "lvs.cf:5:5: error: unknown command 'persistance' (did you mean 'persistent'?)",
            "lvs.cf:7:20: error: unexpected arguments: 'weight' takes one value (quote a value that contains blanks)",
            "lvs.cf:10:1: error: unknown command: '}' without an open block",
        ]
    );
}
