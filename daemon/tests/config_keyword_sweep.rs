//! The keyword sweep: every keyword keepalived 2.2.7 knows (`fixtures/keywords/
//! keepalived-2.2.7.txt`), written in its block with each typical value form (no value,
//! on/off, yes/no, numbers at and beyond the usual ranges, an interface, an address, a
//! path, several words, a `{ }` block), read by vipd and compared with what keepalived
//! 2.2.7's `keepalived -t` says about the same file:
//!
//! - keepalived is silent (exit 0): vipd accepts (warnings allowed: a keyword vipd ignores
//!   is still worth a word);
//! - keepalived complains (it logs and runs the file anyway): vipd accepts with a warning,
//!   on the line keepalived names;
//! - vipd refuses only where REFERENCE.md says so (IPVS) or keepalived does not run the
//!   file either.
//!
//! keepalived's answers are recorded in `fixtures/keywords/keepalived-2.2.7-verdicts.tsv`
//! so the sweep runs in a second anywhere; when keepalived is installed and the test runs
//! as root, a sample of the cases (every 16th) is checked against the real keepalived, and
//! `VIPD_KEYWORD_SWEEP=record` re-runs keepalived on every case and rewrites the record
//! (`make keyword-sweep`). The matrix is printed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use config_support::Namespace;
use vipd::config::{self, ReadOptions};

mod config_support;

/// The value forms every keyword is tried with (`{}` is replaced by nothing: the keyword
/// alone).
const FORMS: &[&str] = &[
    "",
    "on",
    "off",
    "yes",
    "no",
    "0",
    "1",
    "-1",
    "255",
    "256",
    "65536",
    "1.5",
    "eth0",
    "192.0.2.5",
    "224.0.0.19",
    "/bin/true",
    "1 2 3",
    "{\n  1\n }",
];

/// Keywords whose refusal by vipd is by design (REFERENCE.md, class 3).
const REFUSED_BY_DESIGN: &[(&str, &str)] =
    &[("top", "virtual_server"), ("top", "virtual_server_group")];

/// Keywords left out of the sweep, with why.
const NOT_SWEPT: &[(&str, &str, &str)] = &[
    (
        "top",
        "net_namespace",
        "keepalived -t moves into the namespace it names; covered by fixtures",
    ),
    (
        "global_defs",
        "config_save_dir",
        "keepalived -t would write copies of the configuration",
    ),
];

const INSTANCE: &str = "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n@INSTANCE@\n virtual_ipaddress {\n  192.0.2.10\n }\n}\n";

/// The file for `keyword value` in `block`; `@LINE@` marks where the line goes.
fn config_text(block: &str, line: &str) -> String {
    let instance = |extra: &str| INSTANCE.replace("@INSTANCE@", extra);
    let plain = instance("");
    match block {
        "top" => format!("{line}\n{plain}"),
        "global_defs" => format!("global_defs {{\n {line}\n}}\n{plain}"),
        "vrrp_instance" => instance(&format!(" {line}")),
        "vrrp_sync_group" => format!(
            "{plain}vrrp_instance VI_2 {{\n interface eth1\n virtual_router_id 52\n \
             virtual_ipaddress {{\n  198.51.100.10\n }}\n}}\n\
             vrrp_sync_group G {{\n group {{\n  VI_1\n  VI_2\n }}\n {line}\n}}\n"
        ),
        "vrrp_script" => format!("vrrp_script S {{\n script /bin/true\n {line}\n}}\n{plain}"),
        "vrrp_track_process" => {
            format!("vrrp_track_process P {{\n process foo\n {line}\n}}\n{plain}")
        }
        "vrrp_track_file" => format!("vrrp_track_file F {{\n file /tmp/x\n {line}\n}}\n{plain}"),
        "garp_group" => {
            format!("garp_group {{\n garp_interval 1\n interface eth0\n {line}\n}}\n{plain}")
        }
        "authentication" => instance(&format!(
            " authentication {{\n  auth_type PASS\n  auth_pass x\n  {line}\n }}"
        )),
        other => panic!("no template for block {other}"),
    }
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/keywords")
}

