//! A capture of the wire: tcpdump writes pcap (kernel timestamps, nanoseconds) in a lab
//! namespace; this module reads the file back into the few kinds of frames the benchmarks
//! time (VRRP adverts, ICMP echo replies, gratuitous ARPs and unsolicited NAs).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// What a frame was, as far as the benchmarks care.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// VRRP advert (v2 or v3) for `vrid`; `ipv6` tells the family.
    Advert {
        vrid: u8,
        priority: u8,
        ipv6: bool,
    },
    EchoReply,
    /// Gratuitous ARP (sender IP = target IP) or unsolicited neighbour advertisement.
    Announcement,
    Other,
}

#[derive(Clone, Copy, Debug)]
pub struct Frame {
    /// Kernel receive time (CLOCK_REALTIME) in seconds.
    pub at: f64,
    pub src_mac: [u8; 6],
    pub kind: Kind,
}

/// A running `tcpdump -w`; `stop` returns the frames.
pub struct Pcap {
    child: Option<Child>,
    path: PathBuf,
    err_path: PathBuf,
}

impl Pcap {
    /// Starts capturing on `ifname` in namespace `ns` and waits until tcpdump listens.
    /// `immediate`: every frame is handed to tcpdump at once (else in blocks, and the last
    /// block, up to a second of frames, is lost when tcpdump stops).
    pub fn start(
        ns: &str,
        ifname: &str,
        filter: &str,
        dir: &Path,
        tag: &str,
        immediate: bool,
    ) -> Pcap {
        let mut options = vec!["-U"];
        if immediate {
            options.push("--immediate-mode");
        }
        Pcap::spawn(ns, ifname, filter, dir, tag, &options)
    }

    /// A capture that costs the machine little at tens of thousands of frames a second:
    /// the kernel hands tcpdump its ring in blocks (one wake-up per block or per second,
    /// not per frame), tcpdump writes its file through a buffer (not a write per frame),
    /// and keeps only the first `snaplen` bytes of a frame. The frames of about the last
    /// second before [`Pcap::stop`] may be missing (the block that was not full yet):
    /// judge only frames older than that.
    pub fn start_buffered(
        ns: &str,
        ifname: &str,
        filter: &str,
        dir: &Path,
        tag: &str,
        snaplen: u32,
    ) -> Pcap {
        let snaplen = snaplen.to_string();
        Pcap::spawn(ns, ifname, filter, dir, tag, &["-s", &snaplen])
    }

    fn spawn(
        ns: &str,
        ifname: &str,
        filter: &str,
        dir: &Path,
        tag: &str,
        options: &[&str],
    ) -> Pcap {
        let path = dir.join(format!("{tag}.pcap"));
        let err_path = dir.join(format!("{tag}.pcap.err"));
        let err = std::fs::File::create(&err_path).expect("create tcpdump stderr file");
        let mut argv: Vec<String> = [
            "netns",
            "exec",
            ns,
            "tcpdump",
            "-i",
            ifname,
            "-n",
            "-B",
            "16384",
            "--time-stamp-precision=nano",
        ]
        .iter()
        .chain(options)
        .map(|s| s.to_string())
        .collect();
        argv.push("-w".into());
        argv.push(path.display().to_string());
        argv.extend(filter.split_whitespace().map(str::to_owned));
        let child = Command::new("ip")
            .args(&argv)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(err)
            .spawn()
            .expect("start tcpdump");
        let pcap = Pcap {
            child: Some(child),
            path,
            err_path,
        };
        let listening =
            // Generous: tcpdump has been seen to take over 5 s to start (its 16 MiB ring
            // set up while a daemon floods the segment), which is no figure of either daemon.
            crate::lab::wait_until(Duration::from_secs(30), Duration::from_millis(5), || {
                std::fs::read_to_string(&pcap.err_path)
                    .unwrap_or_default()
                    .contains("listening on")
            });
        assert!(listening.is_some(), "tcpdump did not start");
        pcap
    }

