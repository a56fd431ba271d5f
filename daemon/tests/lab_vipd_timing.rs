//! Timers under load: what a backup does when it was not scheduled for a while (needs root).

mod lab;

use std::net::IpAddr;
use std::time::Duration;

use lab::keepalived_conf::simple;
use lab::{Lab, Segment};
use nix::sys::signal::Signal;

fn vip() -> IpAddr {
    Segment::Main.vip4().into()
}

fn transitions(daemon: &lab::Daemon) -> Option<u64> {
    lab::vipd_status(daemon).map(|s| s.instances.iter().map(|i| i.transitions).sum())
}

/// A backup stopped (SIGSTOP) for longer than Master_Down_Interval while the master keeps
/// advertising finds, on waking, both its timer expired and the master's adverts queued on
/// its socket: it must hear the adverts first and stay backup.
#[test]
fn paused_backup_hears_queued_adverts_before_its_master_down_timer() {
    let lab = Lab::new("paused_backup", 2);
    let advert = Duration::from_millis(100);
    let r1 = lab.spawn_vipd(1, &simple("r1", 150, 3, advert, "192.0.2.100/24"));
    let r2 = lab.spawn_vipd(2, &simple("r2", 100, 3, advert, "192.0.2.100/24"));
    assert!(
        lab.wait_sole_holder(vip(), 1, Duration::from_secs(10))
            .is_some(),
        "r1 never became the only master"
    );
    let settled = lab::wait_until(Duration::from_secs(10), Duration::from_millis(50), || {
        transitions(&r2).is_some()
    });
    assert!(settled.is_some(), "r2 does not answer status");
    std::thread::sleep(advert * 5);
    let before = transitions(&r2).expect("status of r2");
    for _ in 0..5 {
        r2.signal(Signal::SIGSTOP);
        // Well past Master_Down_Interval (3 x 100 ms + skew), a few adverts queue up.
        std::thread::sleep(Duration::from_millis(700));
        r2.signal(Signal::SIGCONT);
        std::thread::sleep(advert * 5);
    }
    let after = transitions(&r2).expect("status of r2");
    assert_eq!(
        after,
        before,
        "r2 changed state after waking with adverts queued:\n{}",
        r2.log()
    );
    assert_eq!(lab.holders(vip()), [1]);
    drop(r1);
}
