//! VMAC interfaces (keepalived `use_vmac`) in the namespace lab (needs root): the VIP lives
//! on a macvlan with the virtual router MAC, so the client's neighbour entry for the VIP
//! holds 00:00:5e:00:01:VRID (IPv6 00:00:5e:00:02:VRID) before and after a failover and no
//! ARP/NA update is needed; vipd with vipd and with keepalived 2.2.7 both ways; the VMAC is
//! created again after `ip link del`; a VMAC that cannot be created faults only its instance.
//! VIPs on another interface (`use_vmac` on the VIP, keepalived's `use_vmac_addr`) get a
//! VMAC of their own interface, named as keepalived names it.

mod lab;
mod lab_vipd_support;

use std::net::IpAddr;
use std::time::Duration;

use lab::keepalived_conf::VrrpInstance;
use lab::{wait_until, Daemon, Lab, LabOptions};
use lab_vipd_support::*;

const VMAC4: &str = "00:00:5e:00:01:33"; // VRID 51
const VMAC6: &str = "00:00:5e:00:02:34"; // VRID 52

fn vmac_v4(priority: u8) -> VrrpInstance {
    v3_ipv4(priority).line("use_vmac")
}

fn vmac_v6(priority: u8) -> VrrpInstance {
    v3_ipv6(priority).line("use_vmac")
}

/// `ip -d link show NAME` in the router, or None when there is no such link.
fn link_text(lab: &Lab, router: usize, name: &str) -> Option<String> {
    let out = lab.exec(lab.router_ns(router), &format!("ip -d link show {name}"));
    out.success.then_some(out.stdout)
}

/// `UP` in the flags of the link (administratively up).
fn is_up(text: &str) -> bool {
    text.lines()
        .next()
        .and_then(|l| l.split('<').nth(1))
        .and_then(|l| l.split('>').next())
        .is_some_and(|flags| flags.split(',').any(|f| f == "UP"))
}

fn ipv4_conf(lab: &Lab, router: usize, ifname: &str, key: &str) -> String {
    lab.exec_ok(
        lab.router_ns(router),
        &format!("cat /proc/sys/net/ipv4/conf/{ifname}/{key}"),
    )
    .trim()
    .to_string()
}

/// Waits until an IPv4 sysctl of `ifname` reads `want`: vipd gives a parent its ARP
/// settings back just after it deletes the last VMAC on it, so seeing the link gone does not
/// mean the settings are back yet.
fn expect_ipv4_conf(lab: &Lab, router: usize, ifname: &str, key: &str, want: &str, why: &str) {
    let ok = wait_until(SETTLE, Duration::from_millis(20), || {
        ipv4_conf(lab, router, ifname, key) == want
    });
    assert!(
        ok.is_some(),
        "{why}: r{router} {ifname} {key} should be {want}; it is {}",
        ipv4_conf(lab, router, ifname, key)
    );
}

/// Waits until the link `name` in `router` is (or is not) there and up as asked.
fn expect_link(lab: &Lab, router: usize, name: &str, exists: bool, up: bool, why: &str) {
    let ok = wait_until(SETTLE, Duration::from_millis(20), || {
        match link_text(lab, router, name) {
            Some(text) => exists && is_up(&text) == up,
            None => !exists,
        }
    });
    assert!(
        ok.is_some(),
        "{why}: r{router} {name} should {}; it is {:?}",
        match (exists, up) {
            (false, _) => "not exist".to_string(),
            (true, up) => format!("exist and be {}", if up { "up" } else { "down" }),
        },
        link_text(lab, router, name)
    );
}

fn start(lab: &Lab, keepalived: bool, router: usize, instance: VrrpInstance) -> Daemon {
    let text = conf(router, &[instance]);
    if keepalived {
        // keepalived 2.2.7 leaves arp_announce at 0: its master's own ARP requests would
        // announce the VIP with eth0's MAC. FRR's documentation asks for the same setting.
        lab.exec_ok(
            lab.router_ns(router),
            "sysctl -qw net.ipv4.conf.eth0.arp_announce=2",
        );
        lab.spawn_keepalived(router, &text)
    } else {
        start_vipd(lab, router, &text)
    }
}

