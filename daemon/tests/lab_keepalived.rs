//! Self-tests of the namespace lab, with keepalived as the only VRRP speaker (needs root and
//! /usr/sbin/keepalived). They prove the harness: topology, process runner, outage meter,
//! capture, link and partition helpers, and cleanup.

mod lab;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use lab::keepalived_conf::{KeepalivedConf, VrrpInstance};
use lab::{Lab, LabOptions, Segment};

const ADVERT: Duration = Duration::from_millis(100);
/// How long to wait for an outcome that needs keepalived scheduled (loaded 2-core CI); the
/// waits return as soon as it holds, and what the client saw is judged by the meter.
const OUTCOME: Duration = Duration::from_secs(10);

fn vip4() -> IpAddr {
    Segment::Main.vip4().into()
}

fn vip6() -> IpAddr {
    Segment::Main.vip6().into()
}

/// r1 prio 150, r2 prio 100, VRRPv3 at 100 ms, VIP 192.0.2.100 (and 2001:db8::100 if asked).
fn pair_conf(router: usize, with_ipv6: bool) -> String {
    let priority = if router == 1 { 150 } else { 100 };
    let mut conf = KeepalivedConf::new(&format!("r{router}")).instance(
        VrrpInstance::new("VI_4", "eth0", 51)
            .priority(priority)
            .version(3)
            .advert(ADVERT)
            .vip("192.0.2.100/24"),
    );
    if with_ipv6 {
        conf = conf.instance(
            VrrpInstance::new("VI_6", "eth0", 52)
                .priority(priority)
                .version(3)
                .advert(ADVERT)
                .vip("2001:db8::100/64"),
        );
    }
    conf.render()
}

#[test]
fn topology_addresses_and_reachability() {
    let lab = Lab::new("topology", 2);
    for r in lab.router_indices() {
        let addrs = lab.addresses(r, "eth0");
        assert!(
            addrs.contains(&Segment::Main.router_ip4(r).into()),
            "{addrs:?}"
        );
        assert!(
            addrs.contains(&Segment::Main.router_ip6(r).into()),
            "{addrs:?}"
        );
        assert!(
            addrs
                .iter()
                .any(|a| matches!(a, IpAddr::V6(v6) if v6.segments()[0] == 0xfe80)),
            "no link-local on r{r}: {addrs:?}"
        );
    }
    assert_eq!(Segment::Main.router_ip6(1).to_string(), "2001:db8::11");
    // Carrier and bridge port state of new veths settle asynchronously (link watch): on a
    // loaded machine the first echo on a segment just built can be lost.
    for target in [
        IpAddr::from(Segment::Main.router_ip4(1)),
        IpAddr::from(Segment::Main.router_ip6(2)),
    ] {
        let answered = lab::wait_until(Duration::from_secs(5), Duration::from_millis(50), || {
            lab.client_ping(target)
        });
        assert!(answered.is_some(), "the client cannot reach {target}");
    }
    assert!(lab.holders(vip4()).is_empty());
    // Nothing answers for the VIP yet: the meter must see a gap as long as its run.
    let meter = lab.outage_meter(&[vip4()], Duration::from_millis(2));
    std::thread::sleep(Duration::from_millis(100));
    let report = meter.stop();
    assert_eq!(report.target(vip4()).received, 0, "{report}");
    assert!(
        report.longest_gap() >= Duration::from_millis(100),
        "{report}"
    );
    // A router address answers at once and all the time: every echo but the last ones still
    // in flight is answered, and no gap longer than the meter's own stalls (a loaded CI
    // machine starves its thread for tens of milliseconds at times).
    let router1 = Segment::Main.router_ip4(1).into();
    let meter = lab.outage_meter(&[router1], Duration::from_millis(2));
    std::thread::sleep(Duration::from_millis(200));
    let report = meter.stop();
    let target = report.target(router1);
    assert!(target.received >= 20, "{report}");
    assert!(target.lost() <= 2, "{report}");
    assert!(
        report.longest_outage() < Duration::from_millis(50),
        "{report}; the meter stalled for {:?} at most",
        report.longest_stall
    );
    assert_eq!(target.last_replier(), Some(1), "{report}");
}

