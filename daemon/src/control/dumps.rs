//! keepalived's dump files, written on its signals: SIGUSR1 `keepalived.data` (the running
//! state), SIGUSR2 `keepalived.stats` (the counters), SIGRTMIN+2 `keepalived.json` (both, as
//! an array of `{"data": ..., "stats": ...}`), in `$TMPDIR` or else /tmp, mode 0600, as
//! keepalived 2.2.7 does. Runbooks `cat` them and exporters parse them (keepalived-exporter
//! reads `VRRP Instance = NAME`, `State = MASTER`, the VIP lines, the `VRRP Script` blocks and
//! every `Key: N` line of the stats), so the lines they read keep keepalived's layout; what
//! vipd knows beyond it comes as more lines of the same form.
//!
//! Everything here comes from the status report `vipd status` shows; nothing is collected
//! twice. Rendering and writing run off the event loop (see `runtime::dumps`).

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use super::{utc_time, InstanceStatus, StatusReport};

/// One of keepalived's dump files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DumpKind {
    /// SIGUSR1 (`keepalived --signum=DATA`).
    Data,
    /// SIGUSR2 (`--signum=STATS`).
    Stats,
    /// SIGRTMIN+2, 36 (`--signum=JSON`).
    Json,
}

impl DumpKind {
    pub fn file_name(self) -> &'static str {
        match self {
            DumpKind::Data => "keepalived.data",
            DumpKind::Stats => "keepalived.stats",
            DumpKind::Json => "keepalived.json",
        }
    }

    /// Whether a stats clear (SIGRTMAX-1) resets what this dump counts.
    pub fn counts(self) -> bool {
        self != DumpKind::Data
    }

    pub fn render(self, report: &StatusReport) -> String {
        match self {
            DumpKind::Data => render_data(report),
            DumpKind::Stats => render_stats(report),
            DumpKind::Json => render_json(report),
        }
    }
}

/// Where the dumps go: `$TMPDIR` when it is an absolute path, else /tmp (keepalived's rule).
pub fn dump_dir(tmpdir: Option<&std::ffi::OsStr>) -> PathBuf {
    match tmpdir.map(Path::new) {
        Some(dir) if dir.is_absolute() => dir.to_path_buf(),
        _ => PathBuf::from("/tmp"),
    }
}

/// Temporary names tried before giving up (each taken one was put there by someone else).
const TEMP_ATTEMPTS: u32 = 8;

/// Writes `contents` to `dir/name` atomically: into a new file that nobody else can have
/// prepared (`O_CREAT|O_EXCL|O_NOFOLLOW`, mode 0600), renamed over `name`. Whatever stands at
/// `name` (a file, or a symlink someone placed in /tmp) is replaced, never written through,
/// and a reader sees the old dump or the whole new one.
pub fn write_atomically(dir: &Path, name: &str, contents: &[u8]) -> io::Result<PathBuf> {
    let stamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    write_stamped(dir, name, contents, stamp)
}

/// The temporary name of the `attempt`th try.
fn temp_name(name: &str, stamp: u128, attempt: u32) -> String {
    format!(".{name}.{}.{stamp}.{attempt}", std::process::id())
}

fn write_stamped(dir: &Path, name: &str, contents: &[u8], stamp: u128) -> io::Result<PathBuf> {
    let target = dir.join(name);
    let mut created = None;
    for attempt in 0..TEMP_ATTEMPTS {
        let temp = dir.join(temp_name(name, stamp, attempt));
        let opened = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&temp);
        match opened {
            Ok(file) => {
                created = Some((file, temp));
                break;
            }
            // A name taken (by anyone): another one.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    let Some((mut file, temp)) = created else {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("no free temporary name for {}", target.display()),
        ));
    };
    let written = file
        .set_permissions(fs::Permissions::from_mode(0o600))
        .and_then(|()| file.write_all(contents))
        .and_then(|()| fs::rename(&temp, &target));
    if let Err(e) = written {
        let _ = fs::remove_file(&temp);
        return Err(e);
    }
    Ok(target)
}

