//! Host topologies beyond a plain NIC, under vipd and under keepalived 2.2.7 (needs root).
//!
//! Each case builds the same topology on both routers of a lab (a Linux bridge holding the
//! router's `eth0`, a macvlan on it...), runs the same keepalived.conf once as a vipd pair
//! and once as a keepalived pair (one `#[test]` each, `CASE::vipd` and `CASE::keepalived`),
//! applies the event (a bridge port down, STP holding a port, the parent of a stacked device
//! down or deleted, a rename, the primary address removed, an MTU change...) and asserts
//! the same user-visible outcome for both: who holds the VIP, the master's state, what the
//! client reaches.
//!
//! This kernel (and CI's, the same kind of machine) has no 802.1Q VLANs, bonding, dummy
//! links or ipvlan (no modules, not built in): a macvlan stands in for a VLAN sub-interface,
//! as both are stacked devices whose carrier follows their parent and which go with it.

mod lab;
mod lab_vipd_support;

use std::time::{Duration, Instant};

use lab::keepalived_conf::VrrpInstance;
use lab::{wait_until, Daemon, Lab};
use lab_vipd_support::{conf, expect_sole_holder, instance, vip4, wait_started, ADVERT, SETTLE};

/// Bound for an outcome on a loaded 2-core machine.
const OUTCOME: Duration = Duration::from_secs(15);
/// The virtual MAC of VRID 51.
const VMAC4: &str = "00:00:5e:00:01:33";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Impl {
    Vipd,
    Keepalived,
}

/// One instance `VI_1`, VRID 51, v3 at 100 ms, VIP 192.0.2.100/24, on `interface`.
fn vi1(interface: &str, priority: u8) -> VrrpInstance {
    VrrpInstance::new("VI_1", interface, 51)
        .priority(priority)
        .version(3)
        .advert(ADVERT)
        .vip("192.0.2.100/24")
}

fn start(lab: &Lab, imp: Impl, router: usize, instance: VrrpInstance) -> Daemon {
    let text = conf(router, &[instance]);
    match imp {
        Impl::Vipd => wait_started(lab.spawn_vipd(router, &text), router),
        Impl::Keepalived => lab.spawn_keepalived(router, &text),
    }
}

/// The state of `VI_1` as the daemon tells it: vipd's status, keepalived's last
/// "(VI_1) Entering X STATE" log line ("INIT" before the first).
fn state(imp: Impl, daemon: &Daemon) -> String {
    match imp {
        Impl::Vipd => lab::vipd_status(daemon)
            .and_then(|s| s.instances.into_iter().find(|i| i.name == "VI_1"))
            .map_or_else(|| "NO STATUS".to_string(), |i| i.state),
        Impl::Keepalived => {
            let log = daemon.log();
            let marker = "(VI_1) Entering ";
            log.rmatch_indices(marker)
                .next()
                .and_then(|(at, _)| log[at + marker.len()..].split_whitespace().next())
                .unwrap_or("INIT")
                .to_string()
        }
    }
}

/// How many times `VI_1` of the daemon became master (keepalived: log lines; vipd: its
/// status counter).
fn master_transitions(imp: Impl, daemon: &Daemon) -> u64 {
    match imp {
        Impl::Vipd => instance(daemon, "VI_1").became_master,
        Impl::Keepalived => daemon.log().matches("(VI_1) Entering MASTER STATE").count() as u64,
    }
}

fn expect_state(imp: Impl, daemon: &Daemon, want: &str, why: &str) {
    let ok = wait_until(OUTCOME, Duration::from_millis(25), || {
        state(imp, daemon) == want
    });
    assert!(
        ok.is_some(),
        "{imp:?} {why}: r{} should be {want}, is {}",
        daemon.router,
        state(imp, daemon)
    );
}

fn holder(lab: &Lab, router: usize, why: &str) {
    expect_sole_holder(lab, vip4(), router, OUTCOME, why);
}