#[test]
fn graceful_stop_moves_vip_within_one_second() {
    let lab = Lab::new("graceful", 2);
    let mut r1 = lab.spawn_keepalived(1, &pair_conf(1, false));
    let _r2 = lab.spawn_keepalived(2, &pair_conf(2, false));
    lab.wait_sole_holder(vip4(), 1, Duration::from_secs(5))
        .expect("r1 (priority 150) should become the only holder");
    assert!(lab.client_ping(vip4()), "client cannot reach the VIP on r1");
    // Let r2 hear a few adverts so it is a settled backup.
    std::thread::sleep(ADVERT * 4);

    let meter = lab.outage_meter(&[vip4()], Duration::from_millis(2));
    assert!(
        meter.wait_replies(20, OUTCOME),
        "no replies before failover"
    );
    let stopping = Instant::now();
    r1.signal(nix::sys::signal::Signal::SIGTERM);
    let took = lab
        .wait_sole_holder(vip4(), 2, OUTCOME)
        .expect("r2 should become the only holder after SIGTERM to r1");
    assert!(r1.stop().success(), "keepalived r1 exit:\n{}", r1.log());
    assert!(meter.wait_replies(50, OUTCOME), "no replies after failover");
    let report = meter.stop();
    eprintln!(
        "graceful stop: r2 holds after {took:?} ({:?} since SIGTERM)\n{report}",
        stopping.elapsed()
    );
    let target = report.target(vip4());
    assert_eq!(target.last_replier(), Some(2), "{report}");
    assert!(
        target.repliers.iter().any(|(_, r)| *r == Some(1)),
        "{report}"
    );
    assert!(report.longest_gap() > Duration::from_millis(2), "{report}");
    assert!(report.longest_outage() < Duration::from_secs(1), "{report}");
    assert!(r1.log().contains("Entering MASTER STATE"), "{}", r1.log());
}

#[test]
fn master_link_down_moves_ipv4_and_ipv6_vips() {
    let lab = Lab::new("linkdown", 2);
    let _r1 = lab.spawn_keepalived(1, &pair_conf(1, true));
    let _r2 = lab.spawn_keepalived(2, &pair_conf(2, true));
    for vip in [vip4(), vip6()] {
        lab.wait_sole_holder(vip, 1, Duration::from_secs(5))
            .unwrap_or_else(|| panic!("r1 should hold {vip}"));
    }
    std::thread::sleep(ADVERT * 4);
    let meter = lab.outage_meter(&[vip4(), vip6()], Duration::from_millis(2));
    assert!(
        meter.wait_replies(40, OUTCOME),
        "no replies before link down"
    );

    lab.link_down(1);
    for vip in [vip4(), vip6()] {
        lab.wait_sole_holder(vip, 2, OUTCOME).unwrap_or_else(|| {
            panic!("r2 should be the only holder of {vip} after r1's link went down")
        });
    }
    assert!(
        meter.wait_replies(100, OUTCOME),
        "no replies after failover"
    );
    let report = meter.stop();
    eprintln!("master link down:\n{report}");
    for vip in [vip4(), vip6()] {
        let target = report.target(vip);
        assert_eq!(target.last_replier(), Some(2), "{report}");
        // Detection takes about Master_Down_Interval (3 x 100 ms + skew).
        assert!(target.longest_gap > Duration::from_millis(150), "{report}");
        assert!(
            report.beyond_stall(target.longest_gap) < Duration::from_secs(2),
            "{report}"
        );
    }

    // Link back: r1 (higher priority, preempt) takes the VIPs back.
    lab.link_up(1);
    assert!(lab
        .addresses(1, "eth0")
        .contains(&Segment::Main.router_ip6(1).into()));
    for vip in [vip4(), vip6()] {
        lab.wait_sole_holder(vip, 1, Duration::from_secs(5))
            .unwrap_or_else(|| panic!("r1 should take {vip} back after link up"));
    }
}

#[test]
fn partition_gives_split_brain_and_heal_ends_it() {
    let lab = Lab::new("partition", 2);
    let _r1 = lab.spawn_keepalived(1, &pair_conf(1, false));
    let _r2 = lab.spawn_keepalived(2, &pair_conf(2, false));
    lab.wait_sole_holder(vip4(), 1, Duration::from_secs(5))
        .expect("r1 should hold the VIP");
    lab.partition(1);
    // r1 keeps its link (no FAULT) and stays master; r2 stops hearing it and takes over.
    lab::wait_until(OUTCOME, Duration::from_millis(5), || {
        lab.holders(vip4()) == [1, 2]
    })
    .expect("both routers should hold the VIP while partitioned");
    assert!(lab
        .exec_ok(lab.router_ns(1), "ip link show eth0")
        .contains("LOWER_UP"));
    lab.heal(1);
    lab.wait_sole_holder(vip4(), 1, OUTCOME)
        .expect("after heal only r1 should hold the VIP");
}