/// The counters at the last stats clear (SIGRTMAX-1), per instance: keepalived resets its
/// counters there; vipd keeps its own (`vipd status` and the metrics are monotonic, as
/// Prometheus counters must be) and counts the stats and JSON dumps from this point instead.
#[derive(Debug, Default, Clone)]
pub struct StatsBaseline {
    at: BTreeMap<String, InstanceStatus>,
}

impl StatsBaseline {
    pub fn is_empty(&self) -> bool {
        self.at.is_empty()
    }

    pub fn clear(&mut self, report: &StatusReport) {
        self.at = (report.instances.iter())
            .map(|i| (i.name.clone(), i.clone()))
            .collect();
    }

    /// `report` with its counters counted from the last clear.
    pub fn apply(&self, report: &mut StatusReport) {
        for instance in &mut report.instances {
            let Some(base) = self.at.get(&instance.name) else {
                continue;
            };
            // Counters that went back: the instance was started again since (a reload that
            // changed its identity) and counts from zero already.
            if instance.adverts_sent < base.adverts_sent
                || instance.adverts_received < base.adverts_received
            {
                continue;
            }
            for (now, then) in [
                (&mut instance.adverts_received, base.adverts_received),
                (&mut instance.adverts_sent, base.adverts_sent),
                (&mut instance.became_master, base.became_master),
                (&mut instance.released_master, base.released_master),
                (
                    &mut instance.priority_zero_received,
                    base.priority_zero_received,
                ),
                (&mut instance.priority_zero_sent, base.priority_zero_sent),
                (
                    &mut instance.address_list_mismatch,
                    base.address_list_mismatch,
                ),
                (&mut instance.auth_type_unknown, base.auth_type_unknown),
                (&mut instance.discarded, base.discarded),
                (&mut instance.transitions, base.transitions),
            ] {
                *now = now.saturating_sub(then);
            }
            for (reason, count) in &mut instance.dropped {
                *count = count.saturating_sub(base.dropped.get(reason).copied().unwrap_or(0));
            }
        }
    }
}

/// `1 sec`, `100 milli-sec`: keepalived's way of writing an interval.
fn interval(ms: u64) -> String {
    if ms % 1000 == 0 {
        format!("{} sec", ms / 1000)
    } else {
        format!("{ms} milli-sec")
    }
}

/// keepalived's state numbers (`data.state` in its JSON): INIT 0, BACKUP 1, MASTER 2, FAULT 3.
fn state_number(state: &str) -> u8 {
    match state {
        "BACKUP" => 1,
        "MASTER" => 2,
        "FAULT" => 3,
        _ => 0,
    }
}

/// A VIP as keepalived lists it: `192.0.2.100/24 dev eth0 scope global`.
fn vip_lines(instance: &InstanceStatus) -> Vec<String> {
    if instance.vip_list.is_empty() {
        return instance.vips.clone();
    }
    (instance.vip_list.iter())
        .map(|v| {
            format!(
                "{}/{} dev {} scope global",
                v.address, v.prefix_len, v.interface
            )
        })
        .collect()
}

fn count(instance: &InstanceStatus, reasons: &[&str]) -> u64 {
    reasons
        .iter()
        .map(|r| instance.dropped.get(*r).copied().unwrap_or(0))
        .sum()
}

/// keepalived's error counters from vipd's drop reasons.
struct KeepalivedErrors {
    length: u64,
    ttl: u64,
    invalid_type: u64,
    interval: u64,
    address_list: u64,
    auth_invalid_type: u64,
    auth_type_mismatch: u64,
    auth_failure: u64,
}

impl KeepalivedErrors {
    fn of(i: &InstanceStatus) -> KeepalivedErrors {
        KeepalivedErrors {
            length: count(i, &["length", "truncated", "oversized"]),
            ttl: count(i, &["hop_limit"]),
            invalid_type: count(i, &["type"]),
            interval: count(i, &["interval_mismatch"]),
            address_list: count(i, &["address_list", "destination"]),
            auth_invalid_type: i.auth_type_unknown,
            auth_type_mismatch: count(i, &["auth_type"]).saturating_sub(i.auth_type_unknown),
            auth_failure: count(i, &["auth_password", "replayed"]),
        }
    }
}

