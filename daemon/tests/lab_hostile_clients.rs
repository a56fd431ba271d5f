//! Red-team round 4: hostile local clients of a master's control socket (needs root). While
//! they run, the master's adverts keep their schedule (its backup never takes over) and an
//! honest `vipd status` is still answered:
//!
//! - event streams (`vipd events --snapshot`) that never read, holding every watcher slot
//!   and more, while drains and resumes make events;
//! - requests whose replies are never read, connections that send nothing, a byte a
//!   second (slowloris), a megabyte without a newline, and a tight loop of status requests.
//!
//! What it found: every drain and resume synced the drain file on the event loop (twice:
//! the file and its directory). On this busy disk a sync took up to 0.37 s, the master's
//! adverts stopped for as long and its backup took over (4 runs of 7). The file is now
//! written on a blocking thread and the drain applied once it is on disk. A FIFO at the
//! temporary file's name blocked that write for good (the second test), and so did a user
//! database that hangs: the asking user's name was looked up on the loop (the third).

mod hostile_frames;
mod lab;
mod lab_vipd_support;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hostile_frames::{advert_gaps, gap_summary};
use lab::keepalived_conf::VrrpInstance;
use lab::Lab;
use lab_vipd_support::*;

/// `n` v3 instances VI_0.. (VRIDs 100.., VIPs 192.0.2.150..), 100 ms adverts.
fn instances(n: usize, priority: u8) -> Vec<VrrpInstance> {
    (0..n)
        .map(|i| {
            VrrpInstance::new(&format!("VI_{i}"), "eth0", 100 + i as u8)
                .priority(priority)
                .version(3)
                .advert(ADVERT)
                .vip(&format!("192.0.2.{}/24", 150 + i))
        })
        .collect()
}

const INSTANCES: usize = 20;
const FLOOD: Duration = Duration::from_secs(5);

/// (name, state, transitions) of every instance but VI_X.
fn transitions(daemon: &lab::Daemon) -> Vec<(String, String, u64)> {
    (status(daemon).instances.into_iter())
        .filter(|i| i.name != "VI_X")
        .map(|i| (i.name, i.state, i.transitions))
        .collect()
}

fn adverts_sent(daemon: &lab::Daemon) -> u64 {
    (status(daemon).instances.iter())
        .filter(|i| i.name != "VI_X")
        .map(|i| i.adverts_sent)
        .sum()
}

fn rss_kib(pid: i32) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    (text.lines())
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Runs `f` on a thread until `stop`, counting its rounds.
fn hostile(
    stop: &Arc<AtomicBool>,
    rounds: &Arc<AtomicU64>,
    socket: &Path,
    f: impl Fn(&Path, &AtomicBool) + Send + 'static,
) -> std::thread::JoinHandle<()> {
    let (stop, rounds, socket) = (stop.clone(), rounds.clone(), socket.to_path_buf());
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            f(&socket, &stop);
            rounds.fetch_add(1, Ordering::Relaxed);
        }
    })
}