/// r1 (150) and r2 (100) with a VMAC each; `keepalived` says which routers run keepalived.
fn failover_keeps_the_virtual_mac(test: &str, ipv6: bool, keepalived: [bool; 2]) {
    let lab = Lab::new(test, 2);
    let (vip, mac, instance): (IpAddr, &str, fn(u8) -> VrrpInstance) = if ipv6 {
        (vip6(), VMAC6, vmac_v6)
    } else {
        (vip4(), VMAC4, vmac_v4)
    };
    let vmac_name = if ipv6 { "vrrp.52" } else { "vrrp.51" };
    let mut r1 = start(&lab, keepalived[0], 1, instance(150));
    let r2 = start(&lab, keepalived[1], 2, instance(100));
    expect_sole_holder(&lab, vip, 1, SETTLE, "election");
    assert_eq!(
        lab.addresses(1, vmac_name)
            .iter()
            .filter(|a| **a == vip)
            .count(),
        1,
        "r1 holds {vip} on {vmac_name}"
    );
    let text = link_text(&lab, 1, vmac_name).expect("r1 has its VMAC");
    assert!(text.contains(mac) && text.contains("macvlan"), "{text}");
    for (router, is_keepalived) in [(1, keepalived[0]), (2, keepalived[1])] {
        if !is_keepalived {
            // vipd: the backup's VMAC exists but is down; the master's is up.
            expect_link(&lab, router, vmac_name, true, router == 1, "vipd's VMAC");
            if !ipv6 {
                for (key, value) in [
                    ("arp_ignore", "1"),
                    ("arp_filter", "1"),
                    ("arp_announce", "2"),
                ] {
                    assert_eq!(
                        ipv4_conf(&lab, router, "eth0", key),
                        value,
                        "r{router} eth0 {key}"
                    );
                }
                assert_eq!(ipv4_conf(&lab, router, vmac_name, "arp_ignore"), "1");
            }
        }
    }
    assert_eq!(
        reach_and_read_neighbour(&lab, vip),
        mac,
        "before the failover"
    );

    // The master leaves: r2 takes the VIP with the same MAC, so the client's entry stays.
    let meter = lab.outage_meter(&[vip], Duration::from_millis(2));
    assert!(meter.wait_replies(20, SETTLE), "no replies before the stop");
    assert!(r1.stop().success(), "r1 exit:\n{}", r1.log());
    expect_sole_holder(&lab, vip, 2, SETTLE, "r1 stopped");
    assert!(meter.wait_replies(50, SETTLE), "no replies after the stop");
    let report = meter.stop();
    eprintln!("{test}: r1 stopped:\n{report}");
    if keepalived == [false, false] {
        // vipd's planned handover: nothing from r1's VMAC after r2 announced (no reply, no
        // MLD report when the VIP goes) sends the switch back to r1's port, where nothing
        // answers until r2's next frame from the virtual MAC.
        assert!(
            report.longest_outage() < ADVERT * 3,
            "the handover left a gap\n{report}"
        );
    }
    assert_eq!(
        client_neighbour_mac(&lab, vip).as_deref(),
        Some(mac),
        "the entry is unchanged by the failover"
    );
    assert_eq!(
        reach_and_read_neighbour(&lab, vip),
        mac,
        "after the failover"
    );
    if !keepalived[0] {
        // vipd removed its VMAC and gave eth0 its ARP settings back.
        expect_link(&lab, 1, vmac_name, false, false, "r1 stopped");
        if !ipv6 {
            expect_ipv4_conf(&lab, 1, "eth0", "arp_ignore", "0", "r1 stopped");
            expect_ipv4_conf(&lab, 1, "eth0", "arp_announce", "0", "r1 stopped");
        }
    }
    if !keepalived[1] {
        wait_state(&r2, if ipv6 { "VI_6" } else { "VI_1" }, "MASTER");
        expect_link(&lab, 2, vmac_name, true, true, "r2 master");
    }
    drop(r2);
}

#[test]
fn vmac_vipd_pair_keeps_the_client_neighbour_entry_ipv4() {
    failover_keeps_the_virtual_mac("vmac-vipd-4", false, [false, false]);
}

#[test]
fn vmac_vipd_pair_keeps_the_client_neighbour_entry_ipv6() {
    failover_keeps_the_virtual_mac("vmac-vipd-6", true, [false, false]);
}

#[test]
fn vmac_keepalived_master_vipd_backup() {
    failover_keeps_the_virtual_mac("vmac-ka-vipd", false, [true, false]);
}

