//! Health checks run inside vipd (no fork except `exec`): specs, validation, probes, the
//! sans-I/O rise/fall state and priority arithmetic, and the scheduler that runs them.
//! Script security and the sandbox of script children are in `security` and `exec`.
//!
//! Checks are identified by name and shared between instances: one [`CheckRunner`] task per
//! check; the runtime maps each [`CheckEvent`] to the instances tracking that name and
//! recomputes their priority with [`contribution`] and [`effective_priority`].

pub mod exec;
pub mod file;
pub mod http;
pub mod interface;
pub mod oneliner;
pub mod process;
pub mod runner;
pub mod security;
pub mod state;
pub mod tcp;
mod tls;

use std::path::PathBuf;
use std::time::Duration;

pub use http::{Scheme, Url};
pub use runner::{
    CheckEvent, CheckReload, CheckReloadSummary, CheckRunner, CheckRunnerHandle, CheckSnapshot,
};
pub use state::{
    contribution, effective_priority, CheckState, Contribution, Health, Outcome, Priority,
    Transition,
};

/// One health check, independent of the configuration syntax it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckSpec {
    pub name: String,
    pub kind: CheckKind,
    pub interval: Duration,
    pub timeout: Duration,
    pub rise: u32,
    pub fall: u32,
    /// Default weight for instances tracking this check (they may override it).
    pub weight: i32,
    /// Start `Down` instead of `Unknown`.
    pub init_fail: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum CheckKind {
    /// Connect to host:port; `host` is an IP address or a name.
    Tcp { host: String, port: u16 },
    /// GET `url`; ok when the status is in `expect_status` (empty: any 2xx).
    Http {
        url: Url,
        expect_status: Vec<u16>,
        /// Skip certificate verification (`curl -k`).
        insecure: bool,
        host_header: Option<String>,
    },
    /// An integer read from a file (keepalived `track_file`).
    File { path: PathBuf },
    /// Link state (up and running) of an interface in vipd's network namespace.
    Interface { name: String },
    /// Run a command; exit 0 is success. `user` defaults to `nobody` when vipd runs as root.
    Exec {
        argv: Vec<String>,
        user: Option<String>,
        group: Option<String>,
    },
    /// Count matching processes in /proc (keepalived `vrrp_track_process`).
    Process {
        matcher: process::Matcher,
        quorum: process::Quorum,
        /// The script this check replaces (`killall -0 haproxy` run natively), if any.
        replaces: Option<String>,
    },
}

impl CheckKind {
    pub fn type_name(&self) -> &'static str {
        match self {
            CheckKind::Tcp { .. } => "tcp",
            CheckKind::Http { url, .. } => match url.scheme {
                Scheme::Http => "http",
                Scheme::Https => "https",
            },
            CheckKind::File { .. } => "file",
            CheckKind::Interface { .. } => "interface",
            CheckKind::Exec { .. } => "exec",
            CheckKind::Process { .. } => "process",
        }
    }
}

/// Result of one probe run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeResult {
    pub ok: bool,
    pub latency: Duration,
    /// Human-readable outcome ("connected", "HTTP 200", "exit status 1", ...).
    pub detail: String,
    /// The integer read by a file check.
    pub value: Option<i64>,
}

impl ProbeResult {
    pub fn ok(latency: Duration, detail: impl Into<String>) -> Self {
        ProbeResult {
            ok: true,
            latency,
            detail: detail.into(),
            value: None,
        }
    }

    pub fn fail(latency: Duration, detail: impl Into<String>) -> Self {
        ProbeResult {
            ok: false,
            latency,
            detail: detail.into(),
            value: None,
        }
    }

    /// What the state machine records for this result.
    pub fn outcome(&self) -> Outcome {
        match (self.value, self.ok) {
            (Some(v), _) => Outcome::Value(v),
            (None, true) => Outcome::Success,
            (None, false) => Outcome::Failure,
        }
    }
}

/// Largest |weight| for up/down checks (keepalived `vrrp_script`, `track_interface`).
pub const MAX_WEIGHT: i32 = 253;
/// Largest |weight| for file and process checks (keepalived `track_file`,
/// `vrrp_track_process`).
pub const MAX_FILE_WEIGHT: i32 = 254;