fn reaches_vip(lab: &Lab, why: &str) {
    let ok = wait_until(OUTCOME, Duration::from_millis(100), || {
        lab.client_ping(vip4())
    });
    assert!(ok.is_some(), "{why}: the client cannot reach {}", vip4());
}

/// The MAC the client's neighbour entry holds for the VIP.
fn client_mac_for_vip(lab: &Lab) -> String {
    reaches_vip(lab, "neighbour entry");
    let out = lab.exec_ok(
        lab.client_ns(),
        &format!("ip neigh show {} dev eth0", vip4()),
    );
    out.split_whitespace()
        .skip_while(|w| *w != "lladdr")
        .nth(1)
        .unwrap_or_default()
        .to_string()
}

fn sh(lab: &Lab, router: usize, cmd: &str) {
    lab.exec_ok(lab.router_ns(router), cmd);
}

fn router_addr(router: usize) -> String {
    format!("192.0.2.{}/24", 10 + router)
}

/// Moves the router's IPv4 address from `eth0` onto a new bridge `lan0` holding `eth0`
/// (the VIP then lives on the bridge). `stp`: STP on with the shortest forward delay (2 s).
fn bridge_topology(lab: &Lab, router: usize, stp: bool) {
    let stp = if stp {
        "stp_state 1 forward_delay 200"
    } else {
        "stp_state 0 forward_delay 0"
    };
    sh(
        lab,
        router,
        &format!(
            "ip link add lan0 type bridge mcast_snooping 0 {stp} && \
             ip addr del {a} dev eth0 && ip link set eth0 master lan0 && \
             ip addr add {a} dev lan0 && ip link set lan0 up",
            a = router_addr(router)
        ),
    );
    wait_port_forwarding(lab, router, "eth0", Duration::from_secs(10));
}

fn port_state(lab: &Lab, router: usize, port: &str) -> String {
    let out = lab.exec(
        lab.router_ns(router),
        &format!("bridge link show dev {port}"),
    );
    out.stdout
        .split_whitespace()
        .skip_while(|w| *w != "state")
        .nth(1)
        .unwrap_or("none")
        .to_string()
}

fn wait_port_forwarding(lab: &Lab, router: usize, port: &str, timeout: Duration) {
    let ok = wait_until(timeout, Duration::from_millis(20), || {
        port_state(lab, router, port) == "forwarding"
    });
    assert!(
        ok.is_some(),
        "r{router}: bridge port {port} does not forward"
    );
}

/// A macvlan `lan0` on `eth0` (bridge mode) with address 192.0.2.(20+router)/24, as a VLAN
/// sub-interface would be set up; `eth0` keeps its own address.
fn macvlan_topology(lab: &Lab, router: usize) {
    sh(
        lab,
        router,
        &format!(
            "ip link add link eth0 name lan0 address 02:76:74:00:0a:{router:02x} type macvlan \
             mode bridge && ip addr add 192.0.2.{}/24 dev lan0 && ip link set lan0 up",
            20 + router
        ),
    );
}

/// Both routers started on `interface` (r1 150, r2 100); r1 wins.
fn pair(lab: &Lab, imp: Impl, make: impl Fn(&str, u8) -> VrrpInstance) -> (Daemon, Daemon) {
    let r1 = start(lab, imp, 1, make("lan0", 150));
    let r2 = start(lab, imp, 2, make("lan0", 100));
    holder(lab, 1, "election");
    expect_state(imp, &r1, "MASTER", "election");
    expect_state(imp, &r2, "BACKUP", "election");
    (r1, r2)
}