#[test]
fn hostile_control_clients_neither_delay_adverts_nor_lock_out_status() {
    let lab = Lab::new("h4-clients", 2);
    // r1 also runs VI_X alone: drained hard and resumed, it makes events on r1.
    let mut r1_instances = instances(INSTANCES, 150);
    r1_instances.push(
        VrrpInstance::new("VI_X", "eth0", 99)
            .priority(150)
            .version(3)
            .advert(ADVERT)
            .vip("192.0.2.149/24"),
    );
    let r1 = start_vipd(&lab, 1, &conf(1, &r1_instances));
    let r2 = start_vipd(&lab, 2, &conf(2, &instances(INSTANCES, 100)));
    let vip = |i: usize| -> std::net::IpAddr { format!("192.0.2.{}", 150 + i).parse().unwrap() };
    for i in 0..INSTANCES {
        expect_sole_holder(&lab, vip(i), 1, SETTLE, "election");
    }
    for i in 0..INSTANCES {
        wait_instance(&r2, &format!("VI_{i}"), SETTLE, "settled backup", |s| {
            s.state == "BACKUP" && s.adverts_received >= 3
        });
    }
    let socket = r1.socket_path.clone().expect("control socket");
    let before = (transitions(&r1), transitions(&r2));
    let (sent_before, rss_before) = (adverts_sent(&r1), rss_kib(r1.pid()));

    let r1_mac = lab::Segment::Main.router_mac_text(1);
    let mut adverts = lab.capture(
        lab.router_ns(2),
        "eth0",
        &format!("ip proto 112 and ether src {r1_mac} and ip[21] == 100"),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let rounds = Arc::new(AtomicU64::new(0));
    let mut threads = Vec::new();
    // Event streams that never read: 24 (more than the watcher slots), each held open.
    let mut streams = Vec::new();
    for _ in 0..24 {
        if let Ok(mut s) = UnixStream::connect(&socket) {
            let _ = s.write_all(b"{\"request\":\"events\",\"snapshot\":true}\n");
            streams.push(s);
        }
    }
    // Status requests whose replies are never read, kept open.
    threads.push(hostile(&stop, &rounds, &socket, |socket, stop| {
        let mut held = Vec::new();
        for _ in 0..8 {
            if let Ok(mut s) = UnixStream::connect(socket) {
                let _ = s.write_all(b"status\n");
                held.push(s);
            }
        }
        for _ in 0..20 {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }));
    // Silent connections and a byte a second.
    threads.push(hostile(&stop, &rounds, &socket, |socket, stop| {
        let mut held: Vec<UnixStream> = (0..8)
            .filter_map(|_| UnixStream::connect(socket).ok())
            .collect();
        for _ in 0..3 {
            for s in &mut held {
                let _ = s.write_all(b"s");
            }
            if stop.load(Ordering::Relaxed) {
                break;
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    }));
    // A megabyte without a newline.
    threads.push(hostile(&stop, &rounds, &socket, |socket, _| {
        if let Ok(mut s) = UnixStream::connect(socket) {
            let _ = s.set_write_timeout(Some(Duration::from_secs(1)));
            let _ = s.write_all(&vec![b'x'; 1 << 20]);
        }
    }));
    // A tight loop of status requests, replies read.
    for _ in 0..2 {
        threads.push(hostile(&stop, &rounds, &socket, |socket, _| {
            if let Ok(mut s) = UnixStream::connect(socket) {
                let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                let _ = s.write_all(b"status\n");
                let mut reply = Vec::new();
                let _ = s.read_to_end(&mut reply);
            }
        }));
    }
    // Events while the streams are stuck: VI_X drained hard (backup) and resumed (master).
    let cli = |verb: &str| {
        let out = vipd_cli(&[verb, "VI_X", "--socket", socket.to_str().unwrap()]);
        assert!(out.success, "vipd {verb}: {}", out.stderr);
    };
    let started = Instant::now();
    let mut honest = Vec::new();
    while started.elapsed() < FLOOD {
        let asked = Instant::now();
        let out = vipd_cli(&["status", "--socket", socket.to_str().unwrap(), "--json"]);
        honest.push((asked.elapsed(), out.success));
        let out = vipd_cli(&[
            "drain",
            "--hard",
            "VI_X",
            "--socket",
            socket.to_str().unwrap(),
        ]);
        assert!(out.success, "vipd drain: {}", out.stderr);
        cli("resume");
        std::thread::sleep(Duration::from_millis(200));
    }
    let took = started.elapsed();
    let events = instance(&r1, "VI_X").transitions;
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().expect("hostile thread");
    }
    drop(streams);
    std::thread::sleep(ADVERT * 3);
    let lines = adverts.stop();
    let gaps = advert_gaps(&lines);
    let longest = (gaps.iter().enumerate()).max_by_key(|(_, g)| **g);
    println!(
        "r1's adverts of VI_0 as r2 saw them: {}; longest before {:?}",
        gap_summary(&gaps),
        longest.and_then(|(i, _)| lines
            .iter()
            .filter(|l| !l.starts_with(char::is_whitespace))
            .nth(i + 1))
    );

    let sent = adverts_sent(&r1) - sent_before;
    let expected = (took.as_millis() / ADVERT.as_millis()) as u64 * INSTANCES as u64;
    let slowest = honest.iter().map(|(d, _)| *d).max().unwrap_or_default();
    let answered = honest.iter().filter(|(_, ok)| *ok).count();
    println!(
        "{} hostile rounds in {took:?}: r1 sent {sent} adverts (schedule {expected}), \
         {answered}/{} honest status answered, slowest {slowest:?}; VI_X moved {events} times; RSS {rss_before} -> {} KiB",
        rounds.load(Ordering::Relaxed),
        honest.len(),
        rss_kib(r1.pid())
    );
    assert_eq!(
        (transitions(&r1), transitions(&r2)),
        before,
        "a router moved:\nr1:\n{}\nr2:\n{}",
        r1.log(),
        r2.log()
    );
    assert!(
        sent * 10 >= expected * 9,
        "r1 sent {sent} adverts, {expected} due"
    );
    assert!(
        answered * 10 >= honest.len() * 9,
        "honest status requests failed: {honest:?}"
    );
}

/// A FIFO where the drain file's temporary copy is written (`.drain.json.PID.tmp` in the
/// state directory): opening it for writing waited for a reader, on the event loop, so the
/// master's adverts stopped for good and its backup took over. Now whatever is at that name
/// is removed first and the file written off the loop: the drain is applied, nobody moves.
#[test]
fn a_fifo_in_the_state_directory_does_not_stop_the_adverts() {
    let lab = Lab::new("h4-drainfifo", 2);
    let r1 = start_vipd(&lab, 1, &lone_instance_conf());
    let fifo = lab
        .state_dir(1)
        .join(format!(".drain.json.{}.tmp", r1.pid()));
    lab::run_ok(&["mkfifo", fifo.to_str().unwrap()]);
    drain_while_stuck(&lab, r1);
    let _ = std::fs::remove_file(&fifo);
}

/// r1's instances: VI_0 (priority 150, r2's master) and VI_X alone.
fn lone_instance_conf() -> String {
    let mut r1_instances = instances(1, 150);
    r1_instances.push(
        VrrpInstance::new("VI_X", "eth0", 99)
            .priority(150)
            .version(3)
            .advert(ADVERT)
            .vip("192.0.2.149/24"),
    );
    conf(1, &r1_instances)
}

/// With `r1` master of VI_0 and r2 its backup, VI_X of r1 is drained; the drain must
/// succeed and nobody move.
fn drain_while_stuck(lab: &Lab, r1: lab::Daemon) {
    let r2 = start_vipd(lab, 2, &conf(2, &instances(1, 100)));
    expect_sole_holder(lab, "192.0.2.150".parse().unwrap(), 1, SETTLE, "election");
    wait_instance(&r2, "VI_0", SETTLE, "settled backup", |s| {
        s.state == "BACKUP" && s.adverts_received >= 3
    });
    let before = (transitions(&r1), transitions(&r2));
    let socket = r1.socket_path.clone().expect("control socket");
    let binary = lab::vipd_binary().expect("vipd binary");
    let drain = lab::run(&[
        "timeout",
        "10",
        binary.to_str().unwrap(),
        "drain",
        "--hard",
        "VI_X",
        "--socket",
        socket.to_str().unwrap(),
    ]);
    std::thread::sleep(ADVERT * 10);
    assert!(drain.success, "drain: {}{}", drain.stdout, drain.stderr);
    assert_eq!(
        (transitions(&r1), transitions(&r2)),
        before,
        "a router moved:\nr1:\n{}\nr2:\n{}",
        r1.log(),
        r2.log()
    );
    let drained = instance(&r1, "VI_X");
    assert!(drained.drained.is_some(), "{drained:#?}");
}

/// A user database that hangs (here /etc/passwd is a FIFO in vipd's mount namespace; LDAP
/// or sssd that stop answering do the same): the name of the user asking for a drain was
/// looked up on the event loop, which waited for good, and the backup took over. It is
/// looked up beside the loop now, for at most a second; the drain goes ahead without it.
#[test]
fn a_user_database_that_hangs_does_not_stop_the_adverts() {
    let lab = Lab::new("h4-nss", 2);
    let fifo = lab.dir().join("passwd.fifo");
    let conf_path = lab.dir().join("r1-nss.conf");
    std::fs::write(&conf_path, lone_instance_conf()).expect("write config");
    let socket = lab.dir().join("r1-nss.sock");
    let binary = lab::vipd_binary().expect("vipd binary");
    lab::run_ok(&["mkfifo", fifo.to_str().unwrap()]);
    let script = format!(
        "mount --bind {fifo} /etc/passwd || exit 1; exec {binary} run -c {conf} --socket \
         {socket} --state-dir {state}",
        fifo = fifo.display(),
        binary = binary.display(),
        conf = conf_path.display(),
        socket = socket.display(),
        state = lab.state_dir(1).display(),
    );
    let mut r1 = lab.spawn(
        1,
        &[
            "unshare",
            "-m",
            "--propagation",
            "private",
            "sh",
            "-c",
            &script,
        ],
        &[("VIPD_LOG", "debug")],
    );
    r1.socket_path = Some(socket);
    let r1 = wait_started(r1, 1);
    drain_while_stuck(&lab, r1);
}
