//! What the `lab_vipd_*` tests share: vipd configs, start-up, `vipd status --json`, and a
//! third host that injects hand-made adverts into the segment.
#![allow(dead_code)]

use std::fs::File;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::time::Duration;

use nix::sched::{setns, CloneFlags};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use vipd::control::{InstanceStatus, StatusReport};

use crate::lab::keepalived_conf::{KeepalivedConf, VrrpInstance};
use crate::lab::{run, vipd_binary, wait_until, Daemon, Lab, Segment};

mod variant;
#[allow(unused_imports)] // not every lab uses it
pub use variant::Variant;

/// Advert interval of the v3 tests.
pub const ADVERT: Duration = Duration::from_millis(100);
/// Generous bound for anything that takes a few advert intervals (loaded 2-core CI: two lab
/// streams of 4 threads each share 2 cores). Waits on it end as soon as the outcome holds.
pub const SETTLE: Duration = Duration::from_secs(10);

pub fn vip4() -> IpAddr {
    Segment::Main.vip4().into()
}

pub fn vip6() -> IpAddr {
    Segment::Main.vip6().into()
}

pub fn router_ip4(router: usize) -> IpAddr {
    Segment::Main.router_ip4(router).into()
}

/// The address family of a one-instance v3 lab: VIP 192.0.2.100/24 on VRID 51 or
/// 2001:db8::100/64 on VRID 52.
#[derive(Clone, Copy)]
pub enum VipFamily {
    V4,
    V6,
}

impl VipFamily {
    pub fn vip(self) -> IpAddr {
        match self {
            VipFamily::V4 => vip4(),
            VipFamily::V6 => vip6(),
        }
    }

    /// `VI_1` on eth0 with this family's VRID and VIP, v3, `priority`, adverts every `advert`.
    pub fn instance(self, priority: u8, advert: Duration) -> VrrpInstance {
        let instance = match self {
            VipFamily::V4 => VrrpInstance::new("VI_1", "eth0", 51).vip("192.0.2.100/24"),
            VipFamily::V6 => VrrpInstance::new("VI_1", "eth0", 52).vip("2001:db8::100/64"),
        };
        instance.priority(priority).version(3).advert(advert)
    }
}

/// One v3 instance `VI_1`, VRID 51, 100 ms, VIP 192.0.2.100/24.
pub fn v3_ipv4(priority: u8) -> VrrpInstance {
    VrrpInstance::new("VI_1", "eth0", 51)
        .priority(priority)
        .version(3)
        .advert(ADVERT)
        .vip("192.0.2.100/24")
}

/// One v3 instance `VI_6`, VRID 52, 100 ms, VIP 2001:db8::100/64.
pub fn v3_ipv6(priority: u8) -> VrrpInstance {
    VrrpInstance::new("VI_6", "eth0", 52)
        .priority(priority)
        .version(3)
        .advert(ADVERT)
        .vip("2001:db8::100/64")
}

/// [`v3_ipv4`] with unicast adverts between the global addresses of r1 and r2 (`router` is
/// one of them).
pub fn unicast_v4(router: usize, priority: u8) -> VrrpInstance {
    let ip = |router| Segment::Main.router_ip4(router).to_string();
    v3_ipv4(priority).unicast(&ip(router), &[&ip(3 - router)])
}

/// [`v3_ipv6`] with unicast adverts between the global addresses of r1 and r2.
pub fn unicast_v6(router: usize, priority: u8) -> VrrpInstance {
    let ip = |router| Segment::Main.router_ip6(router).to_string();
    v3_ipv6(priority).unicast(&ip(router), &[&ip(3 - router)])
}

/// vipd in r1 (priority 150) and r2 (100) with the instances `instances(router, priority)`
/// makes, a VIP of each on the main segment: r1 elected for all, r2 their settled backup
/// (3 adverts heard of each).
pub fn settled_pair(
    lab: &Lab,
    instances: impl Fn(usize, u8) -> Vec<VrrpInstance>,
) -> (Daemon, Daemon) {
    let r1 = start_vipd(lab, 1, &conf(1, &instances(1, 150)));
    let r2 = start_vipd(lab, 2, &conf(2, &instances(2, 100)));
    let backups = instances(2, 100);
    for vip in backups.iter().flat_map(|i| &i.vips) {
        let address = vip.split('/').next().and_then(|a| a.parse().ok());
        let address = address.unwrap_or_else(|| panic!("VIP {vip}"));
        expect_sole_holder(lab, address, 1, SETTLE, &format!("election of {vip}"));
    }
    for backup in &backups {
        wait_instance(&r2, &backup.name, SETTLE, "settled backup", |i| {
            i.state == "BACKUP" && i.adverts_received >= 3
        });
    }
    (r1, r2)
}