/// The VIP on a bridge: the client behind it reaches it; the bridge's only port down takes
/// the bridge's carrier (FAULT, the backup takes over), up gives it back (r1 preempts).
fn bridge_port_down(imp: Impl) {
    let lab = Lab::new("topo-bridge-port", 2);
    bridge_topology(&lab, 1, false);
    bridge_topology(&lab, 2, false);
    let (r1, r2) = pair(&lab, imp, vi1);
    reaches_vip(&lab, "VIP on a bridge");
    lab.link_down(1);
    expect_state(imp, &r1, "FAULT", "bridge port down");
    holder(&lab, 2, "bridge port down");
    expect_state(imp, &r2, "MASTER", "bridge port down");
    reaches_vip(&lab, "after failover");
    lab.link_up(1);
    holder(&lab, 1, "bridge port up");
    expect_state(imp, &r1, "MASTER", "bridge port up");
}

/// STP: a bridge port that comes back listens and learns for twice the forward delay before
/// it forwards, and the bridge has no carrier meanwhile: r1 must not take the VIP back
/// before its port forwards (it would be master on a link that drops everything).
fn bridge_stp_forward_delay(imp: Impl) {
    let lab = Lab::new("topo-bridge-stp", 2);
    bridge_topology(&lab, 1, true);
    bridge_topology(&lab, 2, false);
    let (r1, _r2) = pair(&lab, imp, vi1);
    lab.link_down(1);
    expect_state(imp, &r1, "FAULT", "bridge port down");
    holder(&lab, 2, "bridge port down");
    lab.link_up(1);
    let start = Instant::now();
    // Until the port forwards, r1 holds nothing (and r2 keeps the VIP).
    let mut sampled = 0;
    while start.elapsed() < OUTCOME {
        // Holders first: a port read as not forwarding after them did not forward then.
        let holders = lab.holders(vip4());
        let port = port_state(&lab, 1, "eth0");
        if port == "forwarding" {
            break;
        }
        assert_eq!(
            holders,
            [2],
            "{imp:?}: r1 took the VIP while its bridge port was {port} ({:?} after up)",
            start.elapsed()
        );
        sampled += 1;
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        sampled > 10,
        "the port forwarded at once ({sampled} samples)"
    );
    holder(&lab, 1, "bridge port forwarding again");
    expect_state(imp, &r1, "MASTER", "bridge port forwarding again");
}

/// `track_interface` on a bridge port: the bridge keeps its carrier through its other port,
/// but the tracked one going down faults the instance.
fn bridge_tracked_port(imp: Impl) {
    let lab = Lab::new("topo-bridge-track", 2);
    bridge_topology(&lab, 1, false);
    bridge_topology(&lab, 2, false);
    // A second port that stays up (as a port towards local VMs would).
    sh(
        &lab,
        1,
        "ip link add stub0 type veth peer name stub1 && ip link set stub0 master lan0 && \
         ip link set stub1 up && ip link set stub0 up",
    );
    wait_port_forwarding(&lab, 1, "stub0", Duration::from_secs(10));
    let (r1, _r2) = pair(&lab, imp, |ifname, prio| {
        vi1(ifname, prio).track_interface("eth0")
    });
    lab.link_down(1);
    expect_state(imp, &r1, "FAULT", "tracked bridge port down");
    holder(&lab, 2, "tracked bridge port down");
    lab.link_up(1);
    holder(&lab, 1, "tracked bridge port up");
}

/// A stacked device (a macvlan here, a VLAN sub-interface on kernels with 8021q): its parent
/// going down takes its carrier (FAULT, the backup takes over); up gives it back.
fn stacked_parent_down(imp: Impl) {
    let lab = Lab::new("topo-stacked-down", 2);
    macvlan_topology(&lab, 1);
    macvlan_topology(&lab, 2);
    let (r1, r2) = pair(&lab, imp, vi1);
    reaches_vip(&lab, "VIP on a macvlan");
    lab.link_down(1);
    expect_state(imp, &r1, "FAULT", "parent down");
    holder(&lab, 2, "parent down");
    expect_state(imp, &r2, "MASTER", "parent down");
    lab.link_up(1);
    holder(&lab, 1, "parent up");
    expect_state(imp, &r1, "MASTER", "parent up");
}

