//! FRR 8.4's vrrpd (zebra + vrrpd) as a VRRP peer in a lab router. FRR wants a macvlan per
//! virtual router on the interface: `vrrp4-IFINDEX-VRID` with 00:00:5e:00:01:VRID and
//! `vrrp6-IFINDEX-VRID` with 00:00:5e:00:02:VRID (address generation `random`, set in a
//! second command), holding the virtual addresses itself: vrrpd does not add them, it sets
//! the macvlan's protodown while not master. On the router `arp_ignore=1`/`arp_announce=2`
//! (else eth0 answers ARP for the VIP) and `accept_ra=0` (zebra sends router advertisements
//! as master). An IPv6 macvlan gets a fixed link-local address: vrrpd needs one to send
//! from the moment it is master, and a protodown macvlan has not generated its own yet.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{run, wait_until, Daemon, Lab};

/// Routers holding `vip` on an interface that is up and running. FRR's macvlan always has
/// the address and is protodown (operationally down) while FRR is not master, so this tells
/// who serves the VIP whatever the speaker.
pub fn serving(lab: &Lab, vip: IpAddr) -> Vec<usize> {
    let vip = vip.to_string();
    lab.router_indices()
        .filter(|&r| {
            let out = lab.exec(lab.router_ns(r), "ip -j addr show");
            let links: Vec<serde_json::Value> =
                serde_json::from_str(&out.stdout).unwrap_or_default();
            links.iter().any(|link| {
                let flags = link["flags"].as_array().cloned().unwrap_or_default();
                let running =
                    flags.iter().any(|f| f == "LOWER_UP") && flags.iter().any(|f| f == "UP");
                running
                    && link["addr_info"].as_array().is_some_and(|addrs| {
                        addrs
                            .iter()
                            .any(|a| a["local"].as_str() == Some(vip.as_str()))
                    })
            })
        })
        .collect()
}

/// True when FRR's daemons are installed (package `frr`).
pub fn installed() -> bool {
    Path::new("/usr/lib/frr/zebra").exists() && Path::new("/usr/lib/frr/vrrpd").exists()
}

/// One virtual router of FRR's configuration.
#[derive(Clone, Debug)]
pub struct FrrRouter {
    pub vrid: u8,
    pub version: u8,
    pub priority: u8,
    pub advert: Duration,
    /// IPv4 or IPv6 addresses (no prefix), all of one family.
    pub addresses: Vec<String>,
}

impl FrrRouter {
    fn ipv6(&self) -> bool {
        self.addresses.iter().any(|a| a.contains(':'))
    }

    fn config(&self) -> String {
        let vrid = self.vrid;
        let mut text = format!(
            " vrrp {vrid} version {}\n vrrp {vrid} priority {}\n \
             vrrp {vrid} advertisement-interval {}\n",
            self.version,
            self.priority,
            self.advert.as_millis()
        );
        for address in &self.addresses {
            let keyword = if self.ipv6() { "ipv6" } else { "ip" };
            text.push_str(&format!(" vrrp {vrid} {keyword} {address}\n"));
        }
        text
    }
}

/// zebra and vrrpd running in one lab router.
pub struct Frr {
    pub router: usize,
    ns: String,
    run_dir: PathBuf,
    _zebra: Daemon,
    _vrrpd: Daemon,
}