#[test]
fn vmac_vipd_master_keepalived_backup() {
    failover_keeps_the_virtual_mac("vmac-vipd-ka", false, [false, true]);
}

#[test]
fn vmac_is_created_again_after_ip_link_del() {
    let lab = Lab::new("vmac-recreate", 2);
    let r1 = start_vipd(&lab, 1, &conf(1, &[vmac_v4(150)]));
    expect_sole_holder(&lab, vip4(), 1, SETTLE, "election");
    wait_state(&r1, "VI_1", "MASTER");
    lab.exec_ok(lab.router_ns(1), "ip link del vrrp.51");
    expect_link(&lab, 1, "vrrp.51", true, true, "after ip link del");
    expect_sole_holder(&lab, vip4(), 1, SETTLE, "VIP back on the new VMAC");
    assert!(
        lab.addresses(1, "vrrp.51").contains(&vip4()),
        "{}",
        r1.log()
    );
    assert_eq!(reach_and_read_neighbour(&lab, vip4()), VMAC4);
    assert!(
        r1.log().contains("VMAC vrrp.51 was deleted"),
        "{}",
        r1.log()
    );
}

#[test]
fn vmac_that_cannot_be_created_faults_only_its_instance() {
    let lab = Lab::new("vmac-bad", 1);
    // The name is taken by another kind of interface.
    lab.exec_ok(lab.router_ns(1), "ip link add vrrp.51 type bridge");
    // A tun device has no Ethernet address: no macvlan on it.
    lab.exec_ok(
        lab.router_ns(1),
        "ip tuntap add dev tun7 mode tun && ip link set tun7 up",
    );
    let taken = vmac_v4(150);
    let on_tun = VrrpInstance::new("VI_T", "tun7", 53)
        .version(3)
        .advert(ADVERT)
        .unicast("192.0.2.11", &["192.0.2.12"])
        .line("use_vmac")
        .vip("198.51.100.53/32");
    let fine = VrrpInstance::new("VI_OK", "eth0", 54)
        .priority(150)
        .version(3)
        .advert(ADVERT)
        .vip("192.0.2.54/24");
    let r1 = start_vipd(&lab, 1, &conf(1, &[taken, on_tun, fine]));
    wait_state(&r1, "VI_OK", "MASTER");
    wait_state(&r1, "VI_1", "FAULT");
    wait_state(&r1, "VI_T", "FAULT");
    let log = r1.log();
    assert!(
        log.contains(
            "VI_1: cannot create VMAC vrrp.51 on eth0: `vrrp.51` exists and is a bridge interface"
        ),
        "{log}"
    );
    assert!(
        log.contains("VI_T: cannot create VMAC vrrp.53: tun7 is not an Ethernet interface"),
        "{log}"
    );
    assert!(lab
        .addresses(1, "eth0")
        .contains(&"192.0.2.54".parse().unwrap()));
    // The bridge vipd did not make is left alone.
    assert!(link_text(&lab, 1, "vrrp.51").is_some_and(|t| t.contains("bridge")));
    // Once the name is free, the instance gets its VMAC and runs.
    lab.exec_ok(lab.router_ns(1), "ip link del vrrp.51");
    wait_state(&r1, "VI_1", "MASTER");
    expect_link(&lab, 1, "vrrp.51", true, true, "name freed");
}

/// Two masters with the same virtual MAC must hear each other when a partition heals. A
/// private-mode macvlan (keepalived's) would swallow the other master's adverts, whose
/// source MAC is its own, and the parent interface vipd listens on would never see them.
#[test]
fn vmac_split_brain_heals_when_both_masters_use_the_virtual_mac() {
    let lab = Lab::new("vmac-split", 2);
    let _r1 = start_vipd(&lab, 1, &conf(1, &[vmac_v4(150)]));
    let r2 = start_vipd(&lab, 2, &conf(2, &[vmac_v4(100)]));
    expect_sole_holder(&lab, vip4(), 1, SETTLE, "election");
    lab.partition(2);
    wait_state(&r2, "VI_1", "MASTER");
    expect_link(&lab, 2, "vrrp.51", true, true, "r2 master in its partition");
    lab.heal(2);
    expect_sole_holder(&lab, vip4(), 1, SETTLE, "healed");
    wait_state(&r2, "VI_1", "BACKUP");
    expect_link(&lab, 2, "vrrp.51", true, false, "r2 backup again");
    assert_eq!(reach_and_read_neighbour(&lab, vip4()), VMAC4);
}

