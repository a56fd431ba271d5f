//! Fault injection in the namespace lab (needs root): what operators, kernels and broken
//! scripts do to a running vipd pair. Each test ends asserting the outcome that matters:
//! exactly one router holds the VIP, `vipd status` agrees (one MASTER), and the VIP answers
//! the client.

mod lab;
mod lab_vipd_support;

use std::io::Write;
use std::net::IpAddr;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use lab::{Daemon, Lab, LabOptions, Segment};
use lab_vipd_support::*;

/// Generous bound for outcomes on a loaded 2-core machine.
const OUTCOME: Duration = Duration::from_secs(15);

/// Exactly one router holds `vip`, exactly one of `daemons` reports VI_1 MASTER and it is
/// that router (`expected`, when given), the same over three polls in a row, and the VIP
/// answers the client. Returns the master's router index.
fn expect_master_answering(
    lab: &Lab,
    vip: IpAddr,
    daemons: &[&Daemon],
    expected: Option<usize>,
    why: &str,
) -> usize {
    let mut last = String::new();
    let mut streak: Option<(usize, u32)> = None;
    let settled = lab::wait_until(OUTCOME, Duration::from_millis(50), || {
        let holders = lab.holders(vip);
        let masters: Vec<usize> = daemons
            .iter()
            .filter(|d| {
                lab::vipd_status(d).is_some_and(|s| {
                    s.instances
                        .iter()
                        .any(|i| i.name == "VI_1" && i.state == "MASTER")
                })
            })
            .map(|d| d.router)
            .collect();
        last = format!("holders {holders:?}, masters {masters:?}");
        let single = (holders.len() == 1 && masters == holders)
            .then(|| holders[0])
            .filter(|m| expected.is_none_or(|e| e == *m));
        streak = match (single, streak) {
            (Some(m), Some((s, n))) if s == m => Some((m, n + 1)),
            (Some(m), _) => Some((m, 1)),
            (None, _) => None,
        };
        streak.is_some_and(|(_, n)| n >= 3)
    });
    assert!(settled.is_some(), "{why}: no single master ({last})");
    let master = streak.map_or(0, |(m, _)| m);
    let answered = lab::wait_until(OUTCOME, Duration::from_millis(100), || lab.client_ping(vip));
    assert!(answered.is_some(), "{why}: {vip} does not answer");
    master
}

fn expect_one_master_answering(lab: &Lab, vip: IpAddr, daemons: &[&Daemon], why: &str) -> usize {
    expect_master_answering(lab, vip, daemons, None, why)
}

/// The pair every test starts from: r1 (150) master, r2 (100) backup, v3 at 100 ms.
fn pair(lab: &Lab) -> (Daemon, Daemon) {
    let r1 = start_vipd(lab, 1, &conf(1, &[v3_ipv4(150)]));
    let r2 = start_vipd(lab, 2, &conf(2, &[v3_ipv4(100)]));
    expect_sole_holder(lab, vip4(), 1, SETTLE, "election");
    (r1, r2)
}

#[test]
fn interface_deleted_and_recreated_on_master_and_backup_ends_with_one_master() {
    let lab = Lab::new("faults-recreate", 2);
    let (r1, r2) = pair(&lab);

    // The master's interface goes: FAULT, r2 takes over; it comes back (new ifindex): r1
    // preempts again through a socket on the new interface.
    lab.delete_interface(1, Segment::Main);
    expect_sole_holder(&lab, vip4(), 2, OUTCOME, "r1's eth0 deleted");
    lab.recreate_interface(1, Segment::Main);
    // r1 (150) preempts again.
    expect_master_answering(&lab, vip4(), &[&r1, &r2], Some(1), "r1's eth0 back");

    // The backup's: it must hear r1 again on the new interface, or it would take over too.
    let before = instance(&r2, "VI_1").adverts_received;
    lab.delete_interface(2, Segment::Main);
    lab.recreate_interface(2, Segment::Main);
    wait_instance(&r2, "VI_1", OUTCOME, "a backup hearing r1 again", |i| {
        i.state == "BACKUP" && i.adverts_received > before + 5
    });
    expect_stays_sole_holder(&lab, vip4(), 1, ADVERT * 10);
    expect_one_master_answering(&lab, vip4(), &[&r1, &r2], "r2's eth0 back");
}