/// `keepalived.data`: keepalived's sections and `Key = value` lines for what vipd has.
pub fn render_data(report: &StatusReport) -> String {
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = write_data(&mut out, report);
    out
}

/// One `   Key = value` line of `keepalived.data`.
fn line(out: &mut String, key: &str, value: &dyn fmt::Display) -> fmt::Result {
    writeln!(out, "   {key} = {value}")
}

fn write_data(out: &mut String, report: &StatusReport) -> fmt::Result {
    writeln!(out, "------< Global definitions >------")?;
    writeln!(out, " vipd version = {}", report.version)?;
    writeln!(out, " PID = {}", report.pid)?;
    writeln!(out, " Configuration file = {}", report.config)?;
    writeln!(out, "------< VRRP Topology >------")?;
    for i in &report.instances {
        writeln!(out, " VRRP Instance = {}", i.name)?;
        line(out, "VRRP Version", &i.version)?;
        line(out, "State", &i.state)?;
        line(out, "Wantstate", &i.state)?;
        if let Some(d) = &i.drained {
            let since = utc_time(d.since);
            line(
                out,
                "Drained",
                &format!("{} since {since}, by {}", d.mode, d.by),
            )?;
        }
        line(out, "Transitions", &i.transitions)?;
        if let Some(t) = i.last_transition_time {
            line(
                out,
                "Last transition",
                &format!("{t:.6} ({})", utc_time(t as u64)),
            )?;
        }
        if let Some(reason) = &i.last_transition_reason {
            line(out, "Last transition reason", reason)?;
        }
        line(out, "Interface", &i.interface)?;
        if let Some(master) = &i.master_address {
            line(out, "Master router", master)?;
        }
        if let Some(priority) = i.master_priority {
            line(out, "Master priority", &priority)?;
        }
        line(out, "Virtual Router ID", &i.vrid)?;
        line(out, "Priority", &i.base_priority)?;
        line(out, "Effective priority", &i.effective_priority)?;
        if i.advertised_priority != i.effective_priority {
            line(out, "Advertised priority", &i.advertised_priority)?;
        }
        line(out, "Advert interval", &interval(i.advert_interval_ms))?;
        if i.master_down_interval_ms > 0 {
            line(
                out,
                "Master down timer",
                &format!("{} usecs", i.master_down_interval_ms.saturating_mul(1000)),
            )?;
        }
        if let Some(ms) = i.last_handover_ms {
            line(out, "Last handover", &format!("{ms:.1} ms"))?;
        }
        let vips = vip_lines(i);
        writeln!(out, "   Virtual IP ({}):", vips.len())?;
        for vip in vips {
            writeln!(out, "     {vip}")?;
        }
        if !i.tracked_checks.is_empty() {
            writeln!(out, "   Tracked scripts :")?;
            for check in &i.tracked_checks {
                writeln!(out, "     {check}")?;
            }
        }
        for forward in &i.forwards {
            line(out, "Forward", forward)?;
        }
    }
    if !report.checks.is_empty() {
        writeln!(out, "------< VRRP Scripts >------")?;
    }
    for c in &report.checks {
        writeln!(out, " VRRP Script = {}", c.name)?;
        writeln!(out, "   Kind = {}", c.kind)?;
        writeln!(out, "   Weight = {}", c.weight)?;
        // keepalived's words for a script's result: GOOD or BAD.
        let status = match c.state.as_str() {
            "up" => "GOOD",
            "down" => "BAD",
            other => other,
        };
        writeln!(out, "   Status = {status}")?;
        writeln!(
            out,
            "   Last result = {}",
            c.last_result.as_deref().unwrap_or("-")
        )?;
        if let Some(ms) = c.last_latency_ms {
            writeln!(out, "   Latency = {ms:.1} ms")?;
        }
        if let Some(note) = &c.note {
            writeln!(out, "   Note = {note}")?;
        }
    }
    Ok(())
}