/// Adverts leave from the virtual MAC (once the VIPs are on it), or from the interface's own
/// MAC with `vmac_xmit_base`; gratuitous ARPs always from the virtual MAC.
#[test]
fn vmac_adverts_leave_from_the_virtual_mac_unless_vmac_xmit_base() {
    let lab = Lab::new("vmac-xmit", 1);
    let mut capture = lab.capture(lab.client_ns(), "eth0", "-e vrrp or arp");
    let from_vmac = vmac_v4(150);
    let from_base = VrrpInstance::new("VI_B", "eth0", 60)
        .priority(150)
        .version(3)
        .advert(ADVERT)
        .line("use_vmac")
        .line("vmac_xmit_base")
        .vip("192.0.2.60/24");
    let r1 = start_vipd(&lab, 1, &conf(1, &[from_vmac, from_base]));
    wait_state(&r1, "VI_1", "MASTER");
    wait_state(&r1, "VI_B", "MASTER");
    let seen = wait_until(SETTLE, Duration::from_millis(20), || {
        let packets = capture.packets();
        packets.iter().filter(|p| p.contains("vrid 51,")).count() >= 3
            && packets.iter().filter(|p| p.contains("vrid 60,")).count() >= 3
    });
    let packets = capture.stop();
    assert!(seen.is_some(), "{packets:#?}");
    let base_mac = "02:76:74:00:00:01";
    // A new master's first advert leaves before its VIPs are added, so from eth0: the first
    // frame from the virtual MAC moves the switches' entry, and must find the VIPs there.
    let vrid51: Vec<&String> = packets.iter().filter(|p| p.contains("vrid 51,")).collect();
    for (n, packet) in vrid51.iter().enumerate() {
        let mac = if n == 0 { base_mac } else { VMAC4 };
        assert!(
            packet.contains(&format!(" {mac} >")),
            "advert {n}: {packet}"
        );
    }
    for packet in &packets {
        if packet.contains("vrid 60,") {
            assert!(packet.contains(&format!("{base_mac} >")), "{packet}");
        }
        if packet.contains("Request who-has 192.0.2.60 tell 192.0.2.60") {
            assert!(packet.contains("00:00:5e:00:01:3c >"), "{packet}");
        }
    }
    assert!(
        packets
            .iter()
            .any(|p| p.contains("00:00:5e:00:01:3c >") && p.contains("192.0.2.60")),
        "a gratuitous ARP for VI_B from its virtual MAC: {packets:#?}"
    );
}

fn ifindex(lab: &Lab, router: usize, name: &str) -> Option<u32> {
    let out = lab.exec(
        lab.router_ns(router),
        &format!("cat /sys/class/net/{name}/ifindex"),
    );
    out.stdout.trim().parse().ok()
}

/// A reload that keeps the instance keeps its VMAC (same interface, VIP stays); one that
/// turns `use_vmac` on restarts the instance onto a new VMAC, one that turns it off removes it.
#[test]
fn vmac_follows_reloads() {
    let lab = Lab::new("vmac-reload", 1);
    let r1 = start_vipd(&lab, 1, &conf(1, &[vmac_v4(150)]));
    wait_state(&r1, "VI_1", "MASTER");
    expect_link(&lab, 1, "vrrp.51", true, true, "started");
    let before = ifindex(&lab, 1, "vrrp.51");
    rewrite_conf(&r1, &conf(1, &[vmac_v4(140)]));
    r1.reload();
    wait_instance(&r1, "VI_1", SETTLE, "priority 140", |i| {
        i.base_priority == 140
    });
    assert_eq!(ifindex(&lab, 1, "vrrp.51"), before, "the VMAC stays");
    assert!(lab.addresses(1, "vrrp.51").contains(&vip4()));

    rewrite_conf(&r1, &conf(1, &[v3_ipv4(140)]));
    r1.reload();
    expect_link(&lab, 1, "vrrp.51", false, false, "use_vmac removed");
    expect_sole_holder(&lab, vip4(), 1, SETTLE, "on eth0 now");
    assert!(lab.addresses(1, "eth0").contains(&vip4()));
    expect_ipv4_conf(&lab, 1, "eth0", "arp_ignore", "0", "use_vmac removed");

    rewrite_conf(&r1, &conf(1, &[vmac_v4(140)]));
    r1.reload();
    expect_link(&lab, 1, "vrrp.51", true, true, "use_vmac back");
    expect_sole_holder(&lab, vip4(), 1, SETTLE, "on the VMAC again");
    assert!(lab.addresses(1, "vrrp.51").contains(&vip4()));
    assert!(!lab.addresses(1, "eth0").contains(&vip4()));
}