/// The link-local address of `router`'s eth0.
pub fn link_local(lab: &Lab, router: usize) -> Ipv6Addr {
    let out = lab.exec_ok(
        lab.router_ns(router),
        "ip -o -6 addr show dev eth0 scope link",
    );
    out.split_whitespace()
        .skip_while(|w| *w != "inet6")
        .nth(1)
        .and_then(|cidr| cidr.split('/').next())
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no link-local address on r{router}: {out}"))
}

/// Every instance of `daemon`: (name, state, transitions).
pub fn states(daemon: &Daemon) -> Vec<(String, String, u64)> {
    status(daemon)
        .instances
        .into_iter()
        .map(|i| (i.name, i.state, i.transitions))
        .collect()
}

/// One v2 instance `VI_2`, VRID 61, 1 s, PASS `secret`, VIP 192.0.2.101/24.
pub fn v2_pass(priority: u8) -> VrrpInstance {
    VrrpInstance::new("VI_2", "eth0", 61)
        .priority(priority)
        .version(2)
        .advert(Duration::from_secs(1))
        .auth_pass("secret")
        .vip("192.0.2.101/24")
}

/// keepalived.conf text with these instances (vipd reads it as it is).
pub fn conf(router: usize, instances: &[VrrpInstance]) -> String {
    instances
        .iter()
        .fold(KeepalivedConf::new(&format!("r{router}")), |c, i| {
            c.instance(i.clone())
        })
        .render()
}

/// keepalived 2.2.7 in `router` with one v3 instance `VI_3` on eth0 (VRID `vrid`, VIP
/// `vip`/24, adverts every `interval`, priority `priority`).
pub fn spawn_keepalived_v3(
    lab: &Lab,
    router: usize,
    vrid: u8,
    vip: &str,
    interval: Duration,
    priority: u8,
) -> Daemon {
    let instance = VrrpInstance::new("VI_3", "eth0", vrid)
        .priority(priority)
        .version(3)
        .advert(interval)
        .vip(&format!("{vip}/24"));
    lab.spawn_keepalived(router, &conf(router, &[instance]))
}

/// Starts vipd in `router` and waits until it is serving its control socket.
pub fn start_vipd(lab: &Lab, router: usize, conf: &str) -> Daemon {
    wait_started(lab.spawn_vipd(router, conf), router)
}