/// The stacked device deleted (FAULT, the backup takes over) and created again with the
/// same name and address: r1 is master again.
fn stacked_deleted_and_recreated(imp: Impl) {
    let lab = Lab::new("topo-stacked-del", 2);
    macvlan_topology(&lab, 1);
    macvlan_topology(&lab, 2);
    let (r1, _r2) = pair(&lab, imp, vi1);
    sh(&lab, 1, "ip link del lan0");
    expect_state(imp, &r1, "FAULT", "lan0 deleted");
    holder(&lab, 2, "lan0 deleted");
    macvlan_topology(&lab, 1);
    holder(&lab, 1, "lan0 created again");
    expect_state(imp, &r1, "MASTER", "lan0 created again");
    reaches_vip(&lab, "lan0 created again");
}

/// `use_vmac` on a bridge: the client reaches the VIP at the virtual MAC, before and after
/// a failover.
fn vmac_on_bridge(imp: Impl) {
    let lab = Lab::new("topo-vmac-bridge", 2);
    bridge_topology(&lab, 1, false);
    bridge_topology(&lab, 2, false);
    let (r1, _r2) = pair(&lab, imp, |i, p| vi1(i, p).line("use_vmac"));
    expect_vip_mac(imp, &lab, "VIP on a VMAC on a bridge");
    lab.link_down(1);
    expect_state(imp, &r1, "FAULT", "bridge port down");
    holder(&lab, 2, "bridge port down");
    expect_vip_mac(imp, &lab, "after failover");
}

/// vipd: the client reaches the VIP at the virtual MAC. keepalived 2.2.7 leaves the
/// parent answering ARP for the VIP (or announcing it in its own ARP requests) on these
/// topologies, and the client may cache the parent's MAC: only reaching it is asserted.
fn expect_vip_mac(imp: Impl, lab: &Lab, why: &str) {
    let mac = client_mac_for_vip(lab);
    match imp {
        Impl::Vipd => assert_eq!(mac, VMAC4, "{why}: MAC of the VIP"),
        Impl::Keepalived => eprintln!("keepalived, {why}: the client has {mac} for the VIP"),
    }
}

/// `use_vmac` on a stacked device (a macvlan; a VLAN on kernels with 8021q): the client
/// reaches the VIP at the virtual MAC, and the parent down faults the instance.
fn vmac_on_stacked(imp: Impl) {
    let lab = Lab::new("topo-vmac-stacked", 2);
    macvlan_topology(&lab, 1);
    macvlan_topology(&lab, 2);
    let (mut r1, _r2) = pair(&lab, imp, |i, p| vi1(i, p).line("use_vmac"));
    // The kernel puts a macvlan made on a macvlan onto the lower device.
    let vmac = lab.exec_ok(lab.router_ns(1), "ip -o link show vrrp.51");
    assert!(vmac.contains("vrrp.51@eth0"), "{imp:?}: {vmac}");
    expect_vip_mac(imp, &lab, "VIP on a VMAC on a macvlan");
    lab.link_down(1);
    expect_state(imp, &r1, "FAULT", "parent down");
    holder(&lab, 2, "parent down");
    lab.link_up(1);
    holder(&lab, 1, "parent up");
    expect_vip_mac(imp, &lab, "after failback");
    if imp == Impl::Vipd {
        // The lower device's ARP settings are given back when the VMAC goes.
        r1.stop();
        let arp_ignore = lab.exec_ok(
            lab.router_ns(1),
            "cat /proc/sys/net/ipv4/conf/eth0/arp_ignore",
        );
        assert_eq!(
            arp_ignore.trim(),
            "0",
            "eth0's arp_ignore after vipd stopped"
        );
    }
}