#[test]
fn rapid_link_flaps_end_with_one_master() {
    let lab = Lab::new("faults-flaps", 2);
    let (r1, r2) = pair(&lab);
    for router in [1, 2] {
        for round in 0..25 {
            lab.link_down(router);
            std::thread::sleep(Duration::from_millis(5 + (round * 7) % 40));
            lab.link_up(router);
            std::thread::sleep(Duration::from_millis(5 + (round * 13) % 60));
        }
    }
    // r1 (150) is master once its link is stable.
    expect_master_answering(&lab, vip4(), &[&r1, &r2], Some(1), "after 50 flaps");
    expect_stays_sole_holder(&lab, vip4(), 1, ADVERT * 10);
}

/// VI_1 runs VRRP on eth0 and holds 198.51.100.100 on eth1 (`dev eth1`).
fn dev_vip_pair(lab: &Lab) -> (Daemon, Daemon, IpAddr) {
    let vip: IpAddr = Segment::Second.vip4().into();
    let instance = |priority| v3_ipv4(priority).vip("198.51.100.100/24 dev eth1");
    let r1 = start_vipd(lab, 1, &conf(1, &[instance(150)]));
    let r2 = start_vipd(lab, 2, &conf(2, &[instance(100)]));
    expect_sole_holder(lab, vip, 1, SETTLE, "election");
    (r1, r2, vip)
}

fn second_segment_lab(name: &str) -> Lab {
    Lab::with_options(
        name,
        LabOptions {
            routers: 2,
            second_segment: true,
        },
    )
}

#[test]
fn dev_vip_interface_flushed_while_master_gets_its_vip_back() {
    let lab = second_segment_lab("faults-devflush");
    let (r1, r2, vip) = dev_vip_pair(&lab);
    lab.exec_ok(lab.router_ns(1), "ip addr flush dev eth1");
    // r1 is still master on eth0 and restores the VIP on eth1.
    expect_sole_holder(&lab, vip, 1, OUTCOME, "eth1 flushed on the master");
    expect_one_master_answering(&lab, vip, &[&r1, &r2], "after the flush");
    assert!(lab.addresses(1, "eth1").contains(&vip));
}

#[test]
fn dev_vip_interface_deleted_and_recreated_while_master_gets_its_vip_back() {
    let lab = second_segment_lab("faults-devdel");
    let (r1, r2, vip) = dev_vip_pair(&lab);
    lab.delete_interface(1, Segment::Second);
    // VRRP still runs on eth0: r1 stays master although its VIP's interface is gone.
    expect_stays_sole_holder(&lab, vip4(), 1, ADVERT * 5);
    lab.recreate_interface(1, Segment::Second);
    expect_sole_holder(&lab, vip, 1, OUTCOME, "eth1 re-created on the master");
    expect_one_master_answering(&lab, vip, &[&r1, &r2], "after eth1 came back");
}

#[test]
fn netlink_event_storm_keeps_one_master_and_vipd_still_follows_events() {
    let lab = Lab::new("faults-storm", 2);
    let (r1, r2) = pair(&lab);
    let before = instance(&r1, "VI_1");
    let meter = lab.outage_meter(&[vip4()], Duration::from_millis(5));
    assert!(
        meter.wait_replies(10, SETTLE),
        "no replies before the storm"
    );
    // 20000 address changes and 400 link flaps on a spare interface of the master, as fast
    // as `ip -batch` goes: far more than a netlink socket buffers.
    let mut batch =
        String::from("link add storm0 type veth peer name storm1\nlink set storm0 up\n");
    for round in 0..10_000u32 {
        let addr = format!("203.0.113.{}/32", round % 250 + 1);
        batch.push_str(&format!(
            "addr add {addr} dev storm0\naddr del {addr} dev storm0\n"
        ));
        if round % 50 == 0 {
            batch.push_str("link set storm0 down\nlink set storm0 up\n");
        }
    }
    let file = lab.dir().join("storm.batch");
    std::fs::write(&file, batch).expect("write batch");
    for _ in 0..2 {
        lab.exec_ok(
            lab.router_ns(1),
            &format!(
                "ip -force -batch {} >/dev/null 2>&1; ip link del storm0",
                file.display()
            ),
        );
    }
    let report = meter.stop();
    // On a busy machine the storm (the `ip` process and the kernel) can starve vipd long
    // enough for r2 to take over for a moment; r1 must stay master throughout and win back
    // the clients (it announces the VIPs again when it hears r2 advertise as master).
    eprintln!("during the storm: {report}");
    let after = instance(&r1, "VI_1");
    assert_eq!(after.state, "MASTER", "{after:#?}");
    assert_eq!(after.transitions, before.transitions, "{}", r1.log());
    expect_one_master_answering(&lab, vip4(), &[&r1, &r2], "after the storm");
    assert_eq!(lab.holders(vip4()), [1]);
    // vipd still follows events after the overflow: a VIP deleted by hand comes back.
    lab.exec_ok(lab.router_ns(1), "ip addr del 192.0.2.100/24 dev eth0");
    expect_sole_holder(
        &lab,
        vip4(),
        1,
        OUTCOME,
        "VIP deleted by hand after the storm",
    );
    assert!(r1.log().contains("MASTER"), "{}", r1.log());
}

