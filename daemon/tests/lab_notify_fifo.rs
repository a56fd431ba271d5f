//! keepalived's notify FIFOs, end to end in namespaces (needs root): keepalived 2.2.7 and
//! vipd run the same keepalived.conf through the same transitions (start to MASTER,
//! failover to BACKUP, a priority change, a reload, stop) while the test reads one FIFO
//! as an outside reader and a `notify_fifo_script` reads the other; the lines each daemon
//! wrote are compared. And a FIFO nobody reads (full) with a reader script that never
//! reads does not hold up 10 ms adverts.

mod lab;
mod lab_vipd_support;

use std::collections::BTreeMap;
use std::io::Read;
use std::net::IpAddr;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lab::{Daemon, Lab};

const SETTLE: Duration = Duration::from_secs(20);
const POLL: Duration = Duration::from_millis(20);

fn vip(last: u8) -> IpAddr {
    IpAddr::from([192, 0, 2, last])
}

/// Reads a FIFO the way a reader loop does: open, read to end of file (no writer left, as
/// when the daemon closes it at a reload), open again; lines go to a shared list.
struct FifoReader {
    lines: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FifoReader {
    fn start(path: PathBuf) -> FifoReader {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (out, done) = (lines.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut partial = String::new();
            while !done.load(Ordering::SeqCst) {
                // Non-blocking: opening does not wait for a writer, reading returns 0 at
                // end of file (no writer) and WouldBlock while the writer is quiet.
                let file = std::fs::OpenOptions::new()
                    .read(true)
                    .custom_flags(libc::O_NONBLOCK)
                    .open(&path);
                let Ok(mut file) = file else {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                };
                let mut buf = [0u8; 4096];
                while !done.load(Ordering::SeqCst) {
                    match file.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => {
                            partial.push_str(&String::from_utf8_lossy(&buf[..n]));
                            while let Some(end) = partial.find('\n') {
                                let line: String = partial.drain(..=end).collect();
                                out.lock().unwrap().push(line.trim_end().to_string());
                            }
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                            std::thread::sleep(Duration::from_millis(2));
                        }
                        Err(_) => break,
                    }
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        FifoReader {
            lines,
            stop,
            thread: Some(thread),
        }
    }

    fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    fn wait_for(&self, from: usize, line: &str, why: &str) {
        let found = lab::wait_until(SETTLE, POLL, || {
            self.lines().iter().skip(from).any(|l| l == line)
        });
        assert!(
            found.is_some(),
            "{why}: no `{line}` after line {from} in {:#?}",
            self.lines()
        );
    }
}

impl Drop for FifoReader {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The lines of each INSTANCE/GROUP in the order written (the daemons may interleave
/// different instances differently; each one's own sequence is what a reader acts on).
fn by_scope(lines: &[String]) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in lines {
        let mut words = line.splitn(3, ' ');
        let scope = format!(
            "{} {}",
            words.next().unwrap_or(""),
            words.next().unwrap_or("")
        );
        out.entry(scope)
            .or_default()
            .push(words.next().unwrap_or("").to_string());
    }
    out
}

fn owned(lines: &[&str]) -> Vec<String> {
    lines.iter().map(|l| l.to_string()).collect()
}

/// What one daemon wrote in each phase.
#[derive(Debug)]
struct Observed {
    phases: Vec<(&'static str, Vec<String>)>,
    /// What the reader script got (its arguments and lines), FIFO path replaced by `FIFO`.
    script: Vec<String>,
    mode: u32,
    uid: u32,
    removed_at_exit: bool,
}

fn conf(dir: &Path, tag: &str) -> String {
    let d = dir.display();
    format!(
        "global_defs {{\n  router_id dut\n  script_user root\n  enable_script_security\n  \
         notify_fifo {d}/{tag}-notify.fifo\n  \
         notify_fifo_script \"{d}/fifo-reader.sh {d}/{tag}-script.log\"\n  \
         vrrp_notify_fifo {d}/{tag}-vrrp.fifo\n  \
         vrrp_notify_priority_changes\n  fifo_write_vrrp_states_on_reload\n}}\n\
         track_file tf {{\n  file {d}/{tag}-track\n  weight 1\n}}\n\
         vrrp_sync_group G {{\n  group {{\n    VI_1\n  }}\n}}\n\
         vrrp_instance VI_1 {{\n  state BACKUP\n  interface eth0\n  virtual_router_id 51\n  \
         priority 100\n  version 3\n  advert_int 0.1\n  virtual_ipaddress {{\n    \
         192.0.2.100/24\n  }}\n}}\n\
         vrrp_instance VI_2 {{\n  state BACKUP\n  interface eth0\n  virtual_router_id 52\n  \
         priority 100\n  version 3\n  advert_int 0.1\n  track_file {{\n    tf weight -1\n  }}\n  \
         virtual_ipaddress {{\n    192.0.2.101/24\n  }}\n}}\n"
    )
}

/// A router that becomes master of VI_2 with a lower priority while cut off (a split
/// brain): when the link heals the DUT hears it and writes MASTER_RX_LOWER_PRI.
fn lower_peer_conf() -> String {
    "global_defs {\n  router_id lower\n}\n\
     vrrp_instance VI_2 {\n  state BACKUP\n  interface eth0\n  virtual_router_id 52\n  \
     priority 50\n  version 3\n  advert_int 0.1\n  virtual_ipaddress {\n    192.0.2.101/24\n  }\n}\n"
        .to_string()
}

/// A router that takes VI_1 over (priority 200).
fn peer_conf() -> String {
    "global_defs {\n  router_id peer\n}\n\
     vrrp_instance VI_1 {\n  state BACKUP\n  interface eth0\n  virtual_router_id 51\n  \
     priority 200\n  version 3\n  advert_int 0.1\n  virtual_ipaddress {\n    192.0.2.100/24\n  }\n}\n"
        .to_string()
}

fn script_lines(path: &Path, fifo: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .replace(&fifo.display().to_string(), "FIFO")
        .replace(&path.display().to_string(), "LOG")
        .lines()
        .map(str::to_string)
        .collect()
}

/// Runs the scenario with keepalived or vipd on r1 and a vipd peer on r2 (started for the
/// failover).
fn observe(lab: &Lab, keepalived: bool) -> Observed {
    let tag = if keepalived { "ka" } else { "vipd" };
    let dir = lab.dir();
    let track = dir.join(format!("{tag}-track"));
    std::fs::write(&track, "0\n").unwrap();
    let vrrp_fifo = dir.join(format!("{tag}-vrrp.fifo"));
    let notify_fifo = dir.join(format!("{tag}-notify.fifo"));
    let script_log = dir.join(format!("{tag}-script.log"));
    let text = conf(dir, tag);
    let reader = FifoReader::start(vrrp_fifo.clone());
    let mut dut: Daemon = if keepalived {
        lab.spawn_keepalived(1, &text)
    } else {
        lab.spawn_vipd(1, &text)
    };
    let mut phases = Vec::new();
    let mut cut = 0;
    let mut phase = |name: &'static str, reader: &FifoReader, cut: &mut usize| {
        // Late lines of this phase (a second write of the same event) would show here.
        std::thread::sleep(Duration::from_millis(500));
        let lines = reader.lines();
        phases.push((name, lines[*cut..].to_vec()));
        *cut = lines.len();
    };

    // 1. Alone: both instances become MASTER.
    lab_vipd_support::expect_sole_holder(lab, vip(100), 1, SETTLE, "VI_1 master");
    lab_vipd_support::expect_sole_holder(lab, vip(101), 1, SETTLE, "VI_2 master");
    reader.wait_for(cut, "GROUP \"G\" MASTER 0", "start");
    reader.wait_for(cut, "INSTANCE \"VI_2\" MASTER 100", "start");
    let meta = std::fs::symlink_metadata(&vrrp_fifo).unwrap();
    assert!(meta.file_type().is_fifo());
    let (mode, uid) = (meta.mode() & 0o7777, meta.uid());
    phase("start", &reader, &mut cut);

    // 2. A higher priority takes VI_1: it and its group go BACKUP.
    let mut peer = lab.spawn_vipd(2, &peer_conf());
    lab_vipd_support::expect_sole_holder(lab, vip(100), 2, SETTLE, "peer takes VI_1");
    reader.wait_for(cut, "GROUP \"G\" BACKUP 0", "failover");
    reader.wait_for(cut, "INSTANCE \"VI_1\" BACKUP 100", "failover");
    phase("failover", &reader, &mut cut);

    // 3. VI_2's tracked file lowers its priority by 7 while it is MASTER.
    std::fs::write(&track, "7\n").unwrap();
    reader.wait_for(cut, "INSTANCE \"VI_2\" MASTER_PRIORITY 93", "priority");
    phase("priority", &reader, &mut cut);

    // 3b. A split brain heals: another router became master of VI_2 with less while cut
    // off. The DUT stays master and writes MASTER_RX_LOWER_PRI (once per lower advert it
    // hears). The other router is a vipd: on hearing the DUT it sends one more advert with
    // its own priority before it yields (`higher_prio_send_advert`), so the DUT hears a
    // lower priority whoever spoke first after the heal.
    lab.partition(3);
    let mut lower = lab.spawn_vipd(3, &lower_peer_conf());
    let alone = lab::wait_until(SETTLE, POLL, || lower.log().contains("-> MASTER"));
    assert!(
        alone.is_some(),
        "r3 did not become master alone:\n{}",
        lower.log()
    );
    lab.heal(3);
    reader.wait_for(
        cut,
        "INSTANCE \"VI_2\" MASTER_RX_LOWER_PRI 93",
        "lower priority",
    );
    lab_vipd_support::expect_sole_holder(lab, vip(101), 1, SETTLE, "VI_2 stays on r1");
    phase("lower", &reader, &mut cut);

    // 4. Reload: the FIFOs and the script start again, the states are written again.
    let started = |n: usize| {
        script_lines(&script_log, &notify_fifo)
            .iter()
            .filter(|l| l.starts_with("ARGS"))
            .count()
            >= n
    };
    assert!(
        lab::wait_until(SETTLE, POLL, || started(1)).is_some(),
        "{tag}: the fifo script did not start: {:?}\n{}",
        script_lines(&script_log, &notify_fifo),
        dut.log()
    );
    dut.reload();
    assert!(
        lab::wait_until(SETTLE, POLL, || started(2)).is_some(),
        "{tag}: the fifo script was not started again at the reload\n{}",
        dut.log()
    );
    reader.wait_for(cut, "GROUP \"G\" BACKUP 0", "reload");
    std::thread::sleep(Duration::from_secs(1));
    phase("reload", &reader, &mut cut);

    // 5. Stop: STOP lines, then the FIFO vipd made is gone.
    dut.stop_within(Duration::from_secs(20));
    reader.wait_for(cut, "GROUP \"G\" STOP 0", "stop");
    phase("stop", &reader, &mut cut);
    let removed_at_exit = !vrrp_fifo.exists() && !notify_fifo.exists();
    peer.stop();
    lower.stop();
    // The script's last reads.
    std::thread::sleep(Duration::from_secs(2));
    Observed {
        phases,
        script: script_lines(&script_log, &notify_fifo),
        mode,
        uid,
        removed_at_exit,
    }
}

/// The differential: the same lines per instance and group in every phase, except where
/// vipd differs on purpose (REFERENCE.md, notify FIFOs).
#[test]
fn lab_notify_fifo_vipd_writes_the_lines_keepalived_writes() {
    let lab = Lab::new("fifo-diff", 3);
    lab.write_script(
        "fifo-reader.sh",
        "#!/bin/sh\n# keepalived passes the FIFO as the last argument.\nlog=$1\n\
         for last; do :; done\necho \"ARGS $*\" >> \"$log\"\n\
         while IFS= read -r line; do echo \"LINE $line\" >> \"$log\"; done < \"$last\"\n\
         echo EOF >> \"$log\"\n",
    );
    let ka = observe(&lab, true);
    let vipd = observe(&lab, false);
    eprintln!("keepalived: {ka:#?}\nvipd: {vipd:#?}");

    // Same FIFO: mode 0600, owned by the daemon's user, removed at exit.
    assert_eq!((ka.mode, ka.uid), (0o600, 0));
    assert_eq!((vipd.mode, vipd.uid), (ka.mode, ka.uid));
    assert!(ka.removed_at_exit && vipd.removed_at_exit);

    let phase = |o: &Observed, name: &str| -> Vec<String> {
        o.phases
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, l)| l.clone())
            .unwrap()
    };
    // Start, failover and the priority change: the same lines per instance and group.
    for name in ["start", "failover", "priority"] {
        assert_eq!(
            by_scope(&phase(&vipd, name)),
            by_scope(&phase(&ka, name)),
            "phase {name}"
        );
    }
    assert_eq!(
        by_scope(&phase(&ka, "start")),
        by_scope(&owned(&[
            "GROUP \"G\" BACKUP 0",
            "INSTANCE \"VI_1\" BACKUP 100",
            "INSTANCE \"VI_2\" BACKUP 100",
            "INSTANCE \"VI_1\" MASTER 100",
            "GROUP \"G\" MASTER 0",
            "INSTANCE \"VI_2\" MASTER 100",
        ]))
    );
    // How many lower adverts the other router sent before it yielded depends on timing.
    let distinct = |lines: Vec<String>| {
        let mut lines = lines;
        lines.dedup();
        by_scope(&lines)
    };
    assert_eq!(
        distinct(phase(&vipd, "lower")),
        distinct(phase(&ka, "lower"))
    );
    assert_eq!(
        distinct(phase(&ka, "lower")),
        by_scope(&owned(&["INSTANCE \"VI_2\" MASTER_RX_LOWER_PRI 93"]))
    );
    // Reload: both write the group's state and the BACKUP instance's again. keepalived
    // 2.2.7 leaves out the MASTER instance's state and writes a BACKUP_PRIORITY for VI_2
    // (its priority recomputed from scratch while it is not MASTER again); vipd writes every
    // instance's state and no priority line (its priority did not change).
    let ka_reload = by_scope(&phase(&ka, "reload"));
    let vipd_reload = by_scope(&phase(&vipd, "reload"));
    for scope in ["GROUP \"G\"", "INSTANCE \"VI_1\""] {
        assert_eq!(ka_reload.get(scope), vipd_reload.get(scope), "{scope}");
    }
    assert_eq!(
        vipd_reload,
        by_scope(&owned(&[
            "GROUP \"G\" BACKUP 0",
            "INSTANCE \"VI_1\" BACKUP 100",
            "INSTANCE \"VI_2\" MASTER 93",
        ]))
    );
    assert_eq!(
        ka_reload.get("INSTANCE \"VI_2\""),
        Some(&owned(&["BACKUP_PRIORITY 93"])),
        "keepalived's reload lines: {ka_reload:?}"
    );
    // Stop: STOP for every instance (its last priority) and the group.
    assert_eq!(
        by_scope(&phase(&vipd, "stop")),
        by_scope(&phase(&ka, "stop"))
    );
    assert_eq!(
        by_scope(&phase(&ka, "stop")),
        by_scope(&owned(&[
            "INSTANCE \"VI_1\" STOP 100",
            "INSTANCE \"VI_2\" STOP 93",
            "GROUP \"G\" STOP 0",
        ]))
    );

    // The script: the same arguments (its words, then the FIFO), started again at the
    // reload, and until the reload the same lines as the outside reader.
    let args = |o: &Observed| -> Vec<String> {
        o.script
            .iter()
            .filter(|l| l.starts_with("ARGS"))
            .cloned()
            .collect()
    };
    assert_eq!(args(&vipd), args(&ka));
    assert_eq!(args(&ka).len(), 2, "{:?}", ka.script);
    assert_eq!(args(&ka)[0], "ARGS LOG FIFO", "{:?}", ka.script);
    let before_reload = |o: &Observed| -> Vec<String> {
        let lines: Vec<String> = o
            .script
            .iter()
            .skip(1)
            .take_while(|l| l.starts_with("LINE"))
            .map(|l| l.trim_start_matches("LINE ").to_string())
            .collect();
        lines
    };
    let expected: Vec<String> = ["start", "failover", "priority", "lower"]
        .iter()
        .flat_map(|p| phase(&ka, p))
        .collect();
    assert_eq!(by_scope(&before_reload(&ka)), by_scope(&expected));
    let expected: Vec<String> = ["start", "failover", "priority", "lower"]
        .iter()
        .flat_map(|p| phase(&vipd, p))
        .collect();
    assert_eq!(before_reload(&vipd), expected);
    // Better on purpose: vipd's first script read to the end of its FIFO before it was
    // replaced, and the last one got the STOP lines (keepalived sends SIGTERM first).
    let vipd_tail: Vec<&String> = vipd.script.iter().rev().take(4).collect();
    assert_eq!(vipd_tail[0], "EOF", "{:?}", vipd.script);
    assert!(
        vipd.script.iter().any(|l| l == "LINE GROUP \"G\" STOP 0"),
        "{:?}",
        vipd.script
    );
    assert_eq!(
        vipd.script.iter().filter(|l| *l == "EOF").count(),
        2,
        "{:?}",
        vipd.script
    );
}

/// A full FIFO (64 KiB nobody reads) and a reader script that never reads: vipd drops the
/// lines (and says so) while its 10 ms adverts go on. A write that waited for room would
/// stop r1 for good and leave the 10 ms backup in MASTER; a machine stall (this machine is
/// shared) only lets it in for a moment, so the test asserts where things end, and prints
/// any such moment. Failover and stop work as usual, and the script does not outlive vipd.
/// The full FIFO's lost lines are in `vipd status` (JSON and text) and the metrics; the
/// FIFO the stalled script holds open takes every line (its pipe has room).
fn expect_dropped_lines_reported(lab: &Lab, r1: &Daemon, full: &Path, metrics: &str) {
    let report = lab_vipd_support::status(r1);
    let full_path = full.display().to_string();
    let of = |fifo: &str| {
        (report.notify_fifos.iter())
            .find(|f| f.fifo == fifo)
            .unwrap_or_else(|| panic!("no {fifo} in the status: {:?}", report.notify_fifos))
    };
    let (notify, vrrp) = (of("notify_fifo"), of("vrrp_notify_fifo"));
    assert_eq!(notify.path, full_path);
    assert!(notify.dropped > 0, "{notify:?}");
    assert_eq!(notify.written, 0, "{notify:?}");
    assert!(vrrp.written > 0 && vrrp.dropped == 0, "{vrrp:?}");
    let socket = r1.socket_path.as_ref().expect("socket");
    let text = lab_vipd_support::vipd_cli(&["status", "--socket", socket.to_str().unwrap()]);
    let line = format!("notify_fifo {full_path}: written 0  dropped (full) ");
    assert!(text.stdout.contains(&line), "{}", text.stdout);
    let scrape = lab.exec_ok(
        lab.router_ns(1),
        &format!("curl -sf --max-time 5 http://{metrics}/metrics"),
    );
    let series = format!(
        "vipd_notify_fifo_lines_total{{fifo=\"notify_fifo\",path=\"{full_path}\",outcome=\"dropped\"}} "
    );
    let value = (scrape.lines())
        .find_map(|l| l.strip_prefix(&series))
        .unwrap_or_else(|| panic!("no {series} in the metrics:\n{scrape}"));
    // Lines may have been dropped between the status and the scrape.
    assert!(
        value.parse::<u64>().unwrap() >= notify.dropped,
        "{series}{value}"
    );
}

#[test]
fn lab_notify_fifo_full_fifo_and_stalled_script_do_not_delay_adverts() {
    let lab = Lab::new("fifo-full", 2);
    let dir = lab.dir();
    let full = dir.join("full.fifo");
    nix::unistd::mkfifo(&full, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    // Held open read-write, filled up and never read.
    let mut holder = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&full)
        .unwrap();
    let chunk = [b'x'; 4096];
    let mut filled = 0usize;
    while let Ok(n) = std::io::Write::write(&mut holder, &chunk) {
        filled += n;
        if filled > 4 << 20 {
            break;
        }
    }
    assert!((4096..=4 << 20).contains(&filled), "{filled}");
    let stalled = lab.write_script(
        "stalled-reader.sh",
        &format!(
            "#!/bin/sh\necho $$ > {}/stalled.pid\nexec sleep 600\n",
            dir.display()
        ),
    );
    let track = dir.join("r1-track");
    std::fs::write(&track, "0\n").unwrap();
    let conf = |router: usize, priority: u8, fifo: bool| {
        let (global, tracking) = if fifo {
            (
                format!(
                    "  notify_fifo {}\n  vrrp_notify_fifo {}/stalled.fifo\n  \
                     vrrp_notify_fifo_script {}\n  vrrp_notify_priority_changes\n",
                    full.display(),
                    dir.display(),
                    stalled.display()
                ),
                format!(
                    "track_file tf {{\n  file {}\n  weight -1\n}}\n",
                    track.display()
                ),
            )
        } else {
            (String::new(), String::new())
        };
        let track_line = if fifo {
            "  track_file {\n    tf\n  }\n"
        } else {
            ""
        };
        format!(
            "global_defs {{\n  router_id r{router}\n  script_user root\n  \
             enable_script_security\n{global}}}\n{tracking}\
             vrrp_instance VI_1 {{\n  interface eth0\n  virtual_router_id 51\n  \
             priority {priority}\n  version 3\n  advert_int 0.01\n{track_line}  \
             virtual_ipaddress {{\n    192.0.2.100/24\n  }}\n}}\n"
        )
    };
    // The metrics endpoint on r1's own loopback.
    let metrics = "127.0.0.1:9165";
    let mut r1 = lab.spawn_vipd_args(1, &conf(1, 150, true), &["--metrics-listen", metrics], &[]);
    lab_vipd_support::expect_sole_holder(&lab, vip(100), 1, SETTLE, "r1 master");
    let r2 = lab_vipd_support::wait_started(lab.spawn_vipd(2, &conf(2, 100, false)), 2);
    lab_vipd_support::wait_state(&r2, "VI_1", "BACKUP");
    assert!(
        r1.wait_log("line lost", SETTLE).is_some(),
        "vipd did not drop a line on the full FIFO:\n{}",
        r1.log()
    );
    // Priority changes (150 <-> 140, above r2's 100) write lines to both FIFOs.
    let takeovers_before = r2.log().matches("-> MASTER").count();
    for i in 0..6 {
        std::fs::write(&track, if i % 2 == 0 { "10\n" } else { "0\n" }).unwrap();
        let seen = lab::wait_until(SETTLE, POLL, || {
            r1.log().matches("effective priority").count() > i
        });
        assert!(
            seen.is_some(),
            "priority change {i} not seen:\n{}",
            r1.log()
        );
    }
    let changes = r1.log().matches("effective priority").count();
    let takeovers = r2.log().matches("-> MASTER").count() - takeovers_before;
    eprintln!("{changes} priority changes written to full FIFOs; r2 took over {takeovers} time(s) for a moment");
    lab_vipd_support::expect_sole_holder(&lab, vip(100), 1, SETTLE, "r1 still master");
    lab_vipd_support::wait_state(&r2, "VI_1", "BACKUP");
    assert!(
        !r1.log().contains("MASTER -> "),
        "r1 left MASTER while writing to full FIFOs:\n{}",
        r1.log()
    );
    expect_dropped_lines_reported(&lab, &r1, &full, metrics);
    let script_pid: i32 = std::fs::read_to_string(dir.join("stalled.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // Stopping: the script that never reads is stopped too, and the FIFO that was there
    // before vipd stays (vipd removes only what it made).
    r1.stop_within(Duration::from_secs(20));
    lab_vipd_support::expect_sole_holder(&lab, vip(100), 2, SETTLE, "r2 after r1 stopped");
    // Gone, or a zombie waiting for whoever adopted it.
    let gone = lab::wait_until(SETTLE, POLL, || {
        std::fs::read_to_string(format!("/proc/{script_pid}/stat"))
            .map(|stat| {
                stat.rsplit(')')
                    .next()
                    .unwrap_or("")
                    .trim_start()
                    .starts_with('Z')
            })
            .unwrap_or(true)
    });
    assert!(gone.is_some(), "the stalled fifo script outlived vipd");
    assert!(std::fs::symlink_metadata(&full)
        .unwrap()
        .file_type()
        .is_fifo());
    assert!(!dir.join("stalled.fifo").exists());
}