/// The client's neighbour entry for `vip` on its `eth1` (the second segment), after pinging it.
fn reach_and_read_neighbour_eth1(lab: &Lab, vip: IpAddr) -> String {
    let answered = wait_until(SETTLE, Duration::from_millis(50), || lab.client_ping(vip));
    assert!(answered.is_some(), "the client cannot reach {vip}");
    let out = lab.exec(lab.client_ns(), &format!("ip neigh show {vip} dev eth1"));
    (out.stdout.split_whitespace())
        .skip_while(|w| *w != "lladdr")
        .nth(1)
        .map(str::to_string)
        .unwrap_or_else(|| panic!("no neighbour entry for {vip}: {}", out.stdout))
}

/// A VIP on eth1 with `use_vmac` (vipd) and under `use_vmac_addr` (keepalived 2.2.7): both
/// routers hold it on a VMAC of eth1 called `vrrp.51` with MAC 00:00:5e:00:01:33, so the
/// client's entry never changes across failovers both ways; the VMAC is made again after
/// `ip link del` and removed at stop.
#[test]
fn vmac_for_a_vip_on_another_interface_interoperates_with_use_vmac_addr() {
    let lab = Lab::with_options(
        "vmac-vip",
        LabOptions {
            routers: 2,
            second_segment: true,
        },
    );
    let vip2: IpAddr = "198.51.100.100".parse().unwrap();
    let vipd_instance = |priority| v3_ipv4(priority).vip("198.51.100.100/24 dev eth1 use_vmac");
    let vipd_text = conf(1, &[vipd_instance(150)]);
    let keepalived_instance = v3_ipv4(100)
        .line("use_vmac_addr")
        .vip("198.51.100.100/24 dev eth1");
    lab.exec_ok(
        lab.router_ns(2),
        "sysctl -qw net.ipv4.conf.eth1.arp_announce=2",
    );
    let keepalived = lab.spawn_keepalived(2, &conf(2, &[keepalived_instance]));
    let mut r1 = start_vipd(&lab, 1, &vipd_text);
    expect_sole_holder(&lab, vip2, 1, SETTLE, "election");
    assert!(lab.addresses(1, "vrrp.51").contains(&vip2), "on the VMAC");
    assert!(
        lab.addresses(1, "eth0").contains(&vip4()),
        "the other VIP stays on eth0"
    );
    let text = link_text(&lab, 1, "vrrp.51").expect("r1 has the VMAC");
    assert!(
        text.contains(VMAC4) && text.contains("@eth1") && text.contains("macvlan"),
        "{text}"
    );
    assert_eq!(ipv4_conf(&lab, 1, "eth1", "arp_ignore"), "1");
    assert_eq!(
        reach_and_read_neighbour_eth1(&lab, vip2),
        VMAC4,
        "vipd master"
    );

    // Someone deletes the VMAC: vipd makes it again and puts the VIP back.
    lab.exec_ok(lab.router_ns(1), "ip link del vrrp.51");
    expect_link(&lab, 1, "vrrp.51", true, true, "after ip link del");
    expect_sole_holder(&lab, vip2, 1, SETTLE, "VMAC made again");

    // vipd stops: keepalived takes over with the same MAC; vipd's VMAC is gone.
    assert!(r1.stop().success(), "r1 exit:\n{}", r1.log());
    expect_sole_holder(&lab, vip2, 2, SETTLE, "r1 stopped");
    expect_link(&lab, 1, "vrrp.51", false, false, "r1 stopped");
    expect_ipv4_conf(&lab, 1, "eth1", "arp_ignore", "0", "restored");
    assert_eq!(
        reach_and_read_neighbour_eth1(&lab, vip2),
        VMAC4,
        "keepalived master"
    );

    // vipd comes back and preempts: the client's entry still holds the virtual MAC.
    let r1 = start_vipd(&lab, 1, &vipd_text);
    expect_sole_holder(&lab, vip2, 1, SETTLE, "r1 preempts back");
    wait_state(&r1, "VI_1", "MASTER");
    assert_eq!(
        reach_and_read_neighbour_eth1(&lab, vip2),
        VMAC4,
        "vipd master again"
    );
    assert!(
        !r1.log().contains("ERROR"),
        "no error in vipd's log:\n{}",
        r1.log()
    );
    drop(keepalived);
}