#[test]
fn sigkill_and_restart_loops_of_the_master_end_with_one_master() {
    let lab = Lab::new("faults-kill9", 2);
    let text = conf(1, &[v3_ipv4(150)]);
    let (mut r1, r2) = pair(&lab);
    for round in 0..6u64 {
        r1.kill9();
        // Sometimes back at once (the VIP it left behind is still there), sometimes after r2
        // took over.
        std::thread::sleep(Duration::from_millis(round * 90));
        r1 = start_vipd(&lab, 1, &text);
        std::thread::sleep(Duration::from_millis(50 + round * 40));
    }
    expect_master_answering(&lab, vip4(), &[&r1, &r2], Some(1), "after 6 kill loops");
    expect_stays_sole_holder(&lab, vip4(), 1, ADVERT * 10);
}

#[test]
fn sighup_and_a_second_sigterm_during_a_handover_stop_at_once_and_r2_takes_over() {
    use nix::sys::signal::Signal;
    let lab = Lab::new("faults-signals", 2);
    let (mut r1, r2) = pair(&lab);
    let meter = lab.outage_meter(&[vip4()], Duration::from_millis(2));
    assert!(meter.wait_replies(10, SETTLE), "no replies before the stop");
    let stop = Instant::now();
    r1.signal(Signal::SIGTERM);
    r1.signal(Signal::SIGHUP);
    std::thread::sleep(Duration::from_millis(2));
    r1.signal(Signal::SIGHUP);
    r1.signal(Signal::SIGTERM);
    let exited = lab::wait_until(OUTCOME, Duration::from_millis(5), || !r1.is_running());
    assert!(exited.is_some(), "r1 did not stop:\n{}", r1.log());
    let took = stop.elapsed();
    // A second SIGTERM stops at once: well before the handover bound (3 x 100 ms + 1 s).
    assert!(
        took < Duration::from_millis(1300),
        "r1 took {took:?} to stop"
    );
    assert!(r1.log().contains("again: stopping at once"), "{}", r1.log());
    expect_one_master_answering(&lab, vip4(), &[&r2], "r1 stopped");
    drop(meter);

    // Without the second SIGTERM the SIGHUP is ignored and the handover completes.
    let mut r1 = start_vipd(&lab, 1, &conf(1, &[v3_ipv4(150)]));
    expect_sole_holder(&lab, vip4(), 1, OUTCOME, "r1 back");
    r1.signal(Signal::SIGTERM);
    r1.signal(Signal::SIGHUP);
    let exited = lab::wait_until(OUTCOME, Duration::from_millis(5), || !r1.is_running());
    assert!(exited.is_some(), "r1 did not stop:\n{}", r1.log());
    assert!(
        !r1.log().contains("reload done"),
        "reloaded while stopping:\n{}",
        r1.log()
    );
    expect_one_master_answering(&lab, vip4(), &[&r2], "handover to r2");
}

/// Processes named `name` in the router's namespace.
fn processes_named(lab: &Lab, router: usize, name: &str) -> Vec<i32> {
    let pids = lab::run(&["ip", "netns", "pids", lab.router_ns(router)]).stdout;
    pids.split_whitespace()
        .filter_map(|p| p.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|comm| comm.trim() == name)
        })
        .collect()
}