    /// Stops tcpdump (SIGINT, so it flushes) and parses what it wrote.
    pub fn stop(&mut self) -> Vec<Frame> {
        if let Some(mut child) = self.child.take() {
            let pid = nix::unistd::Pid::from_raw(child.id() as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT);
            let done =
                crate::lab::wait_until(Duration::from_secs(3), Duration::from_millis(5), || {
                    matches!(child.try_wait(), Ok(Some(_)))
                });
            if done.is_none() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        std::fs::read(&self.path)
            .map(|bytes| parse_pcap(&bytes))
            .unwrap_or_default()
    }

    /// How many packets tcpdump says the kernel dropped (known once stopped).
    pub fn kernel_drops(&self) -> Option<u64> {
        let text = std::fs::read_to_string(&self.err_path).ok()?;
        let line = text.lines().find(|l| l.contains("dropped by kernel"))?;
        line.split_whitespace().next()?.parse().ok()
    }
}

impl Drop for Pcap {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// pcap (not pcapng), either byte order, micro- or nanosecond timestamps, Ethernet frames.
pub fn parse_pcap(bytes: &[u8]) -> Vec<Frame> {
    let Some(magic) = bytes.get(0..4) else {
        return Vec::new();
    };
    let (little, nanos) = match magic {
        [0xd4, 0xc3, 0xb2, 0xa1] => (true, false),
        [0x4d, 0x3c, 0xb2, 0xa1] => (true, true),
        [0xa1, 0xb2, 0xc3, 0xd4] => (false, false),
        [0xa1, 0xb2, 0x3c, 0x4d] => (false, true),
        _ => return Vec::new(),
    };
    let u32_at = |at: usize| -> Option<u32> {
        let b: [u8; 4] = bytes.get(at..at + 4)?.try_into().ok()?;
        Some(if little {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        })
    };
    let mut frames = Vec::new();
    let mut at = 24;
    while let (Some(sec), Some(frac), Some(len)) = (u32_at(at), u32_at(at + 4), u32_at(at + 8)) {
        let start = at + 16;
        let Some(data) = bytes.get(start..start + len as usize) else {
            break;
        };
        let scale = if nanos { 1e-9 } else { 1e-6 };
        if let Some(src_mac) = data.get(6..12).and_then(|m| <[u8; 6]>::try_from(m).ok()) {
            frames.push(Frame {
                at: f64::from(sec) + f64::from(frac) * scale,
                src_mac,
                kind: classify(data),
            });
        }
        at = start + len as usize;
    }
    frames
}

fn classify(frame: &[u8]) -> Kind {
    let Some(ethertype) = frame.get(12..14).map(|b| u16::from_be_bytes([b[0], b[1]])) else {
        return Kind::Other;
    };
    let payload = &frame[14.min(frame.len())..];
    match ethertype {
        0x0806 => {
            // ARP: sender IP at 14..18, target IP at 24..28.
            if payload.len() >= 28 && payload[14..18] == payload[24..28] {
                Kind::Announcement
            } else {
                Kind::Other
            }
        }
        0x0800 => {
            let header = usize::from(payload.first().map_or(0, |b| b & 0x0f)) * 4;
            let body = payload.get(header..).unwrap_or_default();
            match payload.get(9) {
                Some(112) => advert(body, false),
                Some(1) if body.first() == Some(&0) => Kind::EchoReply,
                _ => Kind::Other,
            }
        }
        0x86dd => {
            let body = payload.get(40..).unwrap_or_default();
            match payload.get(6) {
                Some(112) => advert(body, true),
                Some(58) if body.first() == Some(&129) => Kind::EchoReply,
                Some(58) if body.first() == Some(&136) => Kind::Announcement,
                _ => Kind::Other,
            }
        }
        _ => Kind::Other,
    }
}

fn advert(body: &[u8], ipv6: bool) -> Kind {
    match (body.get(1), body.get(2)) {
        (Some(&vrid), Some(&priority)) => Kind::Advert {
            vrid,
            priority,
            ipv6,
        },
        _ => Kind::Other,
    }
}

/// Master link loss as the wire shows it: from the old master's last advert to the first
/// echo reply from the new master after it, with the new master's first advert and first
/// announcement in between (seconds after the last advert).
#[derive(Clone, Copy, Debug)]
pub struct Takeover {
    pub first_advert: f64,
    pub first_announcement: f64,
    pub first_reply: f64,
}

pub fn takeover(frames: &[Frame], old_mac: [u8; 6], new_mac: [u8; 6]) -> Option<Takeover> {
    let is_advert = |f: &Frame| matches!(f.kind, Kind::Advert { .. });
    let last_old = frames
        .iter()
        .filter(|f| f.src_mac == old_mac && is_advert(f))
        .map(|f| f.at)
        .fold(None, |acc: Option<f64>, t| {
            Some(acc.map_or(t, |a| a.max(t)))
        })?;
    let after = |kind: &dyn Fn(&Frame) -> bool| {
        frames
            .iter()
            .filter(|f| f.src_mac == new_mac && f.at > last_old && kind(f))
            .map(|f| f.at - last_old)
            .fold(None, |acc: Option<f64>, t| {
                Some(acc.map_or(t, |a| a.min(t)))
            })
    };
    Some(Takeover {
        first_advert: after(&is_advert)?,
        first_announcement: after(&|f: &Frame| f.kind == Kind::Announcement)?,
        first_reply: after(&|f: &Frame| f.kind == Kind::EchoReply)?,
    })
}

/// How many frames of each kind came from each MAC (for error messages).
pub fn summary(frames: &[Frame]) -> Vec<(u8, &'static str, usize)> {
    let mut counts: Vec<(u8, &'static str, usize)> = Vec::new();
    for f in frames {
        let kind = match f.kind {
            Kind::Advert { .. } => "advert",
            Kind::EchoReply => "reply",
            Kind::Announcement => "announcement",
            Kind::Other => "other",
        };
        match counts
            .iter_mut()
            .find(|c| c.0 == f.src_mac[5] && c.1 == kind)
        {
            Some(c) => c.2 += 1,
            None => counts.push((f.src_mac[5], kind, 1)),
        }
    }
    counts
}
