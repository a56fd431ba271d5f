//! Nothing may stall vipd's event loop (needs root): the adverts of every instance keep their
//! schedule while another instance adds or removes thousands of VIPs, and while nobody reads
//! vipd's log output. A stall longer than a backup's Master_Down_Interval makes the peer take
//! over instances whose master is alive: a split brain.

mod lab;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use lab::capture::vrid51_advert_times;
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
    let times = vrid51_advert_times(packets, source);
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

/// vipd's standard error is a pipe nobody reads (journald stalled, a `| logger` that hung),
/// already full: the next log lines (a reload's) must not stop FAST's adverts, and what
/// waited comes out once the pipe is read again.
#[test]
fn a_log_output_nobody_reads_does_not_stall_the_adverts() {
    use std::io::{Read, Write};
    use std::os::unix::fs::OpenOptionsExt;

    let lab = Lab::new("stall_log", 2);
    let fifo = lab.dir().join("r1-stderr.fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    // Held open, read only at the end: both ends, so vipd's open does not wait.
    let mut pipe = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&fifo)
        .unwrap();
    let binary = lab::vipd_binary().expect("vipd binary");
    let conf_path = lab.dir().join("r1-log.conf");
    std::fs::write(&conf_path, conf(1, 200, None, 0)).unwrap();
    let socket = lab.dir().join("r1-log.sock");
    let state_dir = lab.state_dir(1);
    let command = format!(
        "exec {} run -c {} --socket {} --state-dir {} 2>{}",
        binary.display(),
        conf_path.display(),
        socket.display(),
        state_dir.display(),
        fifo.display()
    );
    let mut r1 = lab.spawn(1, &["sh", "-c", &command], &[("VIPD_LOG", "debug")]);
    r1.socket_path = Some(socket);
    let r2 = lab.spawn_vipd(2, &conf(2, 100, None, 0));
    assert!(
        lab.wait_sole_holder(fast_vip(), 1, Duration::from_secs(20))
            .is_some(),
        "r1 never became FAST's only master:\n{}",
        r2.log()
    );
    let settled = lab::wait_until(Duration::from_secs(10), Duration::from_millis(100), || {
        instance_status(&r2, "FAST").is_some_and(|i| i.state == "BACKUP")
    });
    assert!(settled.is_some(), "r2 is not FAST's backup:\n{}", r2.log());
    let before = instance_status(&r2, "FAST")
        .expect("status of r2")
        .transitions;
    // The pipe fills up to the last byte.
    let filler = [b'#'; 4096];
    let mut filled = 0;
    loop {
        match pipe.write(&filler) {
            Ok(n) if n > 0 => filled += n,
            _ => match pipe.write(&filler[..1]) {
                Ok(1) => filled += 1,
                _ => break,
            },
        }
    }
    assert!(filled > 0, "the pipe was full already");
    // Log lines: a reload's (each SIGHUP logs), while FAST keeps advertising.
    for _ in 0..5 {
        r1.reload();
        std::thread::sleep(Duration::from_millis(300));
    }
    std::thread::sleep(Duration::from_secs(2));
    let after = instance_status(&r2, "FAST")
        .expect("status of r2")
        .transitions;
    let answered = lab::vipd_status(&r1).is_some();
    // Read again: what was queued comes out.
    let mut text = Vec::new();
    let drained = lab::wait_until(Duration::from_secs(10), Duration::from_millis(50), || {
        let mut chunk = [0u8; 65536];
        while let Ok(n) = pipe.read(&mut chunk) {
            if n == 0 {
                break;
            }
            text.extend_from_slice(&chunk[..n]);
        }
        String::from_utf8_lossy(&text).contains("reload done")
    });
    assert_eq!(
        after,
        before,
        "r2 took FAST over while r1's log output was blocked:\n{}",
        r2.log()
    );
    assert!(
        answered,
        "r1 stopped answering while its log output was blocked"
    );
    assert!(
        drained.is_some(),
        "r1's log lines did not follow once the pipe was read"
    );
    assert!(r1.is_running(), "r1 ended");
}
