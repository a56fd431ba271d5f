//! keepalived's operational signals sent to a vipd master in the namespace lab (needs root):
//! runbooks, cron jobs and exporters send SIGUSR1 (data dump), SIGUSR2 (stats dump),
//! SIGRTMIN+2 (JSON dump) and SIGRTMAX-1 (clear the stats) as `keepalived --signum=NAME`
//! numbers them. The master must keep its VIP through all of them (no failover), and the dumps
//! must land where keepalived writes them (`$TMPDIR`, else /tmp) in keepalived's layout.

mod lab;
mod lab_vipd_support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use lab::{wait_until, Daemon, Lab};
use lab_vipd_support::*;

/// `keepalived --signum=DATA|STATS|JSON|STATS_CLEAR` of Debian's keepalived 2.2.7.
const SIG_DATA: i32 = 10;
const SIG_STATS: i32 = 12;
const SIG_JSON: i32 = 36;
const SIG_STATS_CLEAR: i32 = 63;

fn send(daemon: &Daemon, signal: i32) {
    // SAFETY: kill(2) of our own child's pid.
    assert_eq!(
        unsafe { libc::kill(daemon.pid(), signal) },
        0,
        "kill -{signal}"
    );
}

/// Waits for `path` to exist with a modification newer than `after` (or at all when None).
fn wait_written(path: &Path, after: Option<std::time::SystemTime>, daemon: &Daemon) -> String {
    let fresh = || {
        let meta = std::fs::symlink_metadata(path).ok()?;
        let modified = meta.modified().ok()?;
        (meta.file_type().is_file() && after.is_none_or(|a| modified > a))
            .then(|| std::fs::read_to_string(path).ok())
            .flatten()
    };
    wait_until(SETTLE, Duration::from_millis(10), || fresh().is_some()).unwrap_or_else(|| {
        panic!(
            "{} was not written; r1's log:\n{}",
            path.display(),
            daemon.log()
        )
    });
    fresh().unwrap_or_default()
}

/// The number on the `    KEY: N` line under `section:` in a keepalived.stats text.
fn stats_value(stats: &str, section: &str, key: &str) -> u64 {
    let mut in_section = false;
    for line in stats.lines() {
        if line.starts_with("  ") && !line.starts_with("    ") {
            in_section = line.trim() == format!("{section}:");
        } else if in_section && line.trim_start().starts_with(&format!("{key}:")) {
            let value = line.split(':').nth(1).unwrap_or("").trim();
            return value.parse().unwrap_or_else(|_| panic!("{line:?}"));
        }
    }
    panic!("no {section}/{key} in:\n{stats}")
}

#[test]
fn keepalived_dump_signals_leave_the_master_in_place_and_write_its_dumps() {
    let lab = Lab::new("vipd-sigdump", 2);
    let dumps = lab.dir().join("r1-tmp");
    std::fs::create_dir_all(&dumps).unwrap();
    std::fs::set_permissions(&dumps, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let tmpdir = dumps.to_str().unwrap();
    let r1 = start_vipd_args(
        &lab,
        1,
        &conf(1, &[v3_ipv4(150)]),
        &[],
        &[("TMPDIR", tmpdir)],
    );
    let r2 = start_vipd(&lab, 2, &conf(2, &[v3_ipv4(100)]));
    expect_sole_holder(&lab, vip4(), 1, SETTLE, "election");
    let backup = wait_instance(&r2, "VI_1", SETTLE, "settled backup", |i| {
        i.state == "BACKUP" && i.adverts_received >= 5
    });
    let master = instance(&r1, "VI_1");

    // What keepalived survives and vipd used to die of (default disposition: terminate, no
    // handover): the three dumps, the stats clear, and signals keepalived ignores.
    for signal in [SIG_DATA, SIG_STATS, SIG_JSON, libc::SIGQUIT, libc::SIGALRM] {
        send(&r1, signal);
    }
    // Five advert intervals: a master that died or paused would have lost the VIP to r2.
    expect_stays_sole_holder(&lab, vip4(), 1, ADVERT * 5);
    let data = wait_written(&dumps.join("keepalived.data"), None, &r1);
    let stats = wait_written(&dumps.join("keepalived.stats"), None, &r1);
    let json = wait_written(&dumps.join("keepalived.json"), None, &r1);
    for signal in [libc::SIGPWR, libc::SIGIO, 40, SIG_STATS_CLEAR] {
        send(&r1, signal);
    }
    expect_stays_sole_holder(&lab, vip4(), 1, ADVERT * 5);
    let mut r1 = r1;
    assert!(r1.is_running(), "r1 died of a signal:\n{}", r1.log());
    let after = instance(&r2, "VI_1");
    assert_eq!(
        (after.state.as_str(), after.transitions),
        ("BACKUP", backup.transitions),
        "r2 took over"
    );
    assert_eq!(instance(&r1, "VI_1").transitions, master.transitions);

    // keepalived's layout, as exporters and runbooks read it.
    for line in [
        " VRRP Instance = VI_1",
        "   State = MASTER",
        "   Interface = eth0",
        "   Virtual Router ID = 51",
        "   Priority = 150",
        "     192.0.2.100/24 dev eth0 scope global",
    ] {
        assert!(
            data.lines().any(|l| l.starts_with(line)),
            "{line:?} in:\n{data}"
        );
    }
    assert!(stats.starts_with("VRRP Instance: VI_1\n"), "{stats}");
    let sent = stats_value(&stats, "Advertisements", "Sent");
    assert!(sent >= 5, "{stats}");
    let parsed: serde_json::Value = serde_json::from_str(&json).expect("keepalived.json");
    let first = &parsed[0];
    assert_eq!(first["data"]["iname"], "VI_1", "{json}");
    assert_eq!(first["data"]["state"], 2, "{json}"); // keepalived's MASTER
    assert_eq!(first["data"]["vrid"], 51, "{json}");
    assert!(
        first["stats"]["advert_sent"].as_u64().unwrap_or(0) >= 5,
        "{json}"
    );
    for name in ["keepalived.data", "keepalived.stats", "keepalived.json"] {
        let mode = std::fs::metadata(dumps.join(name))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{name}");
    }

    // After the clear (sent before), the stats dump counts from zero again, as keepalived's.
    let written = std::fs::metadata(dumps.join("keepalived.stats"))
        .and_then(|m| m.modified())
        .ok();
    send(&r1, SIG_STATS);
    let cleared = wait_written(&dumps.join("keepalived.stats"), written, &r1);
    let sent_since = stats_value(&cleared, "Advertisements", "Sent");
    // Without the clear it would count everything since the start, `sent` included.
    let total = instance(&r1, "VI_1").adverts_sent;
    assert!(
        sent_since + sent <= total,
        "not cleared: {sent} before, {sent_since} after, {total} in all:\n{cleared}"
    );
    // `vipd status` and the metrics keep counting (Prometheus counters never go back).
    assert!(total >= sent);
    assert!(r1.is_running());
}