/// `keepalived.stats`: keepalived's blocks per instance, then vipd's drops by reason and its
/// transitions, every value a plain number as parsers of this file expect.
pub fn render_stats(report: &StatusReport) -> String {
    let mut out = String::new();
    let _ = write_stats(&mut out, report);
    out
}

fn write_stats(out: &mut String, report: &StatusReport) -> fmt::Result {
    for i in &report.instances {
        let e = KeepalivedErrors::of(i);
        writeln!(out, "VRRP Instance: {}", i.name)?;
        writeln!(out, "  Advertisements:")?;
        writeln!(out, "    Received: {}", i.adverts_received)?;
        writeln!(out, "    Sent: {}", i.adverts_sent)?;
        writeln!(out, "  Became master: {}", i.became_master)?;
        writeln!(out, "  Released master: {}", i.released_master)?;
        writeln!(out, "  Packet Errors:")?;
        writeln!(out, "    Length: {}", e.length)?;
        writeln!(out, "    TTL: {}", e.ttl)?;
        writeln!(out, "    Invalid Type: {}", e.invalid_type)?;
        writeln!(out, "    Advertisement Interval: {}", e.interval)?;
        writeln!(out, "    Address List: {}", e.address_list)?;
        writeln!(out, "  Authentication Errors:")?;
        writeln!(out, "    Invalid Type: {}", e.auth_invalid_type)?;
        writeln!(out, "    Type Mismatch: {}", e.auth_type_mismatch)?;
        writeln!(out, "    Failure: {}", e.auth_failure)?;
        writeln!(out, "  Priority Zero:")?;
        writeln!(out, "    Received: {}", i.priority_zero_received)?;
        writeln!(out, "    Sent: {}", i.priority_zero_sent)?;
        writeln!(out, "  Transitions: {}", i.transitions)?;
        writeln!(out, "  Dropped:")?;
        for (reason, n) in &i.dropped {
            writeln!(out, "    {reason}: {n}")?;
        }
        writeln!(out, "    discarded: {}", i.discarded)?;
    }
    Ok(())
}

