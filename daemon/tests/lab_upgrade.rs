//! An upgrade on the master as docs/install.md describes it: `systemctl restart vipd.service`
//! after `systemd-sysext refresh` stops the old vipd with SIGTERM and starts the new binary.
//! The planned handover must keep the VIP answering throughout (needs root).

mod lab;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use lab::keepalived_conf::simple;
use lab::{Lab, Segment};

const ADVERT: Duration = Duration::from_millis(100);
/// How long to wait for an outcome that needs the daemons scheduled (loaded 2-core CI).
const OUTCOME: Duration = Duration::from_secs(10);

#[test]
fn restart_with_a_new_binary_on_the_master_keeps_the_vip_answering() {
    let lab = Lab::new("upgrade", 2);
    let vip: IpAddr = Segment::Main.vip4().into();
    let conf = |router: usize, priority: u8| {
        simple(&format!("r{router}"), priority, 3, ADVERT, "192.0.2.100/24")
    };
    let old = lab::vipd_binary().expect("vipd binary");
    // The binary the refreshed image provides: another file, as after a merge.
    let new = lab.dir().join("vipd-new");
    std::fs::copy(&old, &new).unwrap();

    let mut r1 = lab.spawn_vipd_binary(&old, 1, &conf(1, 150));
    let _r2 = lab.spawn_vipd(2, &conf(2, 100));
    lab.wait_sole_holder(vip, 1, Duration::from_secs(5))
        .expect("r1 (priority 150) should become the only holder");
    // r2 hears a few adverts: a settled backup.
    std::thread::sleep(ADVERT * 4);

    let meter = lab.outage_meter(&[vip], Duration::from_millis(2));
    assert!(
        meter.wait_replies(20, OUTCOME),
        "no replies before the upgrade"
    );
    let started = Instant::now();
    // systemctl restart: stop (SIGTERM, wait for exit), then start the new binary.
    let status = r1.stop();
    assert!(status.success(), "old vipd exit {status:?}:\n{}", r1.log());
    let stopped = started.elapsed();
    // (The client's view of the handover is the meter's; this is the outcome.)
    lab.wait_sole_holder(vip, 2, OUTCOME).unwrap_or_else(|| {
        panic!(
            "the backup should hold the VIP once r1 exited: holders {:?}",
            lab.holders(vip)
        )
    });
    let r1_new = lab.spawn_vipd_binary(&new, 1, &conf(1, 150));
    let back = lab
        .wait_sole_holder(vip, 1, Duration::from_secs(5))
        .expect("the upgraded r1 should preempt the VIP back");
    assert!(
        meter.wait_replies(meter.replies() + 50, OUTCOME),
        "no replies after the upgrade"
    );
    let report = meter.stop();
    eprintln!(
        "upgrade: old vipd exited {stopped:?} after SIGTERM; the new one held the VIP {back:?} \
         after its start\n{report}"
    );
    let target = report.target(vip);
    assert!(
        target.repliers.iter().any(|(_, r)| *r == Some(2)),
        "the backup never answered: {report}\n{}",
        r1_new.log()
    );
    assert_eq!(target.last_replier(), Some(1), "{report}");
    assert!(
        report.longest_outage() < ADVERT * 3,
        "client-visible gap {:?} (>= 3 advert intervals)\n{report}\nold r1:\n{}\nnew r1:\n{}",
        report.longest_outage(),
        r1.log(),
        r1_new.log()
    );
}