/// An MTU change on the master's interface: no state change anywhere.
fn mtu_change(imp: Impl) {
    let lab = Lab::new("topo-mtu", 2);
    let (r1, r2) = pair(&lab, imp, |_, p| vi1("eth0", p));
    // Counted from here: two daemons starting together may both be master for a moment.
    let before = (master_transitions(imp, &r1), master_transitions(imp, &r2));
    sh(&lab, 1, "ip link set eth0 mtu 1280");
    std::thread::sleep(ADVERT * 10);
    sh(&lab, 1, "ip link set eth0 mtu 1500");
    std::thread::sleep(ADVERT * 10);
    holder(&lab, 1, "after MTU changes");
    assert_eq!(state(imp, &r1), "MASTER", "{imp:?}: r1 after MTU changes");
    assert_eq!(state(imp, &r2), "BACKUP", "{imp:?}: r2 after MTU changes");
    let after = (master_transitions(imp, &r1), master_transitions(imp, &r2));
    assert_eq!(
        after, before,
        "{imp:?}: master transitions (r1, r2) changed"
    );
}

/// The master's interface renamed (down, rename, up) and back. The first rename happens
/// while the master is not running (stopped), so it hears of the down only once the link
/// has its new name: the VIP must still leave it (vipd had looked the link up by its old
/// name, found none, and left the VIP on the renamed link beside the new master).
fn rename(imp: Impl) {
    let lab = Lab::new("topo-rename", 2);
    let (r1, _r2) = pair(&lab, imp, |_, p| vi1("eth0", p));
    let stopped = lab::procfs::stop_tree(r1.pid());
    sh(
        &lab,
        1,
        "ip link set eth0 down && ip link set eth0 name lan9 && ip link set lan9 up",
    );
    lab::procfs::continue_tree(&stopped);
    expect_state(imp, &r1, "FAULT", "interface renamed away");
    holder(&lab, 2, "interface renamed away");
    sh(
        &lab,
        1,
        "ip link set lan9 down && ip link set lan9 name eth0 && ip link set eth0 up",
    );
    holder(&lab, 1, "interface renamed back");
    expect_state(imp, &r1, "MASTER", "interface renamed back");
}

/// The master's own address removed (its VIP, a secondary on the same subnet, goes with it
/// unless promote_secondaries) and added again.
fn primary_removed(imp: Impl) {
    let lab = Lab::new("topo-primary", 2);
    let (r1, _r2) = pair(&lab, imp, |_, p| vi1("eth0", p));
    sh(&lab, 1, "ip addr del 192.0.2.11/24 dev eth0");
    // The VIP is no address to advertise from: FAULT (vipd used to send from the VIP).
    expect_state(imp, &r1, "FAULT", "own address removed");
    holder(&lab, 2, "own address removed");
    sh(&lab, 1, "ip addr add 192.0.2.11/24 dev eth0");
    holder(&lab, 1, "address back");
    expect_state(imp, &r1, "MASTER", "address back");
    reaches_vip(&lab, "address back");
}

/// `dont_track_primary`: the master's link down does not fault it.
fn dont_track_primary(imp: Impl) {
    let lab = Lab::new("topo-dont-track", 2);
    let (r1, r2) = pair(&lab, imp, |_, p| vi1("eth0", p).line("dont_track_primary"));
    lab.link_down(1);
    expect_state(imp, &r2, "MASTER", "r1 link down");
    std::thread::sleep(ADVERT * 10);
    assert_eq!(state(imp, &r1), "MASTER", "{imp:?}: r1 with its link down");
    assert!(
        lab.holders(vip4()).contains(&1),
        "{imp:?}: r1 keeps the VIP"
    );
    lab.link_up(1);
    holder(&lab, 1, "r1 link up");
    expect_state(imp, &r2, "BACKUP", "r1 link up");
}