/// Whether this kernel makes ipvlans (CONFIG_IPVLAN; absent on some CI kernels).
fn kernel_has_ipvlan(lab: &Lab) -> bool {
    let ns = lab.router_ns(1);
    let made = lab
        .exec(ns, "ip link add ipvprobe link eth0 type ipvlan mode l2")
        .success;
    if made {
        lab.exec_ok(ns, "ip link del ipvprobe");
    }
    made
}

/// `use_ipvlan` on a kernel without ipvlan: the instance stays in FAULT with an error that
/// names it and says why (keepalived 2.2.7: "Unable to create ipvlan interface", FAULT);
/// the other instance runs. Where the kernel has ipvlan, the ipvlan holds its address and
/// the VIP instead.
#[test]
fn ipvlan_that_cannot_be_created_faults_only_its_instance() {
    let lab = Lab::new("ipvlan-bad", 1);
    let has_ipvlan = kernel_has_ipvlan(&lab);
    let ipvlan = VrrpInstance::new("VI_I", "eth0", 61)
        .priority(150)
        .version(3)
        .advert(ADVERT)
        .line("use_ipvlan ipv61 192.0.2.61/24 private")
        .vip("192.0.2.161/24");
    let fine = VrrpInstance::new("VI_OK", "eth0", 54)
        .priority(150)
        .version(3)
        .advert(ADVERT)
        .vip("192.0.2.54/24");
    let r1 = start_vipd(&lab, 1, &conf(1, &[ipvlan, fine]));
    wait_state(&r1, "VI_OK", "MASTER");
    if has_ipvlan {
        wait_state(&r1, "VI_I", "MASTER");
        let text = link_text(&lab, 1, "ipv61").expect("the ipvlan");
        assert!(
            text.contains("ipvlan") && text.contains("private"),
            "{text}"
        );
        let on = lab.addresses(1, "ipv61");
        assert!(on.contains(&"192.0.2.61".parse().unwrap()), "{on:?}");
        assert!(on.contains(&"192.0.2.161".parse().unwrap()), "{on:?}");
        return;
    }
    eprintln!("this kernel has no ipvlan support: checking the error path only");
    wait_state(&r1, "VI_I", "FAULT");
    let log = r1.log();
    assert!(
        log.contains("VI_I: cannot create ipvlan ipv61 on eth0: ")
            && log.contains("this kernel has no ipvlan support")
            && log.contains("the instance stays in FAULT"),
        "{log}"
    );
    assert!(lab
        .addresses(1, "eth0")
        .contains(&"192.0.2.54".parse().unwrap()));
    assert!(!lab
        .addresses(1, "eth0")
        .contains(&"192.0.2.161".parse().unwrap()));
}

/// A reload that adds a VIP with `use_vmac` on another interface makes its VMAC and puts the
/// VIP there; one that takes it away removes the VMAC and restores that interface's ARP
/// settings; the instance's other VIP stays with the master throughout.
#[test]
fn vip_vmacs_follow_reloads() {
    let lab = Lab::with_options(
        "vmac-vip-reload",
        LabOptions {
            routers: 1,
            second_segment: true,
        },
    );
    let vip2: IpAddr = "198.51.100.100".parse().unwrap();
    let plain = conf(1, &[v3_ipv4(150)]);
    let with_vip_vmac = conf(
        1,
        &[v3_ipv4(150).vip("198.51.100.100/24 dev eth1 use_vmac")],
    );
    let r1 = start_vipd(&lab, 1, &plain);
    wait_state(&r1, "VI_1", "MASTER");
    rewrite_conf(&r1, &with_vip_vmac);
    r1.reload();
    expect_link(&lab, 1, "vrrp.51", true, true, "use_vmac VIP added");
    expect_sole_holder(&lab, vip2, 1, SETTLE, "the new VIP");
    assert!(lab.addresses(1, "vrrp.51").contains(&vip2));
    assert_eq!(ipv4_conf(&lab, 1, "eth1", "arp_ignore"), "1");
    expect_sole_holder(&lab, vip4(), 1, SETTLE, "the other VIP");

    rewrite_conf(&r1, &plain);
    r1.reload();
    expect_link(&lab, 1, "vrrp.51", false, false, "use_vmac VIP removed");
    assert!(lab.holders(vip2).is_empty(), "{vip2} is gone");
    expect_ipv4_conf(&lab, 1, "eth1", "arp_ignore", "0", "use_vmac VIP removed");
    expect_sole_holder(&lab, vip4(), 1, SETTLE, "the other VIP, after");
}