/// Check a spec before running it. Errors name the check and the field.
pub fn validate(spec: &CheckSpec) -> Result<(), String> {
    let name = &spec.name;
    if name.is_empty() {
        return Err("check: name must not be empty".into());
    }
    if spec.interval.is_zero() {
        return Err(format!("check {name}: interval must be > 0"));
    }
    if spec.timeout.is_zero() {
        return Err(format!("check {name}: timeout must be > 0"));
    }
    if spec.rise < 1 {
        return Err(format!("check {name}: rise must be >= 1"));
    }
    if spec.fall < 1 {
        return Err(format!("check {name}: fall must be >= 1"));
    }
    let max = match spec.kind {
        CheckKind::File { .. } | CheckKind::Process { .. } => MAX_FILE_WEIGHT,
        _ => MAX_WEIGHT,
    };
    if !(-max..=max).contains(&spec.weight) {
        return Err(format!(
            "check {name}: weight {} out of range -{max}..{max}",
            spec.weight
        ));
    }
    match &spec.kind {
        CheckKind::Tcp { host, port } => {
            if host.is_empty() {
                return Err(format!("check {name}: tcp host must not be empty"));
            }
            if *port == 0 {
                return Err(format!("check {name}: tcp port must be 1..65535"));
            }
        }
        CheckKind::Http {
            expect_status,
            host_header,
            ..
        } => {
            if let Some(code) = expect_status.iter().find(|c| !(100..=599).contains(*c)) {
                return Err(format!(
                    "check {name}: expected status {code} is not an HTTP status (100..599)"
                ));
            }
            if let Some(h) = host_header {
                if h.is_empty() || h.bytes().any(|b| b.is_ascii_control() || b == b' ') {
                    return Err(format!("check {name}: invalid host header {h:?}"));
                }
            }
        }
        CheckKind::File { path } => {
            if path.as_os_str().is_empty() {
                return Err(format!("check {name}: file path must not be empty"));
            }
        }
        CheckKind::Interface { name: ifname } => {
            if ifname.is_empty() || ifname.len() >= libc::IFNAMSIZ {
                return Err(format!(
                    "check {name}: interface name {ifname:?} must be 1..15 bytes"
                ));
            }
        }
        // Whether the program can run is not a property of the spec: a check whose script
        // is missing or unsafe is disabled and tried again (see `runner`).
        CheckKind::Exec { argv, .. } => {
            if argv.first().is_none_or(|a| a.is_empty()) {
                return Err(format!("check {name}: the command is empty"));
            }
        }
        CheckKind::Process {
            matcher, quorum, ..
        } => {
            let empty = match matcher {
                process::Matcher::Name(n) | process::Matcher::NameContains(n) => n.is_empty(),
                process::Matcher::Pidof { name, .. } => name.is_empty(),
                process::Matcher::Command { argv0, .. } => argv0.is_empty(),
            };
            if empty {
                return Err(format!("check {name}: the process name is empty"));
            }
            if quorum.min > quorum.max {
                return Err(format!(
                    "check {name}: quorum {} is above quorum_max {}",
                    quorum.min, quorum.max
                ));
            }
        }
    }
    Ok(())
}

/// For `vipd check`: the host of a tcp/http check is an IP literal or a name that resolves now.
/// Kept out of [`validate`] because DNS may not be up yet when vipd starts at boot.
pub fn check_host_resolves(spec: &CheckSpec) -> Result<(), String> {
    use std::net::ToSocketAddrs;
    let (host, port) = match &spec.kind {
        CheckKind::Tcp { host, port } => (host.as_str(), *port),
        CheckKind::Http { url, .. } => (url.host.as_str(), url.port()),
        _ => return Ok(()),
    };
    if host.parse::<std::net::IpAddr>().is_ok() {
        return Ok(());
    }
    let valid_name = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_');
    if !valid_name {
        return Err(format!("check {}: invalid host name {host:?}", spec.name));
    }
    match (host, port).to_socket_addrs() {
        Ok(addrs) if addrs.len() > 0 => Ok(()),
        Ok(_) => Err(format!("check {}: host {host} has no address", spec.name)),
        Err(e) => Err(format!(
            "check {}: host {host} does not resolve: {e}",
            spec.name
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(kind: CheckKind) -> CheckSpec {
        CheckSpec {
            name: "c".into(),
            kind,
            interval: Duration::from_millis(100),
            timeout: Duration::from_millis(100),
            rise: 1,
            fall: 1,
            weight: 0,
            init_fail: false,
        }
    }

    fn tcp() -> CheckKind {
        CheckKind::Tcp {
            host: "127.0.0.1".into(),
            port: 80,
        }
    }

    #[test]
    fn validate_rejects_bad_numbers() {
        assert!(validate(&spec(tcp())).is_ok());
        let mut s = spec(tcp());
        s.interval = Duration::ZERO;
        assert!(validate(&s).unwrap_err().contains("interval"));
        let mut s = spec(tcp());
        s.timeout = Duration::ZERO;
        assert!(validate(&s).unwrap_err().contains("timeout"));
        let mut s = spec(tcp());
        s.rise = 0;
        assert!(validate(&s).unwrap_err().contains("rise"));
        let mut s = spec(tcp());
        s.fall = 0;
        assert!(validate(&s).unwrap_err().contains("fall"));
    }

    #[test]
    fn validate_weight_ranges() {
        for (w, ok) in [(253, true), (-253, true), (254, false), (-254, false)] {
            let mut s = spec(tcp());
            s.weight = w;
            assert_eq!(validate(&s).is_ok(), ok, "weight {w}");
        }
        let mut s = spec(CheckKind::File { path: "/x".into() });
        s.weight = 254;
        assert!(validate(&s).is_ok());
        s.weight = -255;
        assert!(validate(&s).unwrap_err().contains("weight -255"));
    }

    #[test]
    fn host_resolution_for_lint() {
        assert!(check_host_resolves(&spec(tcp())).is_ok());
        assert!(check_host_resolves(&spec(CheckKind::Tcp {
            host: "localhost".into(),
            port: 80
        }))
        .is_ok());
        assert!(check_host_resolves(&spec(CheckKind::Tcp {
            host: "bad name!".into(),
            port: 80
        }))
        .unwrap_err()
        .contains("bad name!"));
    }

    #[test]
    fn validate_kind_fields() {
        assert!(validate(&spec(CheckKind::Tcp {
            host: "h".into(),
            port: 0
        }))
        .is_err());
        assert!(validate(&spec(CheckKind::Interface {
            name: "a-very-long-interface".into()
        }))
        .is_err());
        assert!(validate(&spec(CheckKind::Http {
            url: Url::parse("http://127.0.0.1/").unwrap(),
            expect_status: vec![200, 700],
            insecure: false,
            host_header: None,
        }))
        .unwrap_err()
        .contains("700"));
        assert!(validate(&spec(CheckKind::Exec {
            argv: vec![],
            user: None,
            group: None,
        }))
        .is_err());
        assert!(validate(&spec(CheckKind::Exec {
            argv: vec!["/nonexistent/script".into()],
            user: None,
            group: None,
        }))
        .is_ok());
    }
}