#[test]
fn check_program_that_forks_and_hangs_is_killed_with_its_children() {
    let lab = Lab::new("faults-forkhang", 2);
    let script = lab.write_script(
        "fork-and-hang.sh",
        "#!/bin/sh\nsleep 600 &\nsleep 601 &\nsleep 602\n",
    );
    let native = |router: usize, priority: u8| {
        format!(
            "[global]\nrouter_id = \"r{router}\"\nvrrp_version = 3\n\n[[instance]]\n\
             name = \"VI_1\"\ninterface = \"eth0\"\nvrid = 51\npriority = {priority}\n\
             advert_interval = \"100ms\"\nvips = [\"192.0.2.100/24\"]\n\
             track_checks = [{{ check = \"hang\" }}]\n\n[[check]]\nname = \"hang\"\n\
             kind = \"exec\"\ncommand = \"{}\"\ninterval = \"300ms\"\ntimeout = \"200ms\"\n\
             weight = -60\n",
            script.display()
        )
    };
    let mut r1 = lab.spawn_vipd_toml(1, &native(1, 150));
    let r2 = start_vipd(&lab, 2, &conf(2, &[v3_ipv4(100)]));
    // Every run times out: r1 at 90, r2 master.
    expect_sole_holder(&lab, vip4(), 2, OUTCOME, "the check of r1 hangs");
    // Runs keep timing out for a while; what they forked must not pile up.
    let mut most = 0;
    let watch = Instant::now();
    while watch.elapsed() < Duration::from_secs(3) {
        most = most.max(processes_named(&lab, 1, "sleep").len());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        most <= 6,
        "{most} sleep processes at once: timed-out runs leave their children behind"
    );
    expect_one_master_answering(&lab, vip4(), &[&r1, &r2], "r1's check hangs");
    assert!(instance(&r1, "VI_1").effective_priority == 90);
    r1.stop();
    let gone = lab::wait_until(OUTCOME, Duration::from_millis(50), || {
        processes_named(&lab, 1, "sleep").is_empty()
    });
    assert!(
        gone.is_some(),
        "children of the check outlive vipd: {:?}",
        processes_named(&lab, 1, "sleep")
    );
}

fn open_fds(pid: i32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

#[test]
fn control_clients_that_connect_and_never_read_cost_bounded_fds_and_stall_nothing() {
    let lab = Lab::new("faults-control", 2);
    let (r1, r2) = pair(&lab);
    let socket = r1.socket_path.clone().expect("socket");
    let baseline = open_fds(r1.pid());
    let before = instance(&r1, "VI_1");
    // 300 clients: half ask for the status and never read it, half never say anything.
    let mut clients = Vec::new();
    for n in 0..300 {
        let Ok(mut stream) = UnixStream::connect(&socket) else {
            continue;
        };
        if n % 2 == 0 {
            let _ = stream.write_all(b"status\n");
        }
        clients.push(stream);
    }
    let fds_under_load = open_fds(r1.pid());
    // A well-behaved client still gets its answer, and the protocol did not notice.
    let asked = Instant::now();
    let report = status(&r1);
    let answer_took = asked.elapsed();
    // Idle clients hold the daemon's client slots for its 2 s read timeout at most; the
    // client tries again meanwhile (generous bound for a loaded machine).
    assert!(
        answer_took < Duration::from_secs(8),
        "status took {answer_took:?}"
    );
    expect_stays_sole_holder(&lab, vip4(), 1, ADVERT * 10);
    let after = instance(&r1, "VI_1");
    assert_eq!(after.transitions, before.transitions, "{after:#?}");
    assert_eq!(report.instances.len(), 1);
    drop(clients);
    assert!(
        fds_under_load <= baseline + 40,
        "300 idle control clients held {fds_under_load} fds (baseline {baseline})"
    );
    let back = lab::wait_until(OUTCOME, Duration::from_millis(50), || {
        open_fds(r1.pid()) <= baseline + 2
    });
    assert!(
        back.is_some(),
        "fds stay at {} after the clients left (baseline {baseline})",
        open_fds(r1.pid())
    );
    expect_one_master_answering(&lab, vip4(), &[&r1, &r2], "after the control flood");
}