/// `keepalived.json`: keepalived's array of `{"data": ..., "stats": ...}` with the fields
/// vipd has, keepalived's names and numbers (state 0-3, intervals in seconds).
pub fn render_json(report: &StatusReport) -> String {
    let entries: Vec<Value> = (report.instances.iter())
        .map(|i| {
            let e = KeepalivedErrors::of(i);
            let state = state_number(&i.state);
            json!({
                "data": {
                    "iname": i.name,
                    "ifp_ifname": i.interface,
                    "vrid": i.vrid,
                    "version": i.version,
                    "state": state,
                    "wantstate": state,
                    "base_priority": i.base_priority,
                    "effective_priority": i.effective_priority,
                    "master_priority": i.master_priority.unwrap_or(0),
                    "master_ipaddr": i.master_address,
                    "last_transition": i.last_transition_time.unwrap_or(0.0),
                    "adver_int": i.advert_interval_ms as f64 / 1000.0,
                    "master_adver_int": i.advert_interval_ms as f64 / 1000.0,
                    "vipset": i.state == "MASTER",
                    "vips": vip_lines(i),
                    "track_script": i.tracked_checks,
                    "drained": i.drained.as_ref().map(|d| d.mode.clone()),
                },
                "stats": {
                    "advert_rcvd": i.adverts_received,
                    "advert_sent": i.adverts_sent,
                    "become_master": i.became_master,
                    "release_master": i.released_master,
                    "packet_len_err": e.length,
                    "advert_interval_err": e.interval,
                    "ip_ttl_err": e.ttl,
                    "invalid_type_rcvd": e.invalid_type,
                    "addr_list_err": e.address_list,
                    "invalid_authtype": e.auth_invalid_type,
                    "authtype_mismatch": e.auth_type_mismatch,
                    "auth_failure": e.auth_failure,
                    "pri_zero_rcvd": i.priority_zero_received,
                    "pri_zero_sent": i.priority_zero_sent,
                    "transitions": i.transitions,
                    "dropped": i.dropped,
                },
            })
        })
        .collect();
    Value::Array(entries).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::{CheckStatus, VipStatus};
    use std::os::unix::fs::symlink;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("vipd-dumps-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn report() -> StatusReport {
        let mut dropped = BTreeMap::new();
        dropped.insert("hop_limit".to_string(), 2);
        dropped.insert("auth_type".to_string(), 5);
        dropped.insert("checksum".to_string(), 7);
        StatusReport {
            pid: 4711,
            config: "/etc/keepalived/keepalived.conf".into(),
            version: "1.0.0".into(),
            instances: vec![InstanceStatus {
                name: "VI_1".into(),
                interface: "eth0".into(),
                vrid: 51,
                version: 2,
                state: "BACKUP".into(),
                base_priority: 100,
                effective_priority: 110,
                advertised_priority: 110,
                master_address: Some("192.0.2.11".into()),
                master_priority: Some(150),
                advert_interval_ms: 1000,
                master_down_interval_ms: 3570,
                transitions: 1,
                adverts_received: 40,
                adverts_sent: 3,
                auth_type_unknown: 1,
                dropped,
                vips: vec!["192.0.2.100/24".into()],
                vip_list: vec![VipStatus {
                    address: "192.0.2.100".into(),
                    prefix_len: 24,
                    interface: "eth0".into(),
                }],
                tracked_checks: vec!["chk_haproxy".into()],
                ..Default::default()
            }],
            checks: vec![CheckStatus {
                name: "chk_haproxy".into(),
                kind: "script".into(),
                state: "up".into(),
                weight: 10,
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn a_symlink_at_the_dump_path_is_replaced_never_written_through() {
        let dir = scratch("symlink");
        let victim = dir.join("victim");
        fs::write(&victim, "precious\n").unwrap();
        symlink(&victim, dir.join("keepalived.data")).unwrap();
        let path = write_atomically(&dir, "keepalived.data", b"dump\n").unwrap();
        assert_eq!(fs::read_to_string(&victim).unwrap(), "precious\n");
        let meta = fs::symlink_metadata(&path).unwrap();
        assert!(meta.file_type().is_file(), "still a symlink");
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(fs::read_to_string(&path).unwrap(), "dump\n");
        // Nothing left behind but the dump and the victim.
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 2);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_dump_replaces_the_old_one_as_a_whole_and_takes_no_prepared_file() {
        let dir = scratch("replace");
        fs::write(dir.join("keepalived.stats"), "old\n").unwrap();
        // Someone keeps the old file open: it still reads the old dump, whole.
        let old = fs::File::open(dir.join("keepalived.stats")).unwrap();
        // Temporary names taken by someone else (here: symlinks to a victim) are skipped,
        // never opened.
        let victim = dir.join("victim");
        fs::write(&victim, "precious\n").unwrap();
        for attempt in 0..3 {
            symlink(&victim, dir.join(temp_name("keepalived.stats", 7, attempt))).unwrap();
        }
        write_stamped(&dir, "keepalived.stats", b"new\n", 7).unwrap();
        assert_eq!(
            fs::read_to_string(dir.join("keepalived.stats")).unwrap(),
            "new\n"
        );
        assert_eq!(io::read_to_string(old).unwrap(), "old\n");
        assert_eq!(fs::read_to_string(&victim).unwrap(), "precious\n");
        for attempt in 0..3 {
            fs::remove_file(dir.join(temp_name("keepalived.stats", 7, attempt))).unwrap();
        }
        // All names taken: an error, and nothing written.
        for attempt in 0..TEMP_ATTEMPTS {
            symlink(&victim, dir.join(temp_name("keepalived.data", 8, attempt))).unwrap();
        }
        assert!(write_stamped(&dir, "keepalived.data", b"x", 8).is_err());
        assert!(!dir.join("keepalived.data").exists());
        assert_eq!(fs::read_to_string(&victim).unwrap(), "precious\n");
        for attempt in 0..TEMP_ATTEMPTS {
            fs::remove_file(dir.join(temp_name("keepalived.data", 8, attempt))).unwrap();
        }
        // A directory in the way is an error, and no temporary file stays.
        fs::create_dir(dir.join("keepalived.json")).unwrap();
        assert!(write_atomically(&dir, "keepalived.json", b"{}").is_err());
        let left: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with('.'))
            .collect();
        assert!(left.is_empty(), "{left:?}");
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_dump_dir_is_tmpdir_when_absolute_else_tmp() {
        use std::ffi::OsStr;
        assert_eq!(dump_dir(None), Path::new("/tmp"));
        assert_eq!(dump_dir(Some(OsStr::new("relative"))), Path::new("/tmp"));
        assert_eq!(dump_dir(Some(OsStr::new(""))), Path::new("/tmp"));
        assert_eq!(dump_dir(Some(OsStr::new("/run/x"))), Path::new("/run/x"));
    }

    #[test]
    fn the_data_dump_has_the_lines_keepalived_parsers_read() {
        let data = render_data(&report());
        for line in [
            " VRRP Instance = VI_1",
            "   State = BACKUP",
            "   Wantstate = BACKUP",
            "   Interface = eth0",
            "   Master router = 192.0.2.11",
            "   Virtual Router ID = 51",
            "   Priority = 100",
            "   Effective priority = 110",
            "   Advert interval = 1 sec",
            "   Master down timer = 3570000 usecs",
            "   Virtual IP (1):",
            "     192.0.2.100/24 dev eth0 scope global",
            "     chk_haproxy",
            " VRRP Script = chk_haproxy",
            "   Status = GOOD",
        ] {
            assert!(data.lines().any(|l| l == line), "{line:?} in:\n{data}");
        }
    }

    #[test]
    fn every_stats_value_is_a_number_and_errors_map_to_keepalived_names() {
        let stats = render_stats(&report());
        assert!(
            stats.contains("  Packet Errors:\n    Length: 0\n    TTL: 2\n"),
            "{stats}"
        );
        assert!(
            stats.contains("    Invalid Type: 1\n    Type Mismatch: 4\n    Failure: 0\n"),
            "{stats}"
        );
        assert!(stats.contains("    checksum: 7\n"), "{stats}");
        for line in stats.lines().filter(|l| l.starts_with("  ")) {
            let (_, value) = line.rsplit_once(':').unwrap();
            assert!(
                value.is_empty() || value.trim().parse::<u64>().is_ok(),
                "{line:?}"
            );
        }
    }

    #[test]
    fn json_has_keepalived_shape_and_a_clear_counts_from_there() {
        let mut report = report();
        let mut baseline = StatsBaseline::default();
        baseline.clear(&report);
        report.instances[0].adverts_received += 3;
        *report.instances[0].dropped.get_mut("hop_limit").unwrap() += 1;
        baseline.apply(&mut report);
        let json: Value = serde_json::from_str(&render_json(&report)).unwrap();
        let entry = &json[0];
        assert_eq!(entry["data"]["iname"], "VI_1");
        assert_eq!(entry["data"]["state"], 1);
        assert_eq!(entry["data"]["vrid"], 51);
        assert_eq!(
            entry["data"]["vips"][0],
            "192.0.2.100/24 dev eth0 scope global"
        );
        assert_eq!(entry["stats"]["advert_rcvd"], 3);
        assert_eq!(entry["stats"]["advert_sent"], 0);
        assert_eq!(entry["stats"]["ip_ttl_err"], 1);
        // An instance started again (counters back at zero) is not counted below zero.
        let mut restarted = self::report();
        restarted.instances[0].adverts_received = 2;
        restarted.instances[0].adverts_sent = 1;
        baseline.apply(&mut restarted);
        assert_eq!(restarted.instances[0].adverts_received, 2);
        assert_eq!(restarted.instances[0].adverts_sent, 1);
    }
}