struct Case {
    block: String,
    keyword: String,
    form: String,
    text: String,
}

fn cases() -> Vec<Case> {
    let list = std::fs::read_to_string(fixtures().join("keepalived-2.2.7.txt"))
        .expect("read keyword list");
    let mut out = Vec::new();
    for line in list
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (block, keyword) = line.split_once(' ').expect("BLOCK KEYWORD");
        if NOT_SWEPT
            .iter()
            .any(|(b, k, _)| *b == block && *k == keyword)
        {
            continue;
        }
        for form in FORMS {
            let written = if form.is_empty() {
                keyword.to_string()
            } else {
                format!("{keyword} {form}")
            };
            out.push(Case {
                block: block.to_string(),
                keyword: keyword.to_string(),
                form: form.replace('\n', " "),
                text: config_text(block, &written),
            });
        }
    }
    out
}

/// What keepalived -t said: its exit code and its messages, one per line.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Keepalived {
    rc: i32,
    messages: String,
}

fn escape(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('\n', "\\n")
        .replace('\t', "\\t")
}

fn unescape(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

fn key(case: &Case) -> String {
    format!("{}\t{}\t{}", case.block, case.keyword, escape(&case.form))
}

fn record_path() -> PathBuf {
    fixtures().join("keepalived-2.2.7-verdicts.tsv")
}

fn recorded() -> BTreeMap<String, Keepalived> {
    let text = std::fs::read_to_string(record_path()).unwrap_or_default();
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let fields: Vec<&str> = l.split('\t').collect();
            let [block, keyword, form, rc, messages] = fields.as_slice() else {
                return None;
            };
            Some((
                format!("{block}\t{keyword}\t{form}"),
                Keepalived {
                    rc: rc.parse().ok()?,
                    messages: unescape(messages),
                },
            ))
        })
        .collect()
}