/// The master's own address changed (a new one added, the old one deleted) on an interface
/// with `promote_secondaries` (systemd's default): the new address takes over as the
/// source of the adverts and r1 stays (or is again) the only master.
fn primary_changed(imp: Impl) {
    let lab = Lab::new("topo-primary-changed", 2);
    sh(
        &lab,
        1,
        "sysctl -q -w net.ipv4.conf.eth0.promote_secondaries=1",
    );
    let (r1, r2) = pair(&lab, imp, |_, p| vi1("eth0", p));
    sh(
        &lab,
        1,
        "ip addr add 192.0.2.21/24 dev eth0 && ip addr del 192.0.2.11/24 dev eth0",
    );
    holder(&lab, 1, "own address changed");
    expect_state(imp, &r1, "MASTER", "own address changed");
    expect_state(imp, &r2, "BACKUP", "own address changed");
    std::thread::sleep(ADVERT * 10);
    assert_eq!(lab.holders(vip4()), [1], "{imp:?}: after the change");
    assert_eq!(state(imp, &r2), "BACKUP", "{imp:?}: r2 after the change");
    reaches_vip(&lab, "own address changed");
    if imp == Impl::Vipd {
        let master = instance(&r2, "VI_1").master_address;
        assert_eq!(
            master.as_deref(),
            Some("192.0.2.21"),
            "r2 hears r1 from its new address"
        );
    }
}

/// The bridge's MAC changes under the VIP (a port with a lower MAC joins, and a bridge
/// without a MAC of its own takes its ports' lowest): the client's neighbour entry for the
/// VIP must follow.
fn bridge_mac_changes(imp: Impl) {
    let lab = Lab::new("topo-bridge-mac", 2);
    bridge_topology(&lab, 1, false);
    bridge_topology(&lab, 2, false);
    let (_r1, _r2) = pair(&lab, imp, vi1);
    assert_eq!(client_mac_for_vip(&lab), "02:76:74:00:00:01");
    sh(
        &lab,
        1,
        "ip link add stub0 address 02:00:00:00:00:01 type veth peer name stub1 && \
         ip link set stub0 master lan0 && ip link set stub1 up && ip link set stub0 up",
    );
    let ok = wait_until(SETTLE, Duration::from_millis(20), || {
        client_mac_for_vip(&lab) == "02:00:00:00:00:01"
    });
    // The kernel announces every address of a link whose MAC changes (a few ms here).
    assert!(ok.is_some(), "{imp:?}: the client kept the old MAC");
    reaches_vip(&lab, "bridge MAC changed");
}

/// A daemon killed (SIGKILL: its VMAC stays, on the macvlan's lower device) and started
/// again on a VMAC on a macvlan: it takes the leftover VMAC over and is master again.
fn vmac_on_stacked_restart(imp: Impl) {
    let lab = Lab::new("topo-vmac-restart", 2);
    macvlan_topology(&lab, 1);
    macvlan_topology(&lab, 2);
    let make = |i: &str, p| vi1(i, p).line("use_vmac");
    let (mut r1, r2) = pair(&lab, imp, make);
    r1.kill9();
    // Its VIPs stay behind on the leftover VMAC, as any killed daemon's do.
    expect_state(imp, &r2, "MASTER", "r1 killed");
    let r1 = start(&lab, imp, 1, make("lan0", 150));
    holder(&lab, 1, "r1 started again");
    expect_state(imp, &r1, "MASTER", "r1 started again");
    expect_vip_mac(imp, &lab, "r1 started again");
}

/// A namespace of the test's own, deleted when dropped.
struct Netns(String);

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = lab::run(&["ip", "netns", "del", &self.0]);
    }
}

/// The master's interface moved to another network namespace (gone, as deleted: FAULT,
/// the backup takes over) and back (without its addresses, which the move drops; they are
/// added again): r1 is master again.
fn moved_to_another_namespace(imp: Impl) {
    let lab = Lab::new("topo-netns-move", 2);
    let (r1, _r2) = pair(&lab, imp, |_, p| vi1("eth0", p));
    let other = Netns(format!("{}x", lab.prefix()));
    lab::run_ok(&["ip", "netns", "add", &other.0]);
    sh(&lab, 1, &format!("ip link set eth0 netns {}", other.0));
    expect_state(imp, &r1, "FAULT", "interface moved away");
    holder(&lab, 2, "interface moved away");
    lab::run_ok(&[
        "ip",
        "-n",
        &other.0,
        "link",
        "set",
        "eth0",
        "netns",
        lab.router_ns(1),
    ]);
    sh(
        &lab,
        1,
        &format!(
            "ip addr add {} dev eth0 && ip link set eth0 up",
            router_addr(1)
        ),
    );
    holder(&lab, 1, "interface moved back");
    expect_state(imp, &r1, "MASTER", "interface moved back");
    reaches_vip(&lab, "interface moved back");
}

