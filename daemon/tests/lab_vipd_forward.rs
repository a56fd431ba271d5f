//! DNAT and MASQUERADE while master, in vipd's own nftables table (needs root; `nft` is used
//! only to look at the ruleset): a client connects to VIP:6443 and reaches a backend
//! listening on another host's 198.51.100.13:7443 through the master (the backend sees the
//! master's address: masqueraded); after a failover through the new master; after stop no
//! rule of vipd is left; a table a killed vipd left is removed at start; other tables are
//! untouched.

mod lab;
mod lab_vipd_support;

use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use lab::{wait_until, Daemon, Lab, LabOptions};
use lab_vipd_support::*;
use nix::sched::{setns, CloneFlags};

const BACKEND: &str = "198.51.100.13:7443";
const BACKEND6: &str = "[2001:db8:1::13]:7443";

/// Runs `f` on a thread inside namespace `ns`.
fn in_ns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> JoinHandle<T> {
    let path = format!("/run/netns/{ns}");
    std::thread::spawn(move || {
        let netns = File::open(&path).expect("open netns");
        setns(&netns, CloneFlags::CLONE_NEWNET).expect("setns");
        f()
    })
}

/// A TCP server in `ns` on `address` that answers every connection with the address the
/// connection came from, until dropped.
struct Backend {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Backend {
    fn start(ns: &str, address: &str) -> Backend {
        let address: SocketAddr = address.parse().expect("address");
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = std::sync::mpsc::channel();
        let flag = stop.clone();
        let thread = in_ns(ns, move || {
            let listener = TcpListener::bind(address).expect("bind backend");
            listener.set_nonblocking(true).expect("nonblocking");
            tx.send(()).expect("ready");
            while !flag.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((mut stream, peer)) => {
                        let _ = stream.write_all(peer.ip().to_string().as_bytes());
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        rx.recv_timeout(Duration::from_secs(5)).expect("backend up");
        Backend {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Connects from the client to `target`; the backend's answer (the address it saw), or None.
fn client_connect(lab: &Lab, target: &str) -> Option<String> {
    let target: SocketAddr = target.parse().expect("address");
    in_ns(lab.client_ns(), move || {
        let mut stream = TcpStream::connect_timeout(&target, Duration::from_secs(1)).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer).ok()?;
        Some(answer)
    })
    .join()
    .expect("client thread")
}

/// Waits until the client, connecting to `vip` (VIP:6443), is answered by the backend
/// seeing `seen`.
fn expect_forwarded_through(lab: &Lab, vip: &str, seen: &str, why: &str) {
    let mut last = None;
    let ok = wait_until(SETTLE, Duration::from_millis(50), || {
        last = client_connect(lab, vip);
        last.as_deref() == Some(seen)
    });
    assert!(
        ok.is_some(),
        "{why}: the backend should see {seen}, last answer {last:?}"
    );
}

/// `GET /metrics` from inside router `router`.
fn scrape_metrics(lab: &Lab, router: usize, address: &str) -> String {
    let address: SocketAddr = address.parse().expect("address");
    let mut last = String::new();
    let ok = wait_until(SETTLE, Duration::from_millis(50), || {
        last = in_ns(lab.router_ns(router), move || {
            let Ok(mut stream) = TcpStream::connect_timeout(&address, Duration::from_secs(1))
            else {
                return String::new();
            };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
            let _ = stream
                .write_all(b"GET /metrics HTTP/1.1\r\nHost: vipd\r\nConnection: close\r\n\r\n");
            let mut text = String::new();
            let _ = stream.read_to_string(&mut text);
            text
        })
        .join()
        .expect("scrape thread");
        last.contains("vipd_forward_installed{")
    });
    assert!(ok.is_some(), "no forward in the metrics:\n{last}");
    last
}

fn nft_ruleset(lab: &Lab, router: usize) -> String {
    lab.exec_ok(lab.router_ns(router), "nft list ruleset")
}

/// r1 (150) and r2 (100) forward 192.0.2.100:6443 to 198.51.100.13:7443 and
/// [2001:db8::100]:6443 to [2001:db8:1::13]:7443, with masquerade.
fn router_conf(priority: u8) -> String {
    format!(
        r#"[[instance]]
name = "api"
interface = "eth0"
vrid = 51
priority = {priority}
version = 3
advert_interval = "100ms"
vips = ["192.0.2.100/24"]

[[instance.forward]]
from = "192.0.2.100:6443/tcp"
to = "{BACKEND}"
masquerade = true

[[instance]]
name = "api6"
interface = "eth0"
vrid = 52
priority = {priority}
advert_interval = "100ms"
vips = ["2001:db8::100/64"]

[[instance.forward]]
from = "[2001:db8::100]:6443"
to = "{BACKEND6}"
masquerade = true
"#
    )
}

fn start_toml(lab: &Lab, router: usize, text: &str) -> Daemon {
    let mut daemon = lab.spawn_vipd_toml(router, text);
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

#[test]
fn forward_follows_the_master_and_leaves_no_rule_behind() {
    let lab = Lab::with_options(
        "forward",
        LabOptions {
            routers: 3,
            second_segment: true,
        },
    );
    for router in [1, 2] {
        lab.exec_ok(
            lab.router_ns(router),
            "sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1",
        );
        // Another ruleset on the router, which vipd must leave alone.
        lab.exec_ok(
            lab.router_ns(router),
            "nft add table inet other && nft add chain inet other input \
             '{ type filter hook input priority 0; policy accept; }'",
        );
    }
    // A table a killed vipd left behind on the future backup: gone once vipd starts.
    lab.exec_ok(
        lab.router_ns(2),
        "nft add table inet vipd && nft add chain inet vipd leftover",
    );
    let _backend = Backend::start(lab.router_ns(3), BACKEND);
    let _backend6 = Backend::start(lab.router_ns(3), BACKEND6);

    let metrics = "[global]\nmetrics_listen = \"127.0.0.1:9650\"\n\n";
    let mut r1 = start_toml(&lab, 1, &format!("{metrics}{}", router_conf(150)));
    let r2 = start_toml(&lab, 2, &router_conf(100));
    expect_sole_holder(&lab, vip4(), 1, SETTLE, "election");
    expect_sole_holder(&lab, vip6(), 1, SETTLE, "election (IPv6)");
    expect_forwarded_through(&lab, "192.0.2.100:6443", "198.51.100.11", "r1 master");
    expect_forwarded_through(&lab, "[2001:db8::100]:6443", "2001:db8:1::11", "r1 master");
    let ruleset = nft_ruleset(&lab, 1);
    assert!(ruleset.contains("table inet vipd"), "{ruleset}");
    assert!(
        ruleset.contains("dnat ip to 198.51.100.13:7443"),
        "{ruleset}"
    );
    assert!(ruleset.contains("masquerade"), "{ruleset}");
    let backup = nft_ruleset(&lab, 2);
    assert!(
        !backup.contains("table inet vipd"),
        "the backup holds no forward, and the leftover table is gone:\n{backup}"
    );
    let status = instance(&r1, "api");
    assert_eq!(
        status.forwards,
        ["192.0.2.100:6443/tcp -> 198.51.100.13:7443 masquerade"]
    );
    assert!(instance(&r2, "api").forwards.is_empty());
    let scraped = scrape_metrics(&lab, 1, "127.0.0.1:9650");
    assert!(
        scraped.contains(
            "vipd_forward_installed{iname=\"api\",intf=\"eth0\",vrid=\"51\",forward=\"192.0.2.100:6443/tcp -> 198.51.100.13:7443 masquerade\"} 1"
        ),
        "{scraped}"
    );

    // Failover: the new master forwards, masquerading with its own address.
    assert!(r1.stop().success(), "r1 exit:\n{}", r1.log());
    expect_sole_holder(&lab, vip4(), 2, SETTLE, "r1 stopped");
    expect_forwarded_through(&lab, "192.0.2.100:6443", "198.51.100.12", "r2 master");
    expect_forwarded_through(&lab, "[2001:db8::100]:6443", "2001:db8:1::12", "r2 master");
    for router in [1, 2] {
        let ruleset = nft_ruleset(&lab, router);
        assert!(
            ruleset.contains("table inet other"),
            "r{router}:\n{ruleset}"
        );
    }
    let ruleset = nft_ruleset(&lab, 1);
    assert!(!ruleset.contains("vipd"), "r1 stopped:\n{ruleset}");
    wait_instance(&r2, "api", SETTLE, "forwarding", |i| i.forwards.len() == 1);
    wait_instance(&r2, "api6", SETTLE, "forwarding", |i| i.forwards.len() == 1);

    // The backup (FAULT: link down) gives its forwards up too.
    lab.link_down(2);
    let gone = wait_until(SETTLE, Duration::from_millis(20), || {
        !nft_ruleset(&lab, 2).contains("vipd")
    });
    assert!(gone.is_some(), "r2 in FAULT:\n{}", nft_ruleset(&lab, 2));
}

#[test]
fn forward_bad_input_names_the_instance() {
    let text = r#"[[instance]]
name = "api"
interface = "eth0"
vrid = 51
vips = ["192.0.2.100/24"]

[[instance.forward]]
from = "192.0.2.100:6443/tcp"
to = "198.51.100.13:7443"

[[instance]]
name = "web"
interface = "eth0"
vrid = 52
vips = ["192.0.2.100/24"]

[[instance.forward]]
from = "192.0.2.100:6443"
to = "198.51.100.14:7443"
"#;
    let lab = Lab::new("forward-bad", 1);
    let path = lab.dir().join("dup.toml");
    std::fs::write(&path, text).expect("write");
    let out = vipd_cli(&["check", "-c", path.to_str().expect("utf-8")]);
    assert!(!out.success);
    assert!(
        out.stderr.contains(
            "instance `web`: 192.0.2.100:6443/tcp is already forwarded by instance `api`"
        ),
        "{}",
        out.stderr
    );
    let bad = text.replace("198.51.100.14:7443", "198.51.100.300:7443");
    std::fs::write(&path, bad).expect("write");
    let out = vipd_cli(&["check", "-c", path.to_str().expect("utf-8")]);
    assert!(!out.success);
    assert!(
        out.stderr
            .contains("forward to `198.51.100.300:7443` is not ADDRESS:PORT"),
        "{}",
        out.stderr
    );
}

/// A VIP and port another table already DNATs (a port in use by another table): the
/// instance's forwards are left out with an error naming it and the table; the other
/// instance's forwards are installed, and the other table is left alone.
#[test]
fn forward_claimed_by_another_table_names_the_instance_and_spares_the_others() {
    let lab = Lab::new("forward-taken", 1);
    lab.exec_ok(
        lab.router_ns(1),
        "nft add table inet other && nft add chain inet other pre \
         '{ type nat hook prerouting priority -150; }' && nft add rule inet other pre \
         ip daddr 192.0.2.100 tcp dport 6443 dnat ip to 198.51.100.14:7443",
    );
    let r1 = start_toml(&lab, 1, &router_conf(150));
    wait_instance(&r1, "api6", SETTLE, "forwarding", |i| {
        i.state == "MASTER" && i.forwards.len() == 1
    });
    let api = wait_instance(&r1, "api", SETTLE, "MASTER", |i| i.state == "MASTER");
    assert!(api.forwards.is_empty(), "{api:#?}");
    let log = r1.log();
    assert!(
        log.contains(
            "api: 192.0.2.100:6443/tcp is already translated by table inet other: its forwards \
             are not installed"
        ),
        "{log}"
    );
    let ruleset = nft_ruleset(&lab, 1);
    assert!(ruleset.contains("table inet other"), "{ruleset}");
    assert!(ruleset.contains("table inet vipd"), "{ruleset}");
    assert!(
        ruleset.contains("2001:db8::100") && !ruleset.contains("198.51.100.13"),
        "only api6's forward is vipd's:\n{ruleset}"
    );
}