/// Like [`start_vipd`] with more `vipd run` arguments and environment.
pub fn start_vipd_args(
    lab: &Lab,
    router: usize,
    conf: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> Daemon {
    wait_started(lab.spawn_vipd_args(router, conf, args, env), router)
}

/// Waits until `daemon`, a vipd just spawned in `router`, serves its control socket;
/// panics with its log when it does not.
pub fn wait_started(mut daemon: Daemon, router: usize) -> Daemon {
    let started = wait_until(SETTLE, Duration::from_millis(10), || {
        daemon.log().contains("started with") || !daemon.is_running()
    });
    assert!(
        started.is_some() && daemon.is_running(),
        "vipd in r{router} did not start:\n{}",
        daemon.log()
    );
    daemon
}

/// Starts vipd in `router` on the native TOML that `vipd import-keepalived` makes of
/// `keepalived_conf`.
pub fn start_vipd_toml(lab: &Lab, router: usize, keepalived_conf: &str) -> Daemon {
    let n = TOML_COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let source = lab.dir().join(format!("r{router}-import-{n}.conf"));
    std::fs::write(&source, keepalived_conf).expect("write keepalived.conf");
    let out = vipd_cli(&["import-keepalived", source.to_str().expect("utf-8 path")]);
    assert!(out.success, "import-keepalived failed:\n{}", out.stderr);
    let conf_path = lab.dir().join(format!("r{router}-native-{n}.toml"));
    std::fs::write(&conf_path, &out.stdout).expect("write vipd.toml");
    let socket = lab.dir().join(format!("r{router}-native-{n}.sock"));
    run_vipd(lab, router, conf_path, socket, &[])
}

/// `vipd run -c CONF --socket SOCKET --state-dir` (the router's) in `router`, with `env`,
/// once it serves its control socket.
fn run_vipd(
    lab: &Lab,
    router: usize,
    conf_path: std::path::PathBuf,
    socket: std::path::PathBuf,
    env: &[(&str, &str)],
) -> Daemon {
    let binary = vipd_binary().expect("vipd binary");
    let state_dir = lab.state_dir(router);
    let mut daemon = lab.spawn(
        router,
        &[
            binary.to_str().expect("utf-8 path"),
            "run",
            "-c",
            conf_path.to_str().expect("utf-8 path"),
            "--socket",
            socket.to_str().expect("utf-8 path"),
            "--state-dir",
            state_dir.to_str().expect("utf-8 path"),
        ],
        env,
    );
    daemon.conf_path = Some(conf_path);
    daemon.socket_path = Some(socket);
    wait_started(daemon, router)
}

/// Stops `daemon` (a vipd of `router`) and starts it again as a node restarts it: the same
/// configuration file, control socket and state directory (state files are named after the
/// socket).
pub fn restart_vipd(lab: &Lab, router: usize, mut daemon: Daemon) -> Daemon {
    let status = daemon.stop();
    assert!(status.success(), "{}", daemon.log());
    let conf_path = daemon.conf_path.clone().expect("a vipd with a config file");
    let socket = daemon
        .socket_path
        .clone()
        .expect("a vipd with a control socket");
    run_vipd(lab, router, conf_path, socket, &[("VIPD_LOG", "debug")])
}

static TOML_COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// Rewrites the daemon's configuration file (for a later SIGHUP).
pub fn rewrite_conf(daemon: &Daemon, conf: &str) {
    let path = daemon.conf_path.as_ref().expect("daemon has a config file");
    std::fs::write(path, conf).expect("rewrite config");
}

/// `vipd status --socket SOCK ARGS...`.
pub fn vipd_cli(args: &[&str]) -> crate::lab::Exec {
    let binary = vipd_binary().expect("vipd binary");
    let mut argv = vec![binary.to_str().expect("utf-8 path")];
    argv.extend_from_slice(args);
    run(&argv)
}

/// The daemon's status as `vipd status --json` prints it.
pub fn status(daemon: &Daemon) -> StatusReport {
    let socket = daemon
        .socket_path
        .as_ref()
        .expect("vipd daemon has a socket");
    let out = vipd_cli(&[
        "status",
        "--socket",
        socket.to_str().expect("utf-8 path"),
        "--json",
    ]);
    assert!(
        out.success,
        "vipd status failed for {}:\n{}{}",
        daemon.name, out.stdout, out.stderr
    );
    serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("vipd status --json is not a report ({e}):\n{}", out.stdout))
}

/// One instance of the daemon's status, by name.
pub fn instance(daemon: &Daemon, name: &str) -> InstanceStatus {
    let report = status(daemon);
    report
        .instances
        .iter()
        .find(|i| i.name == name)
        .cloned()
        .unwrap_or_else(|| panic!("{}: no instance {name} in {report:#?}", daemon.name))
}

/// Waits until instance `name` satisfies `cond`; panics with the last status otherwise.
pub fn wait_instance(
    daemon: &Daemon,
    name: &str,
    timeout: Duration,
    what: &str,
    mut cond: impl FnMut(&InstanceStatus) -> bool,
) -> InstanceStatus {
    let mut last = None;
    let ok = wait_until(timeout, Duration::from_millis(20), || {
        let i = instance(daemon, name);
        let done = cond(&i);
        last = Some(i);
        done
    });
    let last = last.expect("polled at least once");
    assert!(
        ok.is_some(),
        "{}: {name} never became {what}; last status {last:#?}",
        daemon.name
    );
    last
}

pub fn wait_state(daemon: &Daemon, name: &str, state: &str) -> InstanceStatus {
    wait_instance(daemon, name, SETTLE, state, |i| i.state == state)
}

/// Panics unless `router` alone holds `vip` within `timeout`; how long it took.
pub fn expect_sole_holder(
    lab: &Lab,
    vip: IpAddr,
    router: usize,
    timeout: Duration,
    why: &str,
) -> Duration {
    lab.wait_sole_holder(vip, router, timeout)
        .unwrap_or_else(|| {
            panic!(
                "{why}: r{router} should be the only holder of {vip}, holders are {:?}",
                lab.holders(vip)
            )
        })
}