/// Runs `keepalived -t` on each of `cases` in a namespace holding eth0 and eth1.
fn run_keepalived(cases: &[&Case], dir: &Path) -> Vec<Keepalived> {
    let ns = Namespace::new("sweep");
    for (ifname, address) in [("eth0", "192.0.2.1/24"), ("eth1", "198.51.100.1/24")] {
        ns.add_interface(ifname, &[address])
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let path = dir.join("sweep.conf");
    cases
        .iter()
        .map(|case| {
            std::fs::write(&path, &case.text).expect("write case");
            let (rc, text) = ns.keepalived_test(&path, &[]);
            // keepalived 2.2.7 crashes on a few of these (SIGSEGV, or SIGABRT on a double
            // free); the record keeps any death by a signal as -1, whichever signal it was.
            let rc = if rc > 128 { -1 } else { rc };
            let messages = text
                .replace(&*path.to_string_lossy(), "sweep.conf")
                .split('\n')
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect::<Vec<_>>()
                .join("\n");
            Keepalived { rc, messages }
        })
        .collect()
}

fn keepalived_available() -> bool {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    root && Command::new("keepalived").arg("--version").output().is_ok()
}

/// The lines keepalived names in its messages (`(FILE: Line N)`, `(Line N)`).
fn keepalived_lines(messages: &str) -> Vec<usize> {
    messages
        .lines()
        .filter_map(|l| {
            let head = l.strip_prefix('(')?;
            let head = &head[..head.find(')')?];
            let rest = &head[head.find("Line ")? + "Line ".len()..];
            rest.parse().ok()
        })
        .collect()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Verdict {
    Accepts,
    Warns,
    Refuses,
}

impl Verdict {
    fn letter(self) -> char {
        match self {
            Verdict::Accepts => 'a',
            Verdict::Warns => 'w',
            Verdict::Refuses => 'R',
        }
    }
}

/// keepalived messages about the host rather than the file: script security (scripts run
/// as root without `enable_script_security`), scripts that are not there and users that do
/// not exist. vipd checks these when it runs a script (and `vipd check` warns about them),
/// not when it reads the file, so the sweep leaves them out.
const ABOUT_THE_HOST: &[&str] = &[
    "SECURITY VIOLATION - scripts are being executed but script_security not enabled.",
    "since not found/accessible",
    "Unable to set uid/gid for script",
    "Error setting global script uid/gid",
];

/// keepalived -t: 0 and silent accepts; 5 (configuration errors it logs and works around)
/// or messages with 0 or 6 (scripts run as root) warn; anything else is a refusal. A file
/// naming an interface that does not exist is one keepalived 2.2.7 does not run (without
/// `dynamic_interfaces`): "Non-existent interface specified in configuration", then
/// "exited with permanent error CONFIG"; so is an instance in strict mode without a VIP
/// ("No VIP specified; at least one is required").
fn keepalived_verdict(k: &Keepalived) -> Verdict {
    let messages: Vec<&str> = k
        .messages
        .lines()
        .filter(|l| !ABOUT_THE_HOST.iter().any(|h| l.contains(h)))
        .collect();
    if messages.iter().any(|l| {
        l.contains("Non-existent interface specified in configuration")
            || l.contains("No VIP specified; at least one is required")
    }) {
        return Verdict::Refuses;
    }
    match k.rc {
        0 | 5 | 6 if messages.is_empty() => Verdict::Accepts,
        0 | 5 | 6 => Verdict::Warns,
        _ => Verdict::Refuses,
    }
}

struct VipdResult {
    verdict: Verdict,
    /// Lines of the warnings (or errors).
    lines: Vec<usize>,
    messages: Vec<String>,
}

fn vipd_read(text: &str) -> VipdResult {
    let options = ReadOptions {
        config_id: "sweep".to_string(),
        all_config: false,
    };
    match config::read_keepalived(text, Path::new("sweep.conf"), &options) {
        Ok(loaded) => VipdResult {
            verdict: if loaded.warnings.is_empty() {
                Verdict::Accepts
            } else {
                Verdict::Warns
            },
            lines: loaded.warnings.iter().filter_map(|w| w.line).collect(),
            messages: loaded.warnings.iter().map(|w| w.to_string()).collect(),
        },
        Err(errors) => VipdResult {
            verdict: Verdict::Refuses,
            lines: errors.iter().filter_map(|e| e.line).collect(),
            messages: errors.iter().map(|e| e.to_string()).collect(),
        },
    }
}

#[test]
fn keyword_sweep_vipd_accepts_and_warns_where_keepalived_does() {
    let cases = cases();
    let record = std::env::var("VIPD_KEYWORD_SWEEP").is_ok_and(|v| v == "record");
    let mut verdicts = recorded();
    let scratch = std::env::temp_dir().join(format!("vipd-sweep-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).expect("scratch dir");
    if record {
        assert!(
            keepalived_available(),
            "recording needs root and keepalived"
        );
        let all: Vec<&Case> = cases.iter().collect();
        let answers = run_keepalived(&all, &scratch);
        let mut tsv = String::from(
            "# keepalived 2.2.7 `keepalived -t` on each case of tests/config_keyword_sweep.rs:\n\
             # block, keyword, value form, exit code, messages (\\n-separated). Rewritten by\n\
             # VIPD_KEYWORD_SWEEP=record (make keyword-sweep).\n",
        );
        verdicts.clear();
        for (case, answer) in cases.iter().zip(answers) {
            tsv.push_str(&format!(
                "{}\t{}\t{}\n",
                key(case),
                answer.rc,
                escape(&answer.messages)
            ));
            verdicts.insert(key(case), answer);
        }
        std::fs::write(record_path(), tsv).expect("write record");
    } else if keepalived_available() {
        // The record must still be what the installed keepalived says.
        let sample: Vec<&Case> = cases.iter().step_by(16).collect();
        let answers = run_keepalived(&sample, &scratch);
        let stale: Vec<String> = sample
            .iter()
            .zip(answers)
            .filter(|(case, answer)| verdicts.get(&key(case)) != Some(answer))
            .map(|(case, answer)| format!("{}: keepalived now says {answer:?}", key(case)))
            .collect();
        assert!(
            stale.is_empty(),
            "the recorded keepalived answers are stale (re-record with make keyword-sweep):\n{}",
            stale.join("\n")
        );
    }
    let _ = std::fs::remove_dir_all(&scratch);

    let mut problems = Vec::new();
    let mut missing = 0;
    // (block, keyword) -> one "kv" letter pair per form.
    let mut rows: BTreeMap<(String, String), String> = BTreeMap::new();
    let mut counts: BTreeMap<(Verdict, Verdict), usize> = BTreeMap::new();
    for case in &cases {
        let Some(k) = verdicts.get(&key(case)) else {
            missing += 1;
            continue;
        };
        let kv = keepalived_verdict(k);
        let v = vipd_read(&case.text);
        *counts.entry((kv, v.verdict)).or_default() += 1;
        rows.entry((case.block.clone(), case.keyword.clone()))
            .or_default()
            .push_str(&format!("{}{} ", kv.letter(), v.verdict.letter()));
        let by_design = REFUSED_BY_DESIGN
            .iter()
            .any(|(b, k)| *b == case.block && *k == case.keyword);
        let problem = match (kv, v.verdict) {
            (_, Verdict::Refuses) if by_design => None,
            (Verdict::Accepts | Verdict::Warns, Verdict::Refuses) => {
                Some("keepalived runs it, vipd refuses".to_string())
            }
            // keepalived does not start with a keyword missing its value, and neither
            // does vipd (REFERENCE.md).
            (Verdict::Refuses, Verdict::Accepts | Verdict::Warns)
                if k.messages.contains(&format!(
                    "starting `{}` is missing a parameter",
                    case.keyword
                )) =>
            {
                Some("keepalived stops at it (\"missing a parameter\"), vipd runs it".to_string())
            }
            (Verdict::Warns, Verdict::Accepts) => {
                Some("keepalived complains, vipd is silent".to_string())
            }
            // The first line keepalived complains about must have a warning (at most four
            // lines before it: keepalived reports some problems at the end of a block); later
            // ones may be lines a block without `{` swallowed, which vipd reports once.
            (Verdict::Warns, Verdict::Warns) => match keepalived_lines(&k.messages).first() {
                Some(&line)
                    if !v
                        .lines
                        .iter()
                        .any(|l| (line.saturating_sub(4)..=line).contains(l)) =>
                {
                    Some(format!(
                        "keepalived complains about line {line} first, vipd not there"
                    ))
                }
                _ => None,
            },
            _ => None,
        };
        if let Some(problem) = problem {
            problems.push(format!(
                "{} `{} {}`: {problem}\n  keepalived (exit {}): {}\n  vipd: {}",
                case.block,
                case.keyword,
                case.form,
                k.rc,
                k.messages.replace('\n', "\n    "),
                v.messages.join("\n    ")
            ));
        }
    }

    let mut matrix = format!(
        "keyword sweep: keepalived/vipd per value form (a accepts, w warns, R refuses)\nforms: {}\n",
        FORMS
            .iter()
            .map(|f| if f.is_empty() { "(none)".to_string() } else { f.replace('\n', " ") })
            .collect::<Vec<_>>()
            .join(" | ")
    );
    for ((block, keyword), letters) in &rows {
        matrix.push_str(&format!("{block:18} {keyword:36} {letters}\n"));
    }
    let keywords = rows.len();
    matrix.push_str(&format!(
        "{keywords} keywords, {} cases (keepalived/vipd): {}\n",
        cases.len() - missing,
        counts
            .iter()
            .map(|((k, v), n)| format!("{}{}={n}", k.letter(), v.letter()))
            .collect::<Vec<_>>()
            .join(" ")
    ));
    eprintln!("{matrix}");
    assert_eq!(
        missing, 0,
        "{missing} cases have no recorded keepalived answer: run make keyword-sweep"
    );
    assert!(
        problems.is_empty(),
        "{} case(s) where vipd does not follow keepalived:\n{}",
        problems.len(),
        problems.join("\n")
    );
}
