//! tcpdump in a namespace: an independent decoder of what went over the wire.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

static CAPTURE_COUNTER: AtomicU32 = AtomicU32::new(0);

/// A running `tcpdump -v -n -l`. Killed on drop.
pub struct Capture {
    child: Option<Child>,
    out_path: PathBuf,
    err_path: PathBuf,
}

impl Capture {
    /// Starts tcpdump on `ifname` in `ns` and waits until it listens (up to 30 s: it took over
    /// 5 s twice on a loaded machine; the wait ends as soon as it listens).
    pub fn start(ns: &str, ifname: &str, filter: &str, dir: &Path) -> Capture {
        let n = CAPTURE_COUNTER.fetch_add(1, Ordering::SeqCst);
        let out_path = dir.join(format!("{ns}-{ifname}-tcpdump-{n}.txt"));
        let err_path = dir.join(format!("{ns}-{ifname}-tcpdump-{n}.err"));
        let out = File::create(&out_path).expect("create capture file");
        let err = File::create(&err_path).expect("create capture stderr file");
        let mut argv = vec![
            "netns", "exec", ns, "tcpdump", "-v", "-n", "-l", "-i", ifname,
        ];
        argv.extend(filter.split_whitespace());
        let child = Command::new("ip")
            .args(&argv)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("start tcpdump");
        let capture = Capture {
            child: Some(child),
            out_path,
            err_path,
        };
        let listening =
            super::wait_until(Duration::from_secs(30), Duration::from_millis(10), || {
                std::fs::read_to_string(&capture.err_path)
                    .unwrap_or_default()
                    .contains("listening on")
            });
        assert!(
            listening.is_some(),
            "tcpdump did not start: {}",
            std::fs::read_to_string(&capture.err_path).unwrap_or_default()
        );
        capture
    }

    /// Raw output lines so far.
    pub fn lines(&self) -> Vec<String> {
        std::fs::read_to_string(&self.out_path)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// One entry per packet: `-v` continuation lines (indented) joined to their first line.
    pub fn packets(&self) -> Vec<String> {
        let mut packets: Vec<String> = Vec::new();
        for line in self.lines() {
            match packets.last_mut() {
                Some(last) if line.starts_with(char::is_whitespace) => {
                    last.push(' ');
                    last.push_str(line.trim());
                }
                _ => packets.push(line),
            }
        }
        packets
    }

    /// Stops tcpdump (flushing what it has) and returns the packets.
    pub fn stop(&mut self) -> Vec<String> {
        if let Some(mut child) = self.child.take() {
            // tcpdump is line-buffered (-l); SIGINT lets it exit cleanly.
            let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGINT);
            let stopped =
                super::wait_until(Duration::from_secs(2), Duration::from_millis(5), || {
                    matches!(child.try_wait(), Ok(Some(_)))
                });
            if stopped.is_none() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        self.packets()
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Times (seconds since midnight, tcpdump's stamp) of the IPv4 multicast adverts `source` sent
/// for VRID 51 in tcpdump's lines (`Capture::packets`).
pub fn vrid51_advert_times(packets: &[String], source: &str) -> Vec<f64> {
    let from = format!("{source} > 224.0.0.18");
    packets
        .iter()
        .filter(|p| p.contains(&from) && p.contains("vrid 51"))
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
        .collect()
}