/// A previous master slow to let go (keepalived under load) still holds the VIP on its VMAC
/// of another interface when the new master announces it, and answers those gratuitous ARPs
/// from the same virtual MAC: the switch learns the old master's port last. No advert leaves
/// from a VIP's VMAC to correct that (they go out on the instance's interface), so until its
/// second burst the new master sends a gratuitous ARP there with each advert; the client
/// reaches the VIP as soon as the old master has let go, not `garp_master_delay` later.
#[test]
fn vip_vmac_takes_the_switch_back_from_an_old_master_that_answered_its_announcements() {
    let lab = Lab::with_options(
        "vmac-vip-slow",
        LabOptions {
            routers: 2,
            second_segment: true,
        },
    );
    let vip2: IpAddr = "198.51.100.100".parse().unwrap();
    // r2 is the old master, frozen: the VIP on a VMAC of eth1 as keepalived makes it
    // (accept_local on the VMAC, so its kernel answers ARP requests for its own address).
    lab.exec_ok(
        lab.router_ns(2),
        &format!(
            "sysctl -qw net.ipv4.conf.eth1.arp_ignore=1 net.ipv4.conf.eth1.arp_announce=2 && \
             ip link add vrrp.51 link eth1 address {VMAC4} type macvlan mode private && \
             sysctl -qw net.ipv4.conf.vrrp/51.accept_local=1 net.ipv4.conf.vrrp/51.arp_ignore=1 \
             net.ipv4.conf.vrrp/51.rp_filter=0 && \
             ip addr add 198.51.100.100/24 dev vrrp.51 && ip link set vrrp.51 up"
        ),
    );
    assert_eq!(
        reach_and_read_neighbour_eth1(&lab, vip2),
        VMAC4,
        "old master"
    );
    let mut replies = lab.capture(lab.switch_ns(), "r2s1", "-e arp");
    // The second burst comes too late to matter here.
    let instance = v3_ipv4(150)
        .line("garp_master_delay 60")
        .vip("198.51.100.100/24 dev eth1 use_vmac");
    let r1 = start_vipd(&lab, 1, &conf(1, &[instance]));
    wait_state(&r1, "VI_1", "MASTER");
    let answered = wait_until(SETTLE, Duration::from_millis(20), || {
        (replies.packets().iter())
            .any(|p| p.contains(&format!("Reply 198.51.100.100 is-at {VMAC4}")))
    });
    let seen = replies.stop();
    assert!(
        answered.is_some(),
        "the old master answered no announcement: {seen:#?}"
    );
    // Several adverts later, the old master lets go.
    std::thread::sleep(ADVERT * 5);
    lab.exec_ok(lab.router_ns(2), "ip link del vrrp.51");
    assert_eq!(
        reach_and_read_neighbour_eth1(&lab, vip2),
        VMAC4,
        "the new master"
    );
    assert!(!r1.log().contains("ERROR"), "{}", r1.log());
}

