//! Network-namespace lab for integration tests and benchmarks (needs root).
//!
//! A `Lab` is one L2 segment: a switch namespace holding bridge `br0`, router namespaces
//! r1..rN each with `eth0`, and a client namespace. Optionally a second segment (`br1`,
//! `eth1` on every router and on the client) for VIPs that live on another interface than
//! the one carrying VRRP. Everything the lab creates is removed when it is dropped, also
//! while a test panics.
//!
//! Use from a test file with `mod lab;`, from a bench with
//! `#[path = "../tests/lab/mod.rs"] mod lab;`.
#![allow(dead_code, unused_imports)]

pub mod capture;
pub mod frr;
pub mod keepalived_conf;
pub mod outage;
pub mod process;
pub mod procfs;
pub mod service;
pub mod tunnel;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub use capture::Capture;
pub use keepalived_conf::{KeepalivedConf, VrrpInstance};
pub use outage::{OutageMeter, OutageReport};
pub use process::Daemon;
pub use service::{Service, ServiceKind};

/// Where the daemon binary is: `VIPD_BIN` at run time, else the binary cargo built for this
/// integration test or bench, else `target/release/vipd` / `target/debug/vipd`.
pub fn vipd_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("VIPD_BIN") {
        return Some(PathBuf::from(path));
    }
    if let Some(path) = option_env!("CARGO_BIN_EXE_vipd") {
        return Some(PathBuf::from(path));
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    ["target/release/vipd", "target/debug/vipd"]
        .iter()
        .map(|p| workspace.join(p))
        .find(|p| p.exists())
}

/// One of the lab's L2 segments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Segment {
    /// `eth0` on every host, bridge `br0`: 192.0.2.0/24 and 2001:db8::/64. Carries VRRP.
    Main,
    /// `eth1` on every host, bridge `br1`: 198.51.100.0/24 and 2001:db8:1::/64.
    Second,
}

impl Segment {
    pub fn ifname(self) -> &'static str {
        match self {
            Segment::Main => "eth0",
            Segment::Second => "eth1",
        }
    }

    fn bridge(self) -> &'static str {
        match self {
            Segment::Main => "br0",
            Segment::Second => "br1",
        }
    }

    fn number(self) -> u8 {
        match self {
            Segment::Main => 0,
            Segment::Second => 1,
        }
    }

    fn host_ip4(self, host: u8) -> Ipv4Addr {
        match self {
            Segment::Main => Ipv4Addr::new(192, 0, 2, host),
            Segment::Second => Ipv4Addr::new(198, 51, 100, host),
        }
    }

    /// Host parts are written as decimal text in the last group (router 1 -> `::11`).
    fn host_ip6(self, host: u8) -> Ipv6Addr {
        let last = u16::from_str_radix(&host.to_string(), 16).expect("decimal digits are hex");
        Ipv6Addr::new(0x2001, 0xdb8, self.number() as u16, 0, 0, 0, 0, last)
    }

    /// 192.0.2.(10+i) / 198.51.100.(10+i).
    pub fn router_ip4(self, router: usize) -> Ipv4Addr {
        self.host_ip4(10 + router as u8)
    }

    /// 2001:db8::(10+i) / 2001:db8:1::(10+i).
    pub fn router_ip6(self, router: usize) -> Ipv6Addr {
        self.host_ip6(10 + router as u8)
    }

    pub fn client_ip4(self) -> Ipv4Addr {
        self.host_ip4(250)
    }

    pub fn client_ip6(self) -> Ipv6Addr {
        self.host_ip6(250)
    }

    /// The conventional VIP of this segment: .100 / ::100.
    pub fn vip4(self) -> Ipv4Addr {
        self.host_ip4(100)
    }

    pub fn vip6(self) -> Ipv6Addr {
        self.host_ip6(100)
    }

    /// Locally administered MAC of a router's interface on this segment, so a reply's
    /// source MAC tells which router answered.
    pub fn router_mac(self, router: usize) -> [u8; 6] {
        [0x02, 0x76, 0x74, 0x00, self.number(), router as u8]
    }

    /// `router_mac` as `ip` and tcpdump print it ("02:76:74:00:01:02").
    pub fn router_mac_text(self, router: usize) -> String {
        mac_text(self.router_mac(router))
    }

    pub fn client_mac(self) -> [u8; 6] {
        [0x02, 0x76, 0x74, 0x00, self.number(), 0xfa]
    }
}

