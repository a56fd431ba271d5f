//! Recognises the one-line scripts keepalived users write whose meaning a native check has
//! exactly, so they can run without a fork (`vipd run`) or be written as native checks
//! (`vipd import-keepalived`). Anything not recognised with certainty keeps running as the
//! program it is.
//!
//! - process one-liners (run natively by `vipd run`): `killall -0 NAME` (process name equal,
//!   NAME shorter than 15 bytes), `pidof [-s] [-x] NAME` (Debian's sysvinit rules), `pgrep
//!   [-x] NAME` and `pkill -0 [-x] NAME` (name contains / equals NAME, for a NAME without
//!   regular-expression characters). As keepalived runs them (as root) they succeed exactly
//!   when such a process exists; as vipd's unprivileged script user `killall -0` and `pkill
//!   -0` would fail on other users' processes, the native check does not.
//! - probes (only converted by `import-keepalived`): `curl` with `-s -S -f -k -o /dev/null
//!   -m N` and one http(s) URL on an IP address, `nc -z [-v] [-w N] IP PORT`, and bash's
//!   `</dev/tcp/IP/PORT`.
//!
//! Each may be wrapped in `sh -c '...'` / `bash -c '...'` (without other shell syntax than
//! redirections to /dev/null), `timeout N ...`, and named by path in the usual system
//! directories.

use std::net::IpAddr;
use std::time::Duration;

use super::process::Matcher;

/// A recognised one-liner.
#[derive(Debug, Clone, PartialEq)]
pub enum OneLiner {
    Process(Matcher),
    /// curl: OK when the answer's status is in `status` (`-f`: below 400, else any).
    Http {
        url: String,
        insecure: bool,
        status: std::ops::RangeInclusive<u16>,
        timeout: Option<Duration>,
    },
    /// nc -z, bash /dev/tcp: OK when a TCP connection succeeds.
    Tcp {
        host: IpAddr,
        port: u16,
        timeout: Option<Duration>,
    },
}

const SYSTEM_DIRS: &[&str] = &[
    "/bin/",
    "/usr/bin/",
    "/sbin/",
    "/usr/sbin/",
    "/usr/local/bin/",
    "/usr/local/sbin/",
];

/// `name` if `word` is that program, bare or in a system directory.
fn program(word: &str) -> Option<&str> {
    if !word.contains('/') {
        return Some(word);
    }
    SYSTEM_DIRS
        .iter()
        .find_map(|dir| word.strip_prefix(dir))
        .filter(|rest| !rest.contains('/'))
}

/// Recognises `argv`; see the module doc.
pub fn recognize(argv: &[String]) -> Option<OneLiner> {
    let words: Vec<&str> = argv.iter().map(String::as_str).collect();
    recognize_words(&words, None, Shell::None)
}

/// Whether the words came from inside a shell's `-c` string, and which shell.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Shell {
    None,
    Sh,
    Bash,
}

fn recognize_words(words: &[&str], timeout: Option<Duration>, shell: Shell) -> Option<OneLiner> {
    let (first, rest) = words.split_first()?;
    let name = program(first)?;
    match name {
        "sh" | "dash" | "bash" if shell == Shell::None => {
            let [flag, script] = rest else { return None };
            if *flag != "-c" {
                return None;
            }
            let shell = if name == "bash" {
                Shell::Bash
            } else {
                Shell::Sh
            };
            recognize_shell_string(script, timeout, shell)
        }
        "timeout" if timeout.is_none() => {
            let (limit, inner) = rest.split_first()?;
            let limit = parse_seconds(limit)?;
            recognize_words(inner, Some(limit), shell)
        }
        "killall" => killall(rest).map(OneLiner::Process),
        "pidof" => pidof(rest).map(OneLiner::Process),
        "pgrep" => pgrep(rest, false).map(OneLiner::Process),
        "pkill" => pgrep(rest, true).map(OneLiner::Process),
        "curl" => curl(rest, timeout),
        "nc" | "netcat" | "nc.openbsd" => nc(rest, timeout),
        _ => None,
    }
}

/// Output redirections a shell string may carry without changing the exit status.
const QUIET: &[&str] = &[
    ">/dev/null",
    "1>/dev/null",
    "2>/dev/null",
    "2>&1",
    ">&/dev/null",
    "&>/dev/null",
];

