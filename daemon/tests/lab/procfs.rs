//! Process trees from /proc: descendants, CPU time, resident memory, killing.

use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// Fields of /proc/PID/stat after the command name: (ppid, utime + stime in ticks).
fn stat(pid: i32) -> Option<(i32, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may contain spaces: split after the last ')'.
    let rest = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest[0] is field 3 (state): ppid is field 4, utime 14, stime 15.
    let ppid = fields.get(1)?.parse().ok()?;
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((ppid, utime + stime))
}

/// `pid` and all its descendants that exist now.
pub fn tree(pid: i32) -> Vec<i32> {
    let mut parent_of = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            if let Some(p) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<i32>().ok())
            {
                if let Some((ppid, _)) = stat(p) {
                    parent_of.push((p, ppid));
                }
            }
        }
    }
    let mut found = Vec::new();
    if stat(pid).is_some() {
        found.push(pid);
    }
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        for &(child, ppid) in &parent_of {
            if ppid == parent && !found.contains(&child) {
                found.push(child);
            }
        }
        i += 1;
    }
    found
}

fn ticks_per_second() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as u64
    } else {
        100
    }
}

/// User + system CPU time used so far by the process tree under `pid`.
pub fn tree_cpu(pid: i32) -> Duration {
    let ticks: u64 = tree(pid).iter().filter_map(|&p| stat(p)).map(|s| s.1).sum();
    Duration::from_micros(ticks * 1_000_000 / ticks_per_second())
}

/// Like `tree_cpu`, plus what each process's already reaped children used (cutime + cstime):
/// a daemon that forks short-lived scripts pays for them here.
pub fn tree_cpu_with_reaped(pid: i32) -> Duration {
    let ticks: u64 = tree(pid).iter().filter_map(|&p| reaped_ticks(p)).sum();
    Duration::from_micros(ticks * 1_000_000 / ticks_per_second())
}

/// utime + stime + cutime + cstime of one process, in ticks.
fn reaped_ticks(pid: i32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14..=17 of stat: utime, stime, cutime, cstime.
    (11..=14).map(|i| fields.get(i)?.parse::<u64>().ok()).sum()
}

/// Resident set size of the process tree under `pid`, in bytes.
pub fn tree_rss(pid: i32) -> u64 {
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as u64;
    tree(pid)
        .iter()
        .filter_map(|p| std::fs::read_to_string(format!("/proc/{p}/statm")).ok())
        .filter_map(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map(|pages| pages * page)
        .sum()
}

/// SIGKILLs `pid` and its descendants. They are stopped first so that no parent respawns a
/// child and no child sees its parent die and shuts down gracefully (keepalived's VRRP
/// child would remove its VIPs): the effect of a real crash or `kill -9` of the service.
pub fn kill_tree(pid: i32) {
    let pids = tree(pid);
    for &p in &pids {
        let _ = kill(Pid::from_raw(p), Signal::SIGSTOP);
    }
    for &p in &pids {
        let _ = kill(Pid::from_raw(p), Signal::SIGKILL);
    }
    // SIGKILL is delivered asynchronously; return once they are gone (zombies count).
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    while pids.iter().any(|&p| is_alive(p)) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// SIGSTOPs `pid` and its descendants (a daemon that does not get to run); the pids, for
/// [`continue_tree`].
pub fn stop_tree(pid: i32) -> Vec<i32> {
    let pids = tree(pid);
    for &p in &pids {
        let _ = kill(Pid::from_raw(p), Signal::SIGSTOP);
    }
    pids
}

/// SIGCONTs what [`stop_tree`] stopped.
pub fn continue_tree(pids: &[i32]) {
    for &p in pids {
        let _ = kill(Pid::from_raw(p), Signal::SIGCONT);
    }
}

pub fn is_alive(pid: i32) -> bool {
    // A zombie still has /proc/PID; it counts as gone.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(text) => text
            .rfind(')')
            .and_then(|i| text.get(i + 2..i + 3))
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}