fn mac_text(mac: [u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// What a command printed and whether it succeeded.
#[derive(Debug, Clone)]
pub struct Exec {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

/// Runs a program (not through a shell) and collects its output.
pub fn run(argv: &[&str]) -> Exec {
    match Command::new(argv[0]).args(&argv[1..]).output() {
        Ok(out) => Exec {
            success: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        },
        Err(e) => Exec {
            success: false,
            stdout: String::new(),
            stderr: format!("cannot run {}: {e}", argv[0]),
        },
    }
}

/// Runs a program and panics with its stderr unless it succeeds.
pub fn run_ok(argv: &[&str]) -> String {
    let out = run(argv);
    assert!(
        out.success,
        "command failed: {}\n{}{}",
        argv.join(" "),
        out.stdout,
        out.stderr
    );
    out.stdout
}

/// Polls `cond` every `poll` until it holds or `timeout` passes. Returns how long it took.
pub fn wait_until(
    timeout: Duration,
    poll: Duration,
    mut cond: impl FnMut() -> bool,
) -> Option<Duration> {
    let start = Instant::now();
    loop {
        if cond() {
            return Some(start.elapsed());
        }
        if start.elapsed() >= timeout {
            return None;
        }
        std::thread::sleep(poll);
    }
}

/// Names of all network namespaces on the machine (`ip netns list`).
pub fn netns_list() -> Vec<String> {
    run(&["ip", "netns", "list"])
        .stdout
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

/// Which lab to build.
#[derive(Clone, Debug)]
pub struct LabOptions {
    pub routers: usize,
    /// Adds segment `Second` (`eth1` on routers and client).
    pub second_segment: bool,
}

static LAB_COUNTER: AtomicU32 = AtomicU32::new(0);
static SPAWN_COUNTER: AtomicU32 = AtomicU32::new(0);

/// A set of namespaces forming one or two L2 segments; see the module docs.
pub struct Lab {
    test_name: String,
    prefix: String,
    routers: usize,
    segments: Vec<Segment>,
    switch_ns: String,
    client_ns: String,
    router_ns: Vec<String>,
    dir: PathBuf,
    created: Vec<String>,
}

impl Lab {
    /// A lab with `routers` routers on segment `Main` and a client.
    pub fn new(test_name: &str, routers: usize) -> Lab {
        Lab::with_options(
            test_name,
            LabOptions {
                routers,
                second_segment: false,
            },
        )
    }

    pub fn with_options(test_name: &str, options: LabOptions) -> Lab {
        assert!(
            (1..=20).contains(&options.routers),
            "a lab has 1..=20 routers"
        );
        let counter = LAB_COUNTER.fetch_add(1, Ordering::SeqCst);
        // "vt" + pid in hex (<= 6) + "n" + counter: with "r20" at most 15 characters.
        let prefix = format!("vt{:x}n{}", std::process::id(), counter % 1000);
        let dir = std::env::temp_dir().join("vipd-lab").join(&prefix);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create lab temp dir");
        let mut segments = vec![Segment::Main];
        if options.second_segment {
            segments.push(Segment::Second);
        }
        let mut lab = Lab {
            test_name: test_name.to_owned(),
            switch_ns: format!("{prefix}s"),
            client_ns: format!("{prefix}c"),
            router_ns: (1..=options.routers)
                .map(|i| format!("{prefix}r{i}"))
                .collect(),
            prefix,
            routers: options.routers,
            segments,
            dir,
            created: Vec::new(),
        };
        // Drop cleans up whatever was created if setup panics half way.
        lab.build();
        lab
    }

    fn build(&mut self) {
        let mut all = vec![self.switch_ns.clone(), self.client_ns.clone()];
        all.extend(self.router_ns.iter().cloned());
        for ns in &all {
            run_ok(&["ip", "netns", "add", ns]);
            self.created.push(ns.clone());
        }
        // The switch is a pure L2 box: no IPv6 on its ports, so it never talks itself.
        self.sysctls(
            &self.switch_ns,
            &[
                ("net.ipv6.conf.all.disable_ipv6", "1"),
                ("net.ipv6.conf.default.disable_ipv6", "1"),
            ],
        );
        let host_sysctls = [
            ("net.ipv6.conf.all.accept_dad", "0"),
            ("net.ipv6.conf.default.accept_dad", "0"),
            ("net.ipv6.conf.all.keep_addr_on_down", "1"),
            ("net.ipv6.conf.default.keep_addr_on_down", "1"),
            ("net.ipv6.conf.default.router_solicitations", "0"),
        ];
        for ns in all.iter().skip(1) {
            self.sysctls(ns, &host_sysctls);
        }
        for ns in &all {
            run_ok(&["ip", "-n", ns, "link", "set", "lo", "up"]);
        }
        for segment in self.segments.clone() {
            let bridge = segment.bridge();
            let sw = &self.switch_ns;
            run_ok(&[
                "ip",
                "-n",
                sw,
                "link",
                "add",
                bridge,
                "type",
                "bridge",
                "mcast_snooping",
                "0",
                "stp_state",
                "0",
                "forward_delay",
                "0",
            ]);
            run_ok(&["ip", "-n", sw, "link", "set", bridge, "up"]);
            for router in 1..=self.routers {
                let ns = self.router_ns(router).to_owned();
                self.attach(
                    segment,
                    &self.switch_port(router, segment),
                    &ns,
                    segment.router_mac(router),
                    &[
                        format!("{}/24", segment.router_ip4(router)),
                        format!("{}/64", segment.router_ip6(router)),
                    ],
                );
            }
            let client = self.client_ns.clone();
            self.attach(
                segment,
                &format!("c{}", segment.number()),
                &client,
                segment.client_mac(),
                &[
                    format!("{}/24", segment.client_ip4()),
                    format!("{}/64", segment.client_ip6()),
                ],
            );
        }
        self.wait_forwarding();
    }

    /// Waits until every host interface is operationally up and every switch port
    /// forwards. The kernel settles both asynchronously (link watch), on a loaded machine
    /// long enough for a segment just built to lose its first frames: a client's ARP
    /// request (retried a second later), two daemons' first adverts (both master).
    fn wait_forwarding(&self) {
        let mut hosts: Vec<(String, &str)> = Vec::new();
        let mut ports = Vec::new();
        for segment in &self.segments {
            for router in 1..=self.routers {
                hosts.push((self.router_ns(router).to_owned(), segment.ifname()));
                ports.push(self.switch_port(router, *segment));
            }
            hosts.push((self.client_ns.clone(), segment.ifname()));
            ports.push(format!("c{}", segment.number()));
        }
        let ready = || {
            let bridge = run(&["bridge", "-n", &self.switch_ns, "link", "show"]).stdout;
            let forwarding = ports.iter().all(|port| {
                (bridge.lines())
                    .any(|l| l.contains(&format!(": {port}@")) && l.contains("state forwarding"))
            });
            forwarding
                && hosts.iter().all(|(ns, ifname)| {
                    let out = run(&["ip", "-n", ns, "-br", "link", "show", "dev", ifname]);
                    out.stdout.split_whitespace().nth(1) == Some("UP")
                })
        };
        let settled = wait_until(Duration::from_secs(10), Duration::from_millis(10), ready);
        assert!(
            settled.is_some(),
            "lab {}: the segment does not forward after 10 s:\n{}",
            self.prefix,
            run(&["bridge", "-n", &self.switch_ns, "link", "show"]).stdout
        );
    }

    fn sysctls(&self, ns: &str, settings: &[(&str, &str)]) {
        let mut argv = vec!["ip", "netns", "exec", ns, "sysctl", "-q", "-w"];
        let pairs: Vec<String> = settings.iter().map(|(k, v)| format!("{k}={v}")).collect();
        argv.extend(pairs.iter().map(String::as_str));
        run_ok(&argv);
    }

    fn attach(&self, segment: Segment, port: &str, ns: &str, mac: [u8; 6], addrs: &[String]) {
        let sw = &self.switch_ns;
        let ifname = segment.ifname();
        let mac = mac_text(mac);
        run_ok(&[
            "ip", "-n", sw, "link", "add", port, "type", "veth", "peer", "name", ifname, "netns",
            ns, "address", &mac,
        ]);
        run_ok(&[
            "ip",
            "-n",
            sw,
            "link",
            "set",
            port,
            "master",
            segment.bridge(),
            "up",
        ]);
        self.sysctls(
            ns,
            &[
                (&format!("net.ipv6.conf.{ifname}.accept_dad"), "0"),
                (&format!("net.ipv6.conf.{ifname}.keep_addr_on_down"), "1"),
            ],
        );
        for addr in addrs {
            run_ok(&["ip", "-n", ns, "addr", "add", addr, "dev", ifname]);
        }
        run_ok(&["ip", "-n", ns, "link", "set", ifname, "up"]);
    }

    fn switch_port(&self, router: usize, segment: Segment) -> String {
        format!("r{router}s{}", segment.number())
    }

    pub fn test_name(&self) -> &str {
        &self.test_name
    }

    /// Unique prefix of every namespace of this lab.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn routers(&self) -> usize {
        self.routers
    }

    /// Router indices, 1-based as in the namespace names.
    pub fn router_indices(&self) -> std::ops::RangeInclusive<usize> {
        1..=self.routers
    }

    pub fn router_ns(&self, router: usize) -> &str {
        assert!(
            (1..=self.routers).contains(&router),
            "router {router} is not in this lab (1..={})",
            self.routers
        );
        &self.router_ns[router - 1]
    }

    pub fn client_ns(&self) -> &str {
        &self.client_ns
    }

    pub fn switch_ns(&self) -> &str {
        &self.switch_ns
    }

    /// Every namespace this lab created.
    pub fn namespaces(&self) -> Vec<String> {
        self.created.clone()
    }

    /// Per-lab temp dir for configs, pid files and logs.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Which router owns this MAC (as set on its interfaces).
    pub fn router_of_mac(&self, mac: [u8; 6]) -> Option<usize> {
        self.router_indices()
            .find(|&r| self.segments.iter().any(|s| s.router_mac(r) == mac))
    }

    /// Runs `cmd` with `sh -c` inside namespace `ns`.
    pub fn exec(&self, ns: &str, cmd: &str) -> Exec {
        run(&["ip", "netns", "exec", ns, "sh", "-c", cmd])
    }

    /// Like `exec` but panics unless the command succeeds; returns stdout.
    pub fn exec_ok(&self, ns: &str, cmd: &str) -> String {
        let out = self.exec(ns, cmd);
        assert!(
            out.success,
            "in {ns}: {cmd} failed\n{}{}",
            out.stdout, out.stderr
        );
        out.stdout
    }

    /// Admin-down of the router's own `eth0`: the router sees its link go down.
    pub fn link_down(&self, router: usize) {
        self.set_link(router, Segment::Main, "down");
    }

    pub fn link_up(&self, router: usize) {
        self.set_link(router, Segment::Main, "up");
    }

    /// Admin-down/up of the router's interface on `segment`.
    pub fn set_link(&self, router: usize, segment: Segment, state: &str) {
        run_ok(&[
            "ip",
            "-n",
            self.router_ns(router),
            "link",
            "set",
            segment.ifname(),
            state,
        ]);
    }

    /// Deletes the router's interface on `segment` (both ends of the veth go).
    pub fn delete_interface(&self, router: usize, segment: Segment) {
        run_ok(&[
            "ip",
            "-n",
            self.router_ns(router),
            "link",
            "del",
            segment.ifname(),
        ]);
    }

    /// Creates the router's interface on `segment` again as the lab built it: same name,
    /// MAC and addresses, a new ifindex.
    pub fn recreate_interface(&self, router: usize, segment: Segment) {
        let ns = self.router_ns(router).to_owned();
        self.attach(
            segment,
            &self.switch_port(router, segment),
            &ns,
            segment.router_mac(router),
            &[
                format!("{}/24", segment.router_ip4(router)),
                format!("{}/64", segment.router_ip6(router)),
            ],
        );
    }

    /// Cuts the router off segment `Main` at the switch without it noticing: its link stays
    /// up (carrier on), but no frame passes either way. Split brain on demand.
    pub fn partition(&self, router: usize) {
        let port = self.switch_port(router, Segment::Main);
        run_ok(&[
            "ip",
            "-n",
            &self.switch_ns,
            "link",
            "set",
            &port,
            "nomaster",
        ]);
    }

    /// Undoes `partition`.
    pub fn heal(&self, router: usize) {
        let port = self.switch_port(router, Segment::Main);
        run_ok(&[
            "ip",
            "-n",
            &self.switch_ns,
            "link",
            "set",
            &port,
            "master",
            "br0",
        ]);
    }

    /// Addresses configured on `ifname` of `router` (including link-local).
    pub fn addresses(&self, router: usize, ifname: &str) -> Vec<IpAddr> {
        addresses_in(self.router_ns(router), Some(ifname))
    }

    /// Routers (1-based) that have `vip` configured on any interface.
    pub fn holders(&self, vip: IpAddr) -> Vec<usize> {
        self.router_indices()
            .filter(|&r| addresses_in(self.router_ns(r), None).contains(&vip))
            .collect()
    }

    /// Waits until exactly `router` holds `vip`; returns how long that took.
    pub fn wait_sole_holder(
        &self,
        vip: IpAddr,
        router: usize,
        timeout: Duration,
    ) -> Option<Duration> {
        wait_until(timeout, Duration::from_millis(5), || {
            self.holders(vip) == [router]
        })
    }

    /// One ICMP echo from the client; true if answered within a second.
    pub fn client_ping(&self, target: IpAddr) -> bool {
        let target = target.to_string();
        run(&[
            "ip",
            "netns",
            "exec",
            &self.client_ns,
            "ping",
            "-c",
            "1",
            "-W",
            "1",
            &target,
        ])
        .success
    }

    /// Starts a keepalived (VRRP only) in `router` with this configuration text.
    pub fn spawn_keepalived(&self, router: usize, conf: &str) -> Daemon {
        let tag = self.unique_tag(router, "keepalived");
        let conf_path = self.dir.join(format!("{tag}.conf"));
        std::fs::write(&conf_path, conf).expect("write keepalived.conf");
        let pid = self.dir.join(format!("{tag}.pid"));
        let vrrp_pid = self.dir.join(format!("{tag}.vrrp.pid"));
        // Every child's pid file of its own: a keepalived running a file with a
        // `bfd_instance` elsewhere on the machine otherwise makes this one stop at once with
        // "daemon is already running" (corpus run).
        let checkers_pid = self.dir.join(format!("{tag}.checkers.pid"));
        let bfd_pid = self.dir.join(format!("{tag}.bfd.pid"));
        let argv = [
            "keepalived",
            "-n",
            "-l",
            "-D",
            "-P",
            "-f",
            conf_path.to_str().expect("utf-8 path"),
            "-p",
            pid.to_str().expect("utf-8 path"),
            "-r",
            vrrp_pid.to_str().expect("utf-8 path"),
            "-c",
            checkers_pid.to_str().expect("utf-8 path"),
            "-b",
            bfd_pid.to_str().expect("utf-8 path"),
        ];
        let mut daemon = self.spawn_tagged(router, &tag, &argv, &[]);
        daemon.conf_path = Some(conf_path);
        daemon
    }

    /// Starts `vipd run -c CONF --socket SOCK` in `router` (binary from `vipd_binary()`).
    pub fn spawn_vipd(&self, router: usize, conf: &str) -> Daemon {
        self.spawn_vipd_with(router, conf, "conf")
    }

    /// Like `spawn_vipd` with a native `vipd.toml` configuration.
    pub fn spawn_vipd_toml(&self, router: usize, conf: &str) -> Daemon {
        self.spawn_vipd_with(router, conf, "toml")
    }

    fn spawn_vipd_with(&self, router: usize, conf: &str, extension: &str) -> Daemon {
        let binary = vipd_binary().expect("vipd binary not found (set VIPD_BIN)");
        self.spawn_vipd_binary_with(&binary, router, conf, extension, &[], &[])
    }

    /// Like `spawn_vipd` (keepalived.conf) with more `vipd run` arguments and environment.
    pub fn spawn_vipd_args(
        &self,
        router: usize,
        conf: &str,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Daemon {
        let binary = vipd_binary().expect("vipd binary not found (set VIPD_BIN)");
        self.spawn_vipd_binary_with(&binary, router, conf, "conf", args, env)
    }

    /// Like `spawn_vipd` with an explicit binary.
    pub fn spawn_vipd_binary(&self, binary: &Path, router: usize, conf: &str) -> Daemon {
        self.spawn_vipd_binary_with(binary, router, conf, "conf", &[], &[])
    }

    fn spawn_vipd_binary_with(
        &self,
        binary: &Path,
        router: usize,
        conf: &str,
        extension: &str,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Daemon {
        let tag = self.unique_tag(router, "vipd");
        let conf_path = self.dir.join(format!("{tag}.{extension}"));
        std::fs::write(&conf_path, conf).expect("write vipd config");
        let socket = self.dir.join(format!("{tag}.sock"));
        let state_dir = self.state_dir(router);
        let mut argv = vec![
            binary.to_str().expect("utf-8 path"),
            "run",
            "-c",
            conf_path.to_str().expect("utf-8 path"),
            "--socket",
            socket.to_str().expect("utf-8 path"),
            "--state-dir",
            state_dir.to_str().expect("utf-8 path"),
        ];
        argv.extend_from_slice(args);
        let mut environment = vec![("VIPD_LOG", "debug")];
        environment.extend_from_slice(env);
        let mut daemon = self.spawn_tagged(router, &tag, &argv, &environment);
        daemon.conf_path = Some(conf_path);
        daemon.socket_path = Some(socket);
        daemon
    }

    /// Starts vipd in `router` through keepalived's command line: `keepalived ARGS -f CONF -p
    /// PID -r VRRP_PID --socket=SOCK --state-dir=DIR`, as a symlink called `keepalived` to the
    /// vipd binary when `symlink`, else as `vipd keepalived ...`. Both pid files are unique to
    /// this daemon (keepalived's defaults, /run/keepalived.pid and /run/vrrp.pid, would make
    /// every other daemon started with them refuse to start): its `conf_path` with the
    /// extensions `pid` and `vrrp.pid`.
    pub fn spawn_vipd_keepalived(
        &self,
        router: usize,
        conf: &str,
        args: &[&str],
        env: &[(&str, &str)],
        symlink: bool,
    ) -> Daemon {
        let binary = vipd_binary().expect("vipd binary not found (set VIPD_BIN)");
        let tag = self.unique_tag(router, "vipd-ka");
        let conf_path = self.dir.join(format!("{tag}.conf"));
        std::fs::write(&conf_path, conf).expect("write keepalived.conf");
        let socket = self.dir.join(format!("{tag}.sock"));
        let pid = self.dir.join(format!("{tag}.pid"));
        let vrrp_pid = self.dir.join(format!("{tag}.vrrp.pid"));
        let link = self.dir.join(format!("{tag}-bin")).join("keepalived");
        let mut argv: Vec<String> = if symlink {
            std::fs::create_dir_all(link.parent().expect("parent")).expect("create bin dir");
            std::os::unix::fs::symlink(&binary, &link).expect("symlink keepalived -> vipd");
            vec![link.display().to_string()]
        } else {
            vec![binary.display().to_string(), "keepalived".to_string()]
        };
        argv.extend(args.iter().map(|a| a.to_string()));
        argv.extend([
            "-f".to_string(),
            conf_path.display().to_string(),
            "-p".to_string(),
            pid.display().to_string(),
            "-r".to_string(),
            vrrp_pid.display().to_string(),
            format!("--socket={}", socket.display()),
            format!("--state-dir={}", self.state_dir(router).display()),
        ]);
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let mut environment = vec![("VIPD_LOG", "debug")];
        environment.extend_from_slice(env);
        let mut daemon = self.spawn_tagged(router, &tag, &argv, &environment);
        daemon.conf_path = Some(conf_path);
        daemon.socket_path = Some(socket);
        daemon
    }

    /// vipd's state directory (drains) of `router`: one per router, kept across restarts of
    /// its vipd like /var/lib/vipd on a node.
    pub fn state_dir(&self, router: usize) -> PathBuf {
        self.dir.join(format!("r{router}-state"))
    }

    /// Starts any program in `router`; stdout and stderr go to a log in the lab dir.
    pub fn spawn(&self, router: usize, argv: &[&str], env: &[(&str, &str)]) -> Daemon {
        let program = Path::new(argv[0])
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("proc")
            .to_owned();
        let tag = self.unique_tag(router, &program);
        self.spawn_tagged(router, &tag, argv, env)
    }

    /// Like `spawn`, in any namespace of the lab (e.g. the client).
    pub fn spawn_in(&self, ns: &str, argv: &[&str], env: &[(&str, &str)]) -> Daemon {
        let program = Path::new(argv[0])
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("proc")
            .to_owned();
        let tag = format!(
            "{ns}-{program}-{}",
            SPAWN_COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        process::spawn_in_ns(ns, 0, &tag, &self.dir, argv, env)
    }

    fn spawn_tagged(
        &self,
        router: usize,
        tag: &str,
        argv: &[&str],
        env: &[(&str, &str)],
    ) -> Daemon {
        process::spawn_in_ns(self.router_ns(router), router, tag, &self.dir, argv, env)
    }

    fn unique_tag(&self, router: usize, program: &str) -> String {
        let n = SPAWN_COUNTER.fetch_add(1, Ordering::SeqCst);
        format!("r{router}-{program}-{n}")
    }

    /// Writes an executable (0755) script into the lab dir, which is root-owned and not
    /// writable by others, so vipd's and keepalived's script security accept it.
    pub fn write_script(&self, name: &str, body: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = self.dir.join(name);
        std::fs::write(&path, body).expect("write script");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
            .expect("chmod script");
        path
    }

    /// A directory everyone may write to (sticky, like /tmp), for files that scripts
    /// running as `nobody` create.
    pub fn shared_dir(&self, name: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = self.dir.join(name);
        std::fs::create_dir_all(&path).expect("create shared dir");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o1777))
            .expect("chmod shared dir");
        path
    }

    /// Starts a TCP/HTTP/HTTPS service on 127.0.0.1:`port` inside `router`.
    pub fn service(&self, router: usize, kind: ServiceKind, port: u16) -> Service {
        Service::start(self.router_ns(router), kind, port)
    }

    /// Starts `tcpdump -v -n -l -i IFNAME FILTER` in namespace `ns`.
    pub fn capture(&self, ns: &str, ifname: &str, filter: &str) -> Capture {
        Capture::start(ns, ifname, filter, &self.dir)
    }

    /// Client outage meter pinging `targets` every `period`; see `OutageMeter`.
    pub fn outage_meter(&self, targets: &[IpAddr], period: Duration) -> OutageMeter {
        OutageMeter::start(self, targets, period)
    }

    fn dump_state(&self) {
        eprintln!(
            "=== lab {} ({}) state at failure ===",
            self.test_name, self.prefix
        );
        for r in self.router_indices() {
            let out = run(&["ip", "-n", self.router_ns(r), "-br", "addr"]);
            eprintln!("--- r{r} addresses\n{}", out.stdout);
        }
        eprintln!("lab files kept in {}", self.dir.display());
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let panicking = std::thread::panicking();
        if panicking {
            self.dump_state();
        }
        // Kill anything still running inside our namespaces (daemons, tcpdump, leaks).
        for ns in &self.created {
            for pid in run(&["ip", "netns", "pids", ns]).stdout.split_whitespace() {
                if let Ok(pid) = pid.parse::<i32>() {
                    procfs::kill_tree(pid);
                }
            }
        }
        for ns in &self.created {
            let _ = run(&["ip", "netns", "del", ns]);
        }
        if !panicking {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// `vipd status --socket SOCK --json` of a daemon started with `Lab::spawn_vipd`; None while
/// it does not answer (still starting, or gone).
pub fn vipd_status(daemon: &Daemon) -> Option<vipd::control::StatusReport> {
    let binary = vipd_binary()?;
    let socket = daemon.socket_path.as_ref()?;
    let out = run(&[
        binary.to_str()?,
        "status",
        "--socket",
        socket.to_str()?,
        "--json",
    ]);
    if !out.success {
        return None;
    }
    serde_json::from_str(&out.stdout).ok()
}

/// Parses `ip -o addr show [dev IF]` in `ns`.
fn addresses_in(ns: &str, ifname: Option<&str>) -> Vec<IpAddr> {
    let mut argv = vec!["ip", "-n", ns, "-o", "addr", "show"];
    if let Some(ifname) = ifname {
        argv.extend(["dev", ifname]);
    }
    let out = run(&argv);
    out.stdout
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            words.find(|w| *w == "inet" || *w == "inet6")?;
            let cidr = words.next()?;
            cidr.split('/').next()?.parse().ok()
        })
        .collect()
}