/// A drain started within a Master_Down_Interval of becoming master keeps the old master's
/// VIPs for the whole handover bound after the new master took over (its advert may come
/// from a rival about to yield); at 1 s adverts that is seconds. Nothing may leave from the
/// old master's VMACs meanwhile: a client that resolves the VIPs then (ARP, neighbour
/// solicitation) is answered by the new master only, or the switch would send the VIPs'
/// traffic to the old master's port until the new master's next advert. IPv4 and IPv6 in
/// one pair of daemons.
#[test]
fn vmac_old_master_is_quiet_while_an_answered_handover_lingers() {
    let lab = Lab::new("vmac-quiet", 2);
    let slow = |instance: VrrpInstance| instance.advert(Duration::from_secs(1));
    let instances = |priority| [slow(vmac_v4(priority)), slow(vmac_v6(priority))];
    let r2 = start_vipd(&lab, 2, &conf(2, &instances(100)));
    let r1 = start_vipd(&lab, 1, &conf(1, &instances(150)));
    // Every frame r1 sends from a virtual MAC, as the switch receives it.
    let mut frames = lab.capture(
        lab.switch_ns(),
        "r1s0",
        &format!("-Q in -e ether src {VMAC4} or ether src {VMAC6}"),
    );
    wait_state(&r1, "VI_1", "MASTER");
    wait_state(&r1, "VI_6", "MASTER");
    let socket = r1.socket_path.as_ref().and_then(|p| p.to_str()).unwrap();
    let out = vipd_cli(&["drain", "--all", "--socket", socket]);
    assert!(out.success, "{out:?}");
    let (vip4, vip6) = (vip4(), vip6());
    let taken = lab::wait_until(SETTLE, Duration::from_millis(10), || {
        lab.holders(vip4).contains(&2) && lab.holders(vip6).contains(&2)
    });
    assert!(taken.is_some(), "r2 does not take over:\n{}", r2.log());
    // r1 heard r2's first advert by now.
    std::thread::sleep(Duration::from_millis(300));
    let lingering = |why: &str| {
        for vip in [vip4, vip6] {
            assert!(
                lab.holders(vip).contains(&1),
                "{why}: r1 no longer holds {vip}: the drain came too late to test the long \
                 linger\n{}",
                r1.log()
            );
        }
    };
    lingering("before the client asks");
    // One line per frame (`-e` prints the MACs).
    let from_vmacs = |packets: Vec<String>| -> Vec<String> {
        (packets.into_iter())
            .filter(|p| p.contains("00:00:5e:00:0"))
            .collect()
    };
    let before = from_vmacs(frames.packets()).len();
    lab.exec_ok(lab.client_ns(), "ip neigh flush dev eth0");
    assert!(lab.client_ping(vip4), "{vip4} unreachable");
    assert!(lab.client_ping(vip6), "{vip6} unreachable");
    std::thread::sleep(Duration::from_millis(200));
    lingering("after the client asked");
    let seen = from_vmacs(frames.stop());
    let fdb = lab.exec_ok(lab.switch_ns(), "bridge fdb show br br0");
    assert_eq!(
        seen.get(before..).unwrap_or_default(),
        [] as [String; 0],
        "frames from r1's VMACs while r2 is master:\n{}",
        fdb.lines()
            .filter(|l| l.contains("00:00:5e"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    for (vmac, mac) in [("vrrp.51", VMAC4), ("vrrp.52", VMAC6)] {
        let port = fdb.lines().find(|l| l.starts_with(mac)).unwrap_or_default();
        assert!(port.contains("dev r2s0"), "{vmac}: switch entry {port:?}");
    }

    // Resumed while still handing over: r1 keeps the role and its VMACs serve again (the
    // IPv4 one answers ARP again, the IPv6 one is up with its VIP).
    let out = vipd_cli(&["resume", "--all", "--socket", socket]);
    assert!(out.success, "{out:?}");
    expect_sole_holder(&lab, vip4, 1, SETTLE, "the resumed r1 keeps VI_1");
    expect_sole_holder(&lab, vip6, 1, SETTLE, "the resumed r1 keeps VI_6");
    expect_link(&lab, 1, "vrrp.51", true, true, "resumed");
    expect_link(&lab, 1, "vrrp.52", true, true, "resumed");
    expect_ipv4_conf(&lab, 1, "vrrp.51", "arp_ignore", "1", "resumed");
    lab.exec_ok(lab.client_ns(), "ip neigh flush dev eth0");
    assert!(lab.client_ping(vip4), "{vip4} unreachable after the resume");
    assert!(lab.client_ping(vip6), "{vip6} unreachable after the resume");
    let fdb = lab.exec_ok(lab.switch_ns(), "bridge fdb show br br0");
    for mac in [VMAC4, VMAC6] {
        let port = fdb.lines().find(|l| l.starts_with(mac)).unwrap_or_default();
        assert!(port.contains("dev r1s0"), "resumed: switch entry {port:?}");
    }
    assert!(!r1.log().contains("ERROR"), "{}", r1.log());
}