fn recognize_shell_string(
    script: &str,
    timeout: Option<Duration>,
    shell: Shell,
) -> Option<OneLiner> {
    let trimmed = script.trim();
    if shell == Shell::Bash {
        if let Some(tcp) = dev_tcp(trimmed, timeout) {
            return Some(tcp);
        }
    }
    // Join `> /dev/null` written with a space into one token before checking tokens.
    let raw: Vec<&str> = trimmed.split_whitespace().collect();
    let mut words: Vec<String> = Vec::new();
    let mut i = 0;
    while i < raw.len() {
        let w = raw[i];
        if matches!(w, ">" | "1>" | "2>" | "&>" | ">&") && raw.get(i + 1) == Some(&"/dev/null") {
            words.push(format!("{w}/dev/null"));
            i += 2;
            continue;
        }
        words.push(w.to_string());
        i += 1;
    }
    let mut plain: Vec<&str> = Vec::new();
    for w in &words {
        if QUIET.contains(&w.as_str()) {
            if w.starts_with('&') && shell != Shell::Bash {
                // `&>` in a POSIX sh means "run in the background, then truncate".
                return None;
            }
            continue;
        }
        let safe = w.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'-' | b'_' | b'.' | b'/' | b':' | b'+' | b',' | b'@' | b'%' | b'='
                )
        });
        if !safe {
            return None;
        }
        plain.push(w);
    }
    recognize_words(&plain, timeout, shell)
}

/// bash: `</dev/tcp/IP/PORT`, optionally after `:` or `true`, or `>` instead of `<`.
fn dev_tcp(script: &str, timeout: Option<Duration>) -> Option<OneLiner> {
    let body = script
        .strip_prefix(':')
        .or_else(|| script.strip_prefix("true"))
        .unwrap_or(script)
        .trim_start();
    let path = body
        .strip_prefix('<')
        .or_else(|| body.strip_prefix('>'))?
        .trim_start();
    let rest = path.strip_prefix("/dev/tcp/")?;
    let (host, port) = rest.rsplit_once('/')?;
    let host: IpAddr = host.parse().ok()?;
    let port: u16 = port.parse().ok().filter(|p| *p != 0)?;
    Some(OneLiner::Tcp {
        host,
        port,
        timeout,
    })
}

/// A process name that means the same to every tool: no path, no regex characters.
fn plain_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('-')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn killall(args: &[&str]) -> Option<Matcher> {
    let mut signal0 = false;
    let mut name = None;
    for a in args {
        match *a {
            "-0" | "-s0" => signal0 = true,
            "-q" | "--quiet" => {}
            n if !n.starts_with('-') && name.is_none() => name = Some(n),
            _ => return None,
        }
    }
    let name = name?;
    // psmisc compares longer names with the command line: not worth imitating.
    (signal0 && !name.contains('/') && name.len() < super::process::COMM_LEN && !name.is_empty())
        .then(|| Matcher::Name(name.to_string()))
}

fn pidof(args: &[&str]) -> Option<Matcher> {
    let mut scripts = false;
    let mut name = None;
    for a in args {
        if let Some(flags) = a.strip_prefix('-') {
            if flags.is_empty() || !flags.chars().all(|c| matches!(c, 's' | 'x' | 'q')) {
                return None;
            }
            scripts |= flags.contains('x');
        } else if name.is_none() {
            name = Some(*a);
        } else {
            return None;
        }
    }
    let name = name?;
    (!name.contains('/') && !name.is_empty()).then(|| Matcher::Pidof {
        name: name.to_string(),
        scripts,
    })
}

/// pgrep/pkill NAME: the pattern is a regular expression on the process name; a plain word
/// is a substring test, `-x` makes it an equality test.
fn pgrep(args: &[&str], pkill: bool) -> Option<Matcher> {
    let mut exact = false;
    let mut signal0 = !pkill;
    let mut name = None;
    for a in args {
        match *a {
            "-x" | "--exact" => exact = true,
            "-0" | "--signal=0" if pkill => signal0 = true,
            n if !n.starts_with('-') && name.is_none() => name = Some(n),
            _ => return None,
        }
    }
    let name = name?;
    if !signal0 || !plain_name(name) || name.len() > super::process::COMM_LEN {
        return None;
    }
    Some(if exact {
        Matcher::Name(name.to_string())
    } else {
        Matcher::NameContains(name.to_string())
    })
}