impl Frr {
    /// Starts zebra and vrrpd in `router` serving `routers` on eth0.
    pub fn start(lab: &Lab, router: usize, routers: &[FrrRouter]) -> Frr {
        let ns = lab.router_ns(router).to_owned();
        let dir = lab.dir().join(format!("frr-r{router}"));
        let (etc, run_dir) = (dir.join("etc"), dir.join("run"));
        for d in [&etc, &run_dir] {
            std::fs::create_dir_all(d).expect("create FRR dir");
        }
        let ifindex = lab
            .exec_ok(&ns, "cat /sys/class/net/eth0/ifindex")
            .trim()
            .to_owned();
        lab.exec_ok(
            &ns,
            "sysctl -qw net.ipv4.conf.eth0.arp_ignore=1 net.ipv4.conf.eth0.arp_announce=2 \
             net.ipv6.conf.all.accept_ra=0 net.ipv6.conf.default.accept_ra=0 \
             net.ipv6.conf.eth0.accept_ra=0",
        );
        for r in routers {
            let (family, kind) = if r.ipv6() { (6, 2) } else { (4, 1) };
            let name = format!("vrrp{family}-{ifindex}-{}", r.vrid);
            let mac = format!("00:00:5e:00:{kind:02x}:{:02x}", r.vrid);
            let mut addresses: Vec<String> = r
                .addresses
                .iter()
                .map(|a| format!("{a}/{}", if r.ipv6() { 64 } else { 24 }))
                .collect();
            if r.ipv6() {
                addresses.push(format!("fe80::f{router}:{:x}/64", r.vrid));
            }
            let add: Vec<String> = addresses
                .iter()
                .map(|a| format!(" && ip addr add {a} dev {name}"))
                .collect();
            lab.exec_ok(
                &ns,
                &format!(
                    "ip link add {name} link eth0 address {mac} type macvlan mode bridge && \
                     ip link set {name} addrgenmode random && \
                     sysctl -qw net.ipv6.conf.{name}.accept_ra=0 \
                     net.ipv6.conf.{name}.accept_dad=0{} && ip link set {name} up",
                    add.concat()
                ),
            );
        }
        let mut vrrpd_conf = String::from("hostname frr\ninterface eth0\n");
        for r in routers {
            vrrpd_conf.push_str(&r.config());
        }
        std::fs::write(etc.join("zebra.conf"), "hostname frr\n").expect("write zebra.conf");
        std::fs::write(etc.join("vrrpd.conf"), vrrpd_conf).expect("write vrrpd.conf");
        // FRR drops to user frr: it must own its files.
        super::run_ok(&["chown", "-R", "frr:frr", dir.to_str().expect("utf-8 path")]);
        let path = |p: &Path| p.to_str().expect("utf-8 path").to_owned();
        let zserv = path(&run_dir.join("zserv.api"));
        let daemon = |name: &str| {
            let conf = path(&etc.join(format!("{name}.conf")));
            let pid = path(&run_dir.join(format!("{name}.pid")));
            let binary = format!("/usr/lib/frr/{name}");
            let vty = path(&run_dir);
            lab.spawn(
                router,
                &[
                    &binary,
                    "-f",
                    &conf,
                    "-i",
                    &pid,
                    "-z",
                    &zserv,
                    "--vty_socket",
                    &vty,
                    "-P",
                    "0",
                    "--log",
                    "stdout",
                ],
                &[],
            )
        };
        let zebra = daemon("zebra");
        let up = wait_until(Duration::from_secs(10), Duration::from_millis(20), || {
            run_dir.join("zserv.api").exists()
        });
        assert!(up.is_some(), "zebra did not start:\n{}", zebra.log());
        let vrrpd = daemon("vrrpd");
        let frr = Frr {
            router,
            ns,
            run_dir,
            _zebra: zebra,
            _vrrpd: vrrpd,
        };
        let ready = wait_until(Duration::from_secs(10), Duration::from_millis(50), || {
            frr.show().is_some()
        });
        assert!(ready.is_some(), "vrrpd does not answer vtysh");
        frr
    }

    /// `show vrrp json`, parsed; None while vrrpd does not answer.
    pub fn show(&self) -> Option<serde_json::Value> {
        let out = run(&[
            "vtysh",
            "--vty_socket",
            self.run_dir.to_str()?,
            "-d",
            "vrrpd",
            "-c",
            "show vrrp json",
        ]);
        if !out.success {
            return None;
        }
        serde_json::from_str(&out.stdout).ok()
    }

    /// The state FRR reports for `vrid` (`Master`, `Backup`, `Initialize`) in family v4/v6.
    pub fn status(&self, vrid: u8, ipv6: bool) -> Option<String> {
        let family = if ipv6 { "v6" } else { "v4" };
        self.show()?
            .as_array()?
            .iter()
            .find(|r| r["vrid"] == u64::from(vrid))
            .and_then(|r| r[family]["status"].as_str().map(str::to_owned))
    }

    /// Waits until FRR reports `state` for `vrid`; panics with its JSON otherwise.
    pub fn wait_status(&self, vrid: u8, ipv6: bool, state: &str, timeout: Duration) {
        let ok = wait_until(timeout, Duration::from_millis(50), || {
            self.status(vrid, ipv6).as_deref() == Some(state)
        });
        assert!(
            ok.is_some(),
            "FRR in r{}: vrid {vrid} never became {state}: {:#?}",
            self.router,
            self.show()
        );
    }

    /// Runs configuration commands for eth0 (`vrrp 51 shutdown`, `no vrrp 51 shutdown`).
    pub fn configure(&self, commands: &[&str]) {
        let mut argv = vec![
            "vtysh",
            "--vty_socket",
            self.run_dir.to_str().expect("utf-8 path"),
            "-d",
            "vrrpd",
            "-c",
            "configure terminal",
            "-c",
            "interface eth0",
        ];
        for command in commands {
            argv.extend(["-c", command]);
        }
        let out = run(&argv);
        assert!(
            out.success,
            "vtysh {commands:?} in {} failed:\n{}{}",
            self.ns, out.stdout, out.stderr
        );
    }
}