/// Polls `vipd status` until `cond` holds within `timeout` and returns that report; panics
/// with the last report and the daemon's log otherwise.
pub fn expect_status(
    daemon: &Daemon,
    timeout: Duration,
    why: &str,
    mut cond: impl FnMut(&StatusReport) -> bool,
) -> StatusReport {
    let mut last = None;
    let found = wait_until(
        timeout,
        Duration::from_millis(25),
        || match crate::lab::vipd_status(daemon) {
            Some(report) => {
                let ok = cond(&report);
                last = Some(report);
                ok
            }
            None => false,
        },
    );
    match (found, last) {
        (Some(_), Some(report)) => report,
        (_, last) => panic!(
            "{why}: status never matched; last status: {last:#?}\n{}",
            daemon.log()
        ),
    }
}

/// Asserts that `vip` stays held by exactly `router` for `duration` (sampled).
pub fn expect_stays_sole_holder(lab: &Lab, vip: IpAddr, router: usize, duration: Duration) {
    let start = std::time::Instant::now();
    while start.elapsed() < duration {
        let holders = lab.holders(vip);
        if start.elapsed() > duration {
            // Read after the window (a loaded machine is slow to run `ip`): it says nothing
            // about the window, and the holder may rightly change right after it.
            break;
        }
        assert_eq!(
            holders,
            [router],
            "{vip} should stay with r{router} only ({:?} in)",
            start.elapsed()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The client's neighbour entry for `vip` (its MAC), after a ping made sure it exists.
pub fn client_neighbour_mac(lab: &Lab, vip: IpAddr) -> Option<String> {
    let out = lab.exec(lab.client_ns(), &format!("ip neigh show {vip} dev eth0"));
    out.stdout
        .split_whitespace()
        .skip_while(|w| *w != "lladdr")
        .nth(1)
        .map(str::to_string)
}

/// Pings until answered (a failover may be under way), then returns the neighbour entry.
pub fn reach_and_read_neighbour(lab: &Lab, vip: IpAddr) -> String {
    let answered = wait_until(SETTLE, Duration::from_millis(50), || lab.client_ping(vip));
    assert!(answered.is_some(), "the client cannot reach {vip}");
    client_neighbour_mac(lab, vip).unwrap_or_else(|| panic!("no neighbour entry for {vip}"))
}

/// An IPv4 datagram with protocol 112 for a raw `IP_HDRINCL` send: header written here
/// (the kernel fills in the total length and header checksum), any source, any TTL.
pub fn ipv4_datagram(src: Ipv4Addr, dst: Ipv4Addr, ttl: u8, payload: &[u8]) -> Vec<u8> {
    let total = u16::try_from(20 + payload.len()).expect("small datagram");
    let mut d = vec![0x45, 0xc0];
    d.extend_from_slice(&total.to_be_bytes());
    d.extend_from_slice(&[0, 0, 0, 0, ttl, 112, 0, 0]);
    d.extend_from_slice(&src.octets());
    d.extend_from_slice(&dst.octets());
    d.extend_from_slice(payload);
    d
}

/// Sends IP payloads with protocol 112 from the lab's client, as a third host on the
/// segment would. IPv4 datagrams get a header written here (TTL as given, source the
/// client's address); the kernel fills in total length and header checksum.
pub fn inject_ipv4(lab: &Lab, dst: Ipv4Addr, ttl: u8, payloads: &[Vec<u8>]) {
    let src = Segment::Main.client_ip4();
    let datagrams: Vec<Vec<u8>> = payloads
        .iter()
        .map(|payload| ipv4_datagram(src, dst, ttl, payload))
        .collect();
    in_client(lab, move || {
        let socket = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::from(112)))
            .map_err(|e| format!("raw socket: {e}"))?;
        socket
            .set_header_included_v4(true)
            .map_err(|e| format!("IP_HDRINCL: {e}"))?;
        socket
            .bind_device(Some(b"eth0"))
            .map_err(|e| format!("SO_BINDTODEVICE: {e}"))?;
        socket
            .set_multicast_if_v4(&src)
            .map_err(|e| format!("IP_MULTICAST_IF: {e}"))?;
        let to = SockAddr::from(SocketAddr::new(IpAddr::V4(dst), 0));
        for datagram in &datagrams {
            socket
                .send_to(datagram, &to)
                .map_err(|e| format!("send to {dst}: {e}"))?;
            std::thread::sleep(Duration::from_millis(2));
        }
        Ok(())
    });
}

/// Like `inject_ipv4` for IPv6 (payload only; source is `src`, which must be the client's).
pub fn inject_ipv6(lab: &Lab, src: Ipv6Addr, dst: Ipv6Addr, hop_limit: u8, payloads: &[Vec<u8>]) {
    let payloads = payloads.to_vec();
    let ifindex = client_ifindex(lab);
    in_client(lab, move || {
        let socket = Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::from(112)))
            .map_err(|e| format!("raw socket: {e}"))?;
        socket
            .bind(&SockAddr::from(SocketAddrV6::new(src, 0, 0, ifindex)))
            .map_err(|e| format!("bind {src}: {e}"))?;
        socket
            .set_multicast_if_v6(ifindex)
            .map_err(|e| format!("IPV6_MULTICAST_IF: {e}"))?;
        socket
            .set_multicast_hops_v6(u32::from(hop_limit))
            .map_err(|e| format!("IPV6_MULTICAST_HOPS: {e}"))?;
        let to = SockAddr::from(SocketAddrV6::new(dst, 0, 0, ifindex));
        for payload in &payloads {
            socket
                .send_to(payload, &to)
                .map_err(|e| format!("send to {dst}: {e}"))?;
            std::thread::sleep(Duration::from_millis(2));
        }
        Ok(())
    });
}

