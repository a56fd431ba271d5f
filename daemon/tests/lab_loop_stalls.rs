//! Nothing may stall vipd's event loop (needs root): the adverts of every instance keep their
//! schedule while another instance adds or removes thousands of VIPs, and while nobody reads
//! vipd's log output. A stall longer than a backup's Master_Down_Interval makes the peer take
//! over instances whose master is alive: a split brain.

mod lab;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use lab::keepalived_conf::{KeepalivedConf, VrrpInstance};
use lab::{Lab, Segment};

/// Advert interval of the instance that must not be disturbed.
const FAST: Duration = Duration::from_millis(100);

fn fast_vip() -> IpAddr {
    Segment::Main.vip4().into()
}

/// `FAST` (VRID 51, 100 ms, v3) at `priority`, and, if `big` is given, `BIG` (VRID 60, 1 s, v3,
/// IPv6) at that priority with `vips` addresses (one in the adverts, the rest excluded, as
/// people put whole prefixes in).
fn conf(router: usize, priority: u8, big: Option<u8>, vips: usize) -> String {
    let fast = VrrpInstance::new("FAST", "eth0", 51)
        .priority(priority)
        .version(3)
        .advert(FAST)
        .vip("192.0.2.100/24");
    let mut conf = KeepalivedConf::new(&format!("r{router}")).instance(fast);
    if let Some(priority) = big {
        let mut big = VrrpInstance::new("BIG", "eth0", 60)
            .priority(priority)
            .version(3)
            .advert(Duration::from_secs(1))
            .vip("2001:db8:60::1/64");
        big.extra.push("virtual_ipaddress_excluded {".into());
        for n in 0..vips {
            big.extra.push(format!(
                "    2001:db8:61::{:x}:{:x}/128",
                n / 0x1000,
                n % 0x1000
            ));
        }
        big.extra.push("}".into());
        conf = conf.instance(big);
    }
    conf.render()
}

fn instance_status(daemon: &lab::Daemon, name: &str) -> Option<vipd::control::InstanceStatus> {
    lab::vipd_status(daemon)?
        .instances
        .into_iter()
        .find(|i| i.name == name)
}

/// The largest gap between r1's FAST adverts in the capture.
fn largest_gap(packets: &[String], source: &str) -> Option<Duration> {
    let times: Vec<f64> = packets
        .iter()
        .filter(|p| p.contains(&format!("{source} > 224.0.0.18")) && p.contains("vrid 51"))
        .filter_map(|p| {
            let stamp = p.split_whitespace().next()?;
            let mut parts = stamp.split(':');
            let (h, m, s) = (parts.next()?, parts.next()?, parts.next()?);
            Some(
                h.parse::<f64>().ok()? * 3600.0
                    + m.parse::<f64>().ok()? * 60.0
                    + s.parse::<f64>().ok()?,
            )
        })
        .collect();
    times
        .windows(2)
        .map(|w| Duration::from_secs_f64((w[1] - w[0]).max(0.0)))
        .max()
}

/// r1 is FAST's master (100 ms adverts) and takes over BIG, with thousands of VIPs, when r2
/// gives it up, then hands it back: r2, FAST's backup, must never take FAST over meanwhile.
#[test]
fn many_vips_taking_over_do_not_stall_the_other_instances_adverts() {
    let vips: usize = std::env::var("VIPD_STALL_VIPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let lab = Lab::new("stall_vips", 2);
    let r1 = lab.spawn_vipd(1, &conf(1, 200, Some(100), vips));
    let r2 = lab.spawn_vipd(2, &conf(2, 100, Some(200), vips));
    assert!(
        lab.wait_sole_holder(fast_vip(), 1, Duration::from_secs(20))
            .is_some(),
        "r1 never became FAST's only master:\n{}\n{}",
        r1.log(),
        r2.log()
    );
    let settled = lab::wait_until(Duration::from_secs(60), Duration::from_millis(200), || {
        instance_status(&r2, "BIG").is_some_and(|i| i.state == "MASTER")
            && instance_status(&r1, "BIG").is_some_and(|i| i.state == "BACKUP")
            && lab.addresses(2, "eth0").len() > vips
    });
    assert!(settled.is_some(), "BIG did not settle on r2:\n{}", r2.log());
    let before = instance_status(&r2, "FAST")
        .expect("status of r2")
        .transitions;
    let mut capture = lab.capture(lab.router_ns(2), "eth0", "vrrp");
    let source = Segment::Main.router_ip4(1).to_string();
    // r2 gives BIG up (priority 0): r1 adds every VIP.
    let started = Instant::now();
    std::fs::write(r2.conf_path.as_ref().unwrap(), conf(2, 100, None, vips)).unwrap();
    r2.reload();
    let took = lab::wait_until(Duration::from_secs(60), Duration::from_millis(100), || {
        instance_status(&r1, "BIG").is_some_and(|i| i.state == "MASTER")
    });
    assert!(took.is_some(), "r1 did not take BIG over:\n{}", r1.log());
    let added = lab::wait_until(Duration::from_secs(60), Duration::from_millis(100), || {
        lab.addresses(1, "eth0").len() > vips
    });
    eprintln!(
        "r1 took BIG over and added {vips} VIPs within {:?}",
        added.map(|_| started.elapsed())
    );
    std::thread::sleep(Duration::from_secs(2));
    // r2 takes BIG back (preempts): r1 removes every VIP.
    let started = Instant::now();
    std::fs::write(
        r2.conf_path.as_ref().unwrap(),
        conf(2, 100, Some(200), vips),
    )
    .unwrap();
    r2.reload();
    let removed = lab::wait_until(Duration::from_secs(60), Duration::from_millis(100), || {
        lab.addresses(1, "eth0").len() < vips
    });
    eprintln!(
        "r1 removed them within {:?}",
        removed.map(|_| started.elapsed())
    );
    std::thread::sleep(Duration::from_secs(2));
    let packets = capture.stop();
    let gap = largest_gap(&packets, &source);
    eprintln!("largest gap between r1's FAST adverts: {gap:?}");
    let after = instance_status(&r2, "FAST")
        .expect("status of r2")
        .transitions;
    assert_eq!(
        after,
        before,
        "r2 took FAST over while r1 added or removed BIG's VIPs (largest advert gap {gap:?}):\n{}",
        r2.log()
    );
}