/// A host behind the master's bridge (a VM on `lan0`) reaches the VIP while r1 holds it and
/// after r1 stops and r2 takes over: r2's announcements cross r1's bridge, and the VM's
/// neighbour entry follows the VIP to r2 at once.
fn client_behind_bridge(imp: Impl) {
    let lab = Lab::new("topo-bridge-vm", 2);
    bridge_topology(&lab, 1, false);
    bridge_topology(&lab, 2, false);
    let vm = Netns(format!("{}v", lab.prefix()));
    lab::run_ok(&["ip", "netns", "add", &vm.0]);
    sh(
        &lab,
        1,
        &format!(
            "ip link add vm0 type veth peer name eth0 netns {} && ip link set vm0 master lan0 \
             && ip link set vm0 up",
            vm.0
        ),
    );
    lab::run_ok(&[
        "ip",
        "-n",
        &vm.0,
        "addr",
        "add",
        "192.0.2.200/24",
        "dev",
        "eth0",
    ]);
    lab::run_ok(&["ip", "-n", &vm.0, "link", "set", "eth0", "up"]);
    wait_port_forwarding(&lab, 1, "vm0", Duration::from_secs(10));
    let vm_ping = || {
        lab::run(&[
            "ip",
            "netns",
            "exec",
            &vm.0,
            "ping",
            "-c",
            "1",
            "-W",
            "1",
            "192.0.2.100",
        ])
        .success
    };
    let vm_mac = || {
        let out = lab::run(&["ip", "-n", &vm.0, "neigh", "show", "192.0.2.100"]).stdout;
        out.split_whitespace()
            .skip_while(|w| *w != "lladdr")
            .nth(1)
            .unwrap_or_default()
            .to_string()
    };
    let (mut r1, r2) = pair(&lab, imp, vi1);
    let ok = wait_until(OUTCOME, Duration::from_millis(100), vm_ping);
    assert!(
        ok.is_some(),
        "{imp:?}: the VM cannot reach the VIP on its own router"
    );
    assert_eq!(
        vm_mac(),
        "02:76:74:00:00:01",
        "{imp:?}: VM's entry for the VIP"
    );
    r1.stop();
    holder(&lab, 2, "r1 stopped");
    expect_state(imp, &r2, "MASTER", "r1 stopped");
    // r2's bridge has eth0's MAC too (its only port).
    let moved = wait_until(Duration::from_secs(3), Duration::from_millis(20), || {
        vm_mac() == "02:76:74:00:00:02"
    });
    assert!(
        moved.is_some(),
        "{imp:?}: the VM's entry stayed {}",
        vm_mac()
    );
    assert!(vm_ping(), "{imp:?}: the VM cannot reach the VIP on r2");
}

macro_rules! both {
    ($($case:ident),* $(,)?) => {$(
        mod $case {
            #[test]
            fn vipd() {
                super::$case(super::Impl::Vipd)
            }
            #[test]
            fn keepalived() {
                super::$case(super::Impl::Keepalived)
            }
        }
    )*};
}

both!(
    bridge_port_down,
    bridge_stp_forward_delay,
    bridge_tracked_port,
    stacked_parent_down,
    stacked_deleted_and_recreated,
    vmac_on_bridge,
    vmac_on_stacked,
    mtu_change,
    rename,
    primary_removed,
    primary_changed,
    bridge_mac_changes,
    vmac_on_stacked_restart,
    client_behind_bridge,
    dont_track_primary,
    moved_to_another_namespace,
);