/// `2`, `2s`, `1.5` (coreutils timeout; minutes and more are not worth it).
fn parse_seconds(text: &str) -> Option<Duration> {
    let number = text.strip_suffix('s').unwrap_or(text);
    let secs: f64 = number.parse().ok()?;
    (secs.is_finite() && secs > 0.0 && secs <= 86_400.0).then(|| Duration::from_secs_f64(secs))
}

fn curl(args: &[&str], outer: Option<Duration>) -> Option<OneLiner> {
    let mut fail = false;
    let mut insecure = false;
    let mut max_time = None;
    let mut url = None;
    let mut i = 0;
    while i < args.len() {
        let a = args[i];
        i += 1;
        let value = |i: &mut usize| {
            let v = args.get(*i).copied();
            *i += 1;
            v
        };
        match a {
            "--silent" | "--show-error" => {}
            "--fail" => fail = true,
            "--insecure" => insecure = true,
            "--output" => {
                if value(&mut i)? != "/dev/null" {
                    return None;
                }
            }
            "--max-time" => max_time = Some(parse_seconds(value(&mut i)?)?),
            _ if a.starts_with("--") => return None,
            _ if a.starts_with('-') && a.len() > 1 => {
                let flags: Vec<char> = a[1..].chars().collect();
                for (j, c) in flags.iter().enumerate() {
                    let last = j + 1 == flags.len();
                    match c {
                        's' | 'S' => {}
                        'f' => fail = true,
                        'k' => insecure = true,
                        'o' if last => {
                            if value(&mut i)? != "/dev/null" {
                                return None;
                            }
                        }
                        'm' if last => max_time = Some(parse_seconds(value(&mut i)?)?),
                        _ => return None,
                    }
                }
            }
            _ if url.is_none() => url = Some(a),
            _ => return None,
        }
    }
    let url = url?;
    let parsed = super::Url::parse(url).ok()?;
    parsed
        .host
        .trim_matches(['[', ']'])
        .parse::<IpAddr>()
        .ok()?;
    let timeout = match (outer, max_time) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    Some(OneLiner::Http {
        url: url.to_string(),
        insecure,
        status: if fail { 200..=399 } else { 100..=599 },
        timeout,
    })
}