#[test]
fn kill9_leaves_the_vip_behind() {
    let lab = Lab::new("kill9", 2);
    let mut r1 = lab.spawn_keepalived(1, &pair_conf(1, false));
    let _r2 = lab.spawn_keepalived(2, &pair_conf(2, false));
    lab.wait_sole_holder(vip4(), 1, Duration::from_secs(5))
        .expect("r1 should hold the VIP");
    let tree = r1.tree_pids();
    assert!(
        tree.len() >= 2,
        "keepalived parent and VRRP child expected: {tree:?}"
    );
    r1.kill9();
    assert!(
        tree.iter().all(|&p| !lab::procfs::is_alive(p)),
        "{tree:?} still alive"
    );
    let took_over = lab::wait_until(OUTCOME, Duration::from_millis(5), || {
        lab.holders(vip4()) == [1, 2]
    });
    assert!(
        took_over.is_some(),
        "r2 takes over while the crashed r1 still has the VIP configured; holders {:?}",
        lab.holders(vip4())
    );
}

#[test]
fn vip_on_second_interface_and_capture_decodes_adverts() {
    let lab = Lab::with_options(
        "second",
        LabOptions {
            routers: 2,
            second_segment: true,
        },
    );
    let vip: IpAddr = Segment::Second.vip4().into();
    let conf = |router: usize, priority: u8| {
        KeepalivedConf::new(&format!("r{router}"))
            .instance(
                VrrpInstance::new("VI_1", "eth0", 61)
                    .priority(priority)
                    .version(2)
                    .advert_ms(1000)
                    .auth_pass("secret")
                    .vip("198.51.100.100/24 dev eth1"),
            )
            .render()
    };
    let mut capture = lab.capture(lab.router_ns(2), "eth0", "vrrp");
    let _r1 = lab.spawn_keepalived(1, &conf(1, 150));
    let _r2 = lab.spawn_keepalived(2, &conf(2, 100));
    lab.wait_sole_holder(vip, 1, Duration::from_secs(8))
        .expect("r1 should hold the VIP on eth1");
    assert!(lab.addresses(1, "eth1").contains(&vip));
    assert!(!lab.addresses(1, "eth0").contains(&vip));
    assert!(
        lab.client_ping(vip),
        "client cannot reach the VIP on segment Second"
    );
    let r1_advert =
        |p: &String| p.contains("192.0.2.11 > 224.0.0.18") && p.contains("vrid 61, prio 150");
    // Waited for (1 s adverts; tcpdump writes them when it runs), at least 1.2 s as before.
    let started = Instant::now();
    lab::wait_until(OUTCOME, Duration::from_millis(50), || {
        started.elapsed() >= Duration::from_millis(1200) && capture.packets().iter().any(r1_advert)
    });
    let packets = capture.stop();
    let from_r1 = packets.iter().filter(|p| r1_advert(p)).count();
    assert!(
        from_r1 >= 1,
        "no advert from r1 decoded:\n{}",
        packets.join("\n")
    );
    assert!(
        packets.iter().any(|p| p.contains("authtype simple")),
        "{}",
        packets.join("\n")
    );
}

#[test]
fn drop_removes_namespaces_and_processes_also_on_panic() {
    let mut names = Vec::new();
    let mut pids = Vec::new();
    {
        let lab = Lab::new("cleanup", 2);
        let r1 = lab.spawn_keepalived(1, &pair_conf(1, false));
        lab.wait_sole_holder(vip4(), 1, Duration::from_secs(5))
            .expect("r1 should hold the VIP");
        let _capture = lab.capture(lab.client_ns(), "eth0", "vrrp");
        let _meter = lab.outage_meter(&[vip4()], Duration::from_millis(5));
        // A process started behind the lab's back is killed too.
        lab.exec_ok(lab.router_ns(2), "sleep 300 >/dev/null 2>&1 &");
        names.extend(lab.namespaces());
        pids.extend(r1.tree_pids());
        let listed = lab::netns_list();
        assert!(
            names.iter().all(|n| listed.contains(n)),
            "{names:?} vs {listed:?}"
        );
        std::mem::forget(r1); // only the lab's Drop is left to kill it
    }
    let panicked = std::panic::catch_unwind(|| {
        let lab = Lab::new("cleanup-panic", 1);
        let _r1 = lab.spawn_keepalived(1, &pair_conf(1, false));
        std::panic::panic_any((lab.namespaces(), lab.dir().to_owned()));
    });
    let (panic_names, kept_dir) = *panicked
        .expect_err("the closure panics")
        .downcast::<(Vec<String>, std::path::PathBuf)>()
        .expect("payload");
    names.extend(panic_names);
    // A panicking lab keeps its files for diagnosis; this panic was deliberate.
    assert!(kept_dir.join("..").exists());
    let _ = std::fs::remove_dir_all(kept_dir);

    let listed = lab::netns_list();
    let left: Vec<_> = names.iter().filter(|n| listed.contains(n)).collect();
    assert!(left.is_empty(), "namespaces left behind: {left:?}");
    assert!(!pids.is_empty());
    let alive: Vec<_> = pids.iter().filter(|&&p| lab::procfs::is_alive(p)).collect();
    assert!(alive.is_empty(), "processes left behind: {alive:?}");
}