/// The client's link-local address on `eth0`.
pub fn client_link_local(lab: &Lab) -> Ipv6Addr {
    let out = lab.exec_ok(lab.client_ns(), "ip -o -6 addr show dev eth0 scope link");
    out.split_whitespace()
        .skip_while(|w| *w != "inet6")
        .nth(1)
        .and_then(|cidr| cidr.split('/').next())
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no link-local address on the client: {out}"))
}

fn client_ifindex(lab: &Lab) -> u32 {
    let out = lab.exec_ok(lab.client_ns(), "cat /sys/class/net/eth0/ifindex");
    out.trim().parse().expect("ifindex")
}

/// Runs `f` on a thread that has entered the client's network namespace.
fn in_client(lab: &Lab, f: impl FnOnce() -> Result<(), String> + Send + 'static) {
    let path = format!("/run/netns/{}", lab.client_ns());
    let result = std::thread::spawn(move || {
        let ns = File::open(&path).map_err(|e| format!("open {path}: {e}"))?;
        setns(&ns, CloneFlags::CLONE_NEWNET).map_err(|e| format!("setns {path}: {e}"))?;
        f()
    })
    .join()
    .expect("injector thread panicked");
    if let Err(e) = result {
        panic!("injecting from the client failed: {e}");
    }
}

/// A raw protocol-112 IPv4 socket on `eth0` of the calling thread's namespace, sending
/// multicast from `source` with TTL 255. With `header_included` the caller writes the IP
/// header (any source, TTL, fragment fields); without, the kernel writes it and fragments
/// what exceeds the MTU (path MTU discovery off, or it would refuse with EMSGSIZE).
pub fn raw_vrrp_socket_v4(source: Ipv4Addr, header_included: bool) -> Result<Socket, String> {
    let socket = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::from(112)))
        .map_err(|e| format!("raw socket: {e}"))?;
    socket
        .set_header_included_v4(header_included)
        .map_err(|e| format!("IP_HDRINCL: {e}"))?;
    socket
        .bind_device(Some(b"eth0"))
        .map_err(|e| format!("SO_BINDTODEVICE: {e}"))?;
    socket
        .set_multicast_if_v4(&source)
        .map_err(|e| format!("IP_MULTICAST_IF: {e}"))?;
    socket
        .set_multicast_ttl_v4(255)
        .map_err(|e| format!("IP_MULTICAST_TTL: {e}"))?;
    if !header_included {
        let dont: libc::c_int = libc::IP_PMTUDISC_DONT;
        // SAFETY: setsockopt with a live c_int of the size given.
        let rc = unsafe {
            libc::setsockopt(
                std::os::fd::AsRawFd::as_raw_fd(&socket),
                libc::IPPROTO_IP,
                libc::IP_MTU_DISCOVER,
                (&dont as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(format!(
                "IP_MTU_DISCOVER: {}",
                std::io::Error::last_os_error()
            ));
        }
    }
    Ok(socket)
}