fn nc(args: &[&str], outer: Option<Duration>) -> Option<OneLiner> {
    let mut zero_io = false;
    let mut wait = None;
    let mut rest: Vec<&str> = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = args[i];
        i += 1;
        if let Some(flags) = a.strip_prefix('-').filter(|f| !f.is_empty()) {
            let chars: Vec<char> = flags.chars().collect();
            let mut j = 0;
            while j < chars.len() {
                match chars[j] {
                    'z' => zero_io = true,
                    'v' => {}
                    'w' => {
                        let attached: String = chars[j + 1..].iter().collect();
                        let text = if attached.is_empty() {
                            let v = args.get(i).copied()?;
                            i += 1;
                            v.to_string()
                        } else {
                            attached
                        };
                        wait = Some(parse_seconds(&text)?);
                        j = chars.len();
                        continue;
                    }
                    _ => return None,
                }
                j += 1;
            }
        } else {
            rest.push(a);
        }
    }
    let [host, port] = rest.as_slice() else {
        return None;
    };
    if !zero_io {
        return None;
    }
    let host: IpAddr = host.parse().ok()?;
    let port: u16 = port.parse().ok().filter(|p| *p != 0)?;
    let timeout = match (outer, wait) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    Some(OneLiner::Tcp {
        host,
        port,
        timeout,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(line: &str) -> Option<OneLiner> {
        recognize(&crate::config::words::split(line).unwrap())
    }

    fn process(line: &str) -> Option<Matcher> {
        match r(line) {
            Some(OneLiner::Process(m)) => Some(m),
            _ => None,
        }
    }

    #[test]
    fn process_one_liners() {
        let haproxy = Some(Matcher::Name("haproxy".into()));
        assert_eq!(process("killall -0 haproxy"), haproxy);
        assert_eq!(process("/usr/bin/killall -0 haproxy"), haproxy);
        assert_eq!(process("/bin/sh -c 'killall -0 haproxy'"), haproxy);
        assert_eq!(
            process("/bin/bash -c \"killall -0 haproxy 2>/dev/null\""),
            haproxy
        );
        assert_eq!(process("pgrep -x haproxy"), haproxy);
        assert_eq!(process("pkill -0 -x haproxy"), haproxy);
        assert_eq!(
            process("pgrep haproxy"),
            Some(Matcher::NameContains("haproxy".into()))
        );
        assert_eq!(
            process("pkill -0 nginx"),
            Some(Matcher::NameContains("nginx".into()))
        );
        assert_eq!(
            process("pidof haproxy"),
            Some(Matcher::Pidof {
                name: "haproxy".into(),
                scripts: false
            })
        );
        assert_eq!(
            process("/bin/pidof -s -x check.sh"),
            Some(Matcher::Pidof {
                name: "check.sh".into(),
                scripts: true
            })
        );
        for not_exact in [
            "killall haproxy",                     // sends SIGTERM
            "killall -0 /usr/sbin/haproxy",        // matches by executable
            "killall -0 a-very-long-process-name", // psmisc's long-name rules
            "pgrep 'ha.*proxy'",                   // a real regular expression
            "pgrep -f haproxy",                    // full command line
            "pkill haproxy",                       // kills it
            "pidof haproxy nginx",                 // any of two
            "pidof /usr/sbin/haproxy",             // matches by executable
            "/opt/bin/killall -0 haproxy",         // not a system killall
            "/bin/sh -c 'killall -0 haproxy || exit 1'",
            "/bin/sh -c 'killall -0 $NAME'",
            "killall -0 haproxy extra",
        ] {
            assert_eq!(r(not_exact), None, "{not_exact}");
        }
    }

    #[test]
    fn probe_one_liners() {
        assert_eq!(
            r("curl -sfk https://127.0.0.1:6443/healthz -o /dev/null"),
            Some(OneLiner::Http {
                url: "https://127.0.0.1:6443/healthz".into(),
                insecure: true,
                status: 200..=399,
                timeout: None
            })
        );
        assert_eq!(
            r("/usr/bin/curl -s -f -o /dev/null --max-time 1 http://127.0.0.1:10254/healthz"),
            Some(OneLiner::Http {
                url: "http://127.0.0.1:10254/healthz".into(),
                insecure: false,
                status: 200..=399,
                timeout: Some(Duration::from_secs(1))
            })
        );
        assert!(matches!(
            r("curl -s http://127.0.0.1/"),
            Some(OneLiner::Http { status, .. }) if status == (100..=599)
        ));
        let tcp = |port, timeout| {
            Some(OneLiner::Tcp {
                host: "127.0.0.1".parse().unwrap(),
                port,
                timeout,
            })
        };
        assert_eq!(r("nc -z 127.0.0.1 6443"), tcp(6443, None));
        assert_eq!(
            r("nc -zv -w 2 127.0.0.1 6443"),
            tcp(6443, Some(Duration::from_secs(2)))
        );
        assert_eq!(
            r("/bin/bash -c 'timeout 2 /usr/bin/nc -z 127.0.0.1 7443'"),
            tcp(7443, Some(Duration::from_secs(2)))
        );
        assert_eq!(r("bash -c '</dev/tcp/127.0.0.1/6443'"), tcp(6443, None));
        assert_eq!(
            r("timeout 3 bash -c ': < /dev/tcp/127.0.0.1/6443'"),
            tcp(6443, Some(Duration::from_secs(3)))
        );
        for not_exact in [
            "curl -sfkL https://127.0.0.1:6443/healthz", // follows redirects
            "curl -sf https://api.example:6443/healthz", // name resolution, proxies
            "curl -sf -H 'Host: x' http://127.0.0.1/",   // extra header
            "curl -sf http://127.0.0.1/ -o /tmp/out",    // writes a file
            "sh -c '</dev/tcp/127.0.0.1/6443'",          // dash has no /dev/tcp
            "nc 127.0.0.1 6443",                         // sends stdin
            "nc -z 127.0.0.1 6443-6450",                 // a port range
            "bash -c 'curl -sf http://127.0.0.1/ | grep ok'",
        ] {
            assert_eq!(r(not_exact), None, "{not_exact}");
        }
    }
}
