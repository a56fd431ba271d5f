//! Differential test against keepalived 2.2.7 (needs root and keepalived): every file in
//! `tests/fixtures/differential/` goes through `keepalived -t` (in a network namespace
//! holding the interfaces the files name) and `vipd check`. vipd must accept every file
//! keepalived accepts, except the documented refusals; the matrix is printed. Every file
//! vipd accepts is also imported (`vipd import-keepalived`), the TOML checked with
//! `vipd check`, and the model read from the TOML compared with the one read from the
//! keepalived.conf. See the fixtures' README for the header lines.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use config_support::{output as run, unique, Namespace, WorkDir};
use vipd::config::{self, ReadOptions};

mod config_support;

/// Files whose vipd verdict is known to be wrong until another branch is merged, with the
/// helper whose work fixes it. A file listed here that passes fails the test: take it out.
const KNOWN_PENDING: &[(&str, &str)] = &[];

/// Interfaces the fixtures name, with an address each (documentation ranges).
const INTERFACES: &[(&str, &[&str])] = &[
    ("eth0", &["192.0.2.1/24", "2001:db8::1/64"]),
    ("eth1", &["198.51.100.1/24"]),
    ("ens192", &["203.0.113.1/24"]),
];

/// Scripts the fixtures name as `@SCRIPTS@/NAME`.
const SCRIPTS: &[&str] = &[
    "check_apiserver.sh",
    "check_haproxy.sh",
    "notify.sh",
    "notify_master.sh",
    "notify_backup.sh",
    "notify_fault.sh",
    "fifo.sh",
    "startup.sh",
    "shutdown.sh",
];

/// A namespace with the fixtures' interfaces.
fn fixture_namespace() -> Namespace {
    let ns = Namespace::new("diff");
    for (ifname, addresses) in INTERFACES {
        ns.add_interface(ifname, addresses)
            .unwrap_or_else(|e| panic!("{e}"));
    }
    ns
}

/// A work directory with the fixtures' scripts in `scripts/` (each `exit 0`).
fn work_dir() -> WorkDir {
    let work = WorkDir::new("differential");
    let scripts = work.0.join("scripts");
    std::fs::create_dir_all(&scripts).expect("create scripts dir");
    std::fs::set_permissions(&scripts, std::fs::Permissions::from_mode(0o755))
        .expect("chmod scripts dir");
    for script in SCRIPTS {
        let path = scripts.join(script);
        std::fs::write(&path, "#!/bin/sh\nexit 0\n").expect("write script");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
            .expect("chmod script");
    }
    work
}

/// Copies `from` into `to` with `@SCRIPTS@` replaced.
fn copy_fixtures(from: &Path, to: &Path, scripts: &Path) {
    std::fs::create_dir_all(to).expect("create fixture copy");
    for entry in std::fs::read_dir(from).expect("read fixtures") {
        let path = entry.expect("dir entry").path();
        let target = to.join(path.file_name().expect("file name"));
        if path.is_dir() {
            copy_fixtures(&path, &target, scripts);
        } else {
            let text = std::fs::read_to_string(&path).expect("read fixture");
            let text = text.replace("@SCRIPTS@", &scripts.to_string_lossy());
            std::fs::write(&target, text).expect("write fixture copy");
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    Accept,
    Lenient,
    Refuse,
    Invalid,
}

struct Header {
    expect: Expect,
    /// Each config id with its own expectation when the line names one (a file for a
    /// whole cluster: keepalived may complain on one node's lines only).
    config_ids: Vec<(Option<String>, Option<Expect>)>,
}

fn expectation(path: &Path, word: &str) -> Expect {
    match word {
        "accept" => Expect::Accept,
        "lenient" => Expect::Lenient,
        "refuse" => Expect::Refuse,
        "invalid" => Expect::Invalid,
        other => panic!("{}: unknown expectation `{other}`", path.display()),
    }
}

fn header(path: &Path, text: &str) -> Header {
    let mut expect = None;
    let mut config_ids = Vec::new();
    for line in text
        .lines()
        .take_while(|l| l.starts_with('#') || l.starts_with('!'))
    {
        if let Some(word) = line.strip_prefix("# differential: ") {
            expect = Some(expectation(path, word.trim()));
        }
        if let Some(rest) = line.strip_prefix("# config-id: ") {
            let mut words = rest.split_whitespace();
            let id = words.next().expect("a config id").to_string();
            config_ids.push((Some(id), words.next().map(|w| expectation(path, w))));
        }
    }
    if config_ids.is_empty() {
        config_ids.push((None, None));
    }
    Header {
        expect: expect.unwrap_or_else(|| panic!("{}: no `# differential:` line", path.display())),
        config_ids,
    }
}

/// keepalived -t: 0 passes; 6 passes with only its script-security complaint (it runs the
/// file); 5 means configuration errors it reports and works around; anything else stops it.
fn keepalived_passes(rc: i32) -> bool {
    rc == 0 || rc == 6
}

struct Row {
    file: String,
    keepalived: String,
    vipd: String,
    warnings: usize,
    round_trip: String,
    verdict: String,
}

#[test]
fn differential_keepalived_and_vipd_accept_the_same_files() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/differential");
    let ns = fixture_namespace();
    let work = work_dir();
    let scripts = work.0.join("scripts");
    let conf_dir = work.0.join("conf");
    copy_fixtures(&fixtures, &conf_dir, &scripts);
    let vipd = env!("CARGO_BIN_EXE_vipd");

    let mut files: Vec<PathBuf> = std::fs::read_dir(&conf_dir)
        .expect("read fixture copy")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "conf"))
        .collect();
    files.sort();
    assert!(files.len() >= 40, "only {} fixtures", files.len());

    // Each file's verdicts are independent (keepalived -t and vipd check are processes that
    // read the file): a few at a time, then gathered in the files' order.
    let judged = in_parallel(&files, 4, |path| judge(&ns, vipd, path, &work.0));
    let mut rows = Vec::new();
    let mut failures = Vec::new();
    let mut pending_seen = Vec::new();
    let mut self_stopped_files = Vec::new();
    for outcome in judged {
        rows.extend(outcome.rows);
        failures.extend(outcome.failures);
        pending_seen.extend(outcome.pending_seen);
        self_stopped_files.extend(outcome.self_stopped);
    }

    failures.extend(keepalived_runs_as_annotated(
        &ns,
        &files,
        &self_stopped_files,
        &work.0,
    ));

    let width = rows.iter().map(|r| r.file.len()).max().unwrap_or(4).max(4);
    let mut matrix = format!(
        "{:width$}  {:14}  {:8}  {:8}  {:10}  verdict\n",
        "file", "keepalived -t", "vipd", "warnings", "round trip"
    );
    for r in &rows {
        matrix.push_str(&format!(
            "{:width$}  {:14}  {:8}  {:8}  {:10}  {}\n",
            r.file, r.keepalived, r.vipd, r.warnings, r.round_trip, r.verdict
        ));
    }
    eprintln!("{matrix}");
    if !pending_seen.is_empty() {
        eprintln!(
            "known pending (fixed by other branches): {}",
            pending_seen.join(", ")
        );
    }
    assert!(
        failures.is_empty(),
        "{} problem(s):\n{}\n\n{matrix}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// One file's rows (one per config id), problems and known-pending verdicts.
#[derive(Default)]
struct Judged {
    rows: Vec<Row>,
    failures: Vec<String>,
    pending_seen: Vec<String>,
    /// (file, config id) whose `keepalived -t` stopped itself (see `judge`).
    self_stopped: Vec<(PathBuf, Option<String>)>,
}

/// `f` on every item, `threads` at a time; the results in the items' order.
fn in_parallel<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let done = std::sync::Mutex::new(Vec::with_capacity(items.len()));
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let Some(item) = items.get(i) else {
                    return;
                };
                let result = f(item);
                done.lock().expect("results").push((i, result));
            });
        }
    });
    // A worker's panic has already failed the test (`scope` rethrows it).
    let mut done = done.into_inner().expect("results");
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, r)| r).collect()
}

/// keepalived -t and vipd check on one fixture (each config id), and the import round
/// trip of what vipd accepts.
fn judge(ns: &Namespace, vipd: &str, path: &Path, work: &Path) -> Judged {
    let mut outcome = Judged::default();
    let name = path
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    let text = std::fs::read_to_string(path).expect("read fixture");
    let head = header(path, &text);
    let pending = KNOWN_PENDING
        .iter()
        .find(|(f, _)| *f == name)
        .map(|(_, h)| *h);
    for (config_id, own_expect) in &head.config_ids {
        let expect = own_expect.unwrap_or(head.expect);
        let label = match config_id {
            Some(id) => format!("{name} [-i {id}]"),
            None => name.clone(),
        };
        let file = path.to_str().expect("utf-8 path");
        let mut k_extra = vec![];
        let mut v_argv = vec![vipd, "check", "-c", file];
        if let Some(id) = config_id {
            k_extra.extend(["-i", id.as_str()]);
            v_argv.extend(["--config-id", id.as_str()]);
        }
        let (k_rc, k_out) = ns.keepalived_test(path, &k_extra);
        let (v_rc, v_out) = run(&v_argv);
        let warnings = v_out.lines().filter(|l| l.contains(": warning: ")).count();
        let k_pass = keepalived_passes(k_rc);
        let v_pass = v_rc == 0;

        let mut problems = Vec::new();
        // keepalived 2.2.7's -t stops itself with SIGTERM (143) on any file with a script run
        // as another user: such a file is started for real instead, and must run (see
        // keepalived_runs_as_annotated).
        let self_stopped = k_rc == 143 && expect == Expect::Accept;
        if self_stopped {
            outcome
                .self_stopped
                .push((path.to_path_buf(), config_id.clone()));
        }
        let keepalived_as_annotated = match expect {
            Expect::Accept => k_pass || self_stopped,
            // Also 5: keepalived runs some files vipd refuses with an instance it holds
            // in FAULT (it reports that as a configuration error).
            Expect::Refuse => k_pass || k_rc == 5,
            // 6 (scripts run as root) hides the configuration errors' 5.
            Expect::Lenient => k_rc == 5 || k_rc == 6,
            Expect::Invalid => !k_pass,
        };
        if !keepalived_as_annotated {
            problems.push(format!(
                "keepalived -t exit {k_rc} does not match `{expect:?}`:\n{k_out}"
            ));
        }
        let vipd_should_pass = matches!(expect, Expect::Accept | Expect::Lenient);
        let vipd_wrong = v_pass != vipd_should_pass;
        match (vipd_wrong, pending) {
            (true, Some(owner)) => outcome.pending_seen.push(format!("{label} ({owner})")),
            (true, None) => problems.push(format!(
                "vipd check exit {v_rc}, expected {}:\n{v_out}",
                if vipd_should_pass { "0" } else { "an error" }
            )),
            (false, Some(owner)) => problems.push(format!(
                "passes now: take it out of KNOWN_PENDING (was waiting for {owner})"
            )),
            (false, None) => {}
        }

        let round_trip = if v_pass {
            match round_trip(vipd, path, config_id.as_deref(), work) {
                Ok(()) => "same".to_string(),
                Err(e) => {
                    problems.push(format!("import-keepalived round trip: {e}"));
                    "DIFFERS".to_string()
                }
            }
        } else {
            "-".to_string()
        };

        let verdict = if !problems.is_empty() {
            "FAIL"
        } else if vipd_wrong {
            "pending"
        } else {
            "ok"
        };
        outcome.rows.push(Row {
            file: label.clone(),
            keepalived: format!("{} ({k_rc})", if k_pass { "accepts" } else { "errors" }),
            vipd: if v_pass { "accepts" } else { "refuses" }.to_string(),
            warnings,
            round_trip,
            verdict: verdict.to_string(),
        });
        outcome
            .failures
            .extend(problems.into_iter().map(|p| format!("{label}: {p}")));
    }
    outcome
}

/// `vipd import-keepalived` gives TOML that `vipd check` accepts and that reads back into
/// the same model as the keepalived.conf.
fn round_trip(vipd: &str, path: &Path, config_id: Option<&str>, work: &Path) -> Result<(), String> {
    let file = path.to_str().expect("utf-8 path");
    let mut argv = vec![vipd, "import-keepalived", file];
    if let Some(id) = config_id {
        argv.extend(["--config-id", id]);
    }
    let out = Command::new(argv[0])
        .args(&argv[1..])
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!(
            "import failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let n = unique();
    let toml_path = work.join(format!("imported-{n}.toml"));
    std::fs::write(&toml_path, &out.stdout).map_err(|e| e.to_string())?;
    let (rc, check_out) = run(&[vipd, "check", "-c", toml_path.to_str().expect("utf-8")]);
    if rc != 0 {
        return Err(format!(
            "vipd check refuses the imported TOML:\n{check_out}\n{}",
            String::from_utf8_lossy(&out.stdout)
        ));
    }
    let options = match config_id {
        Some(id) => ReadOptions {
            config_id: id.to_string(),
            all_config: false,
        },
        None => ReadOptions::default(),
    };
    let from_conf = config::read(path, &options).map_err(|e| e.to_string())?;
    let from_toml = config::read(&toml_path, &options).map_err(|e| e.to_string())?;
    // The import writes a script vipd runs natively (`killall -0 NAME`, `pidof NAME`) as
    // the native check it runs.
    let from_conf = config::translate_checks(&from_conf.config);
    if from_conf != from_toml.config {
        return Err(format!(
            "models differ\nkeepalived.conf: {:#?}\nTOML: {:#?}",
            from_conf, from_toml.config
        ));
    }
    Ok(())
}

/// `keepalived -t` exits 5 both for files keepalived runs anyway and for files it refuses
/// to run, so each `lenient` file (or config id) is started for real (all at once, in the
/// namespace) and must still run after a few seconds; each `invalid` one must have stopped.
/// So must run each `accept` one whose `-t` stopped itself (`self_stopped`: exit 143).
fn keepalived_runs_as_annotated(
    ns: &Namespace,
    files: &[PathBuf],
    self_stopped: &[(PathBuf, Option<String>)],
    work: &Path,
) -> Vec<String> {
    let mut started = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(path).expect("read fixture");
        let head = header(path, &text);
        for (config_id, own_expect) in &head.config_ids {
            let mut expect = own_expect.unwrap_or(head.expect);
            if self_stopped.contains(&(path.clone(), config_id.clone())) {
                // Runs as a lenient file must: still there a few seconds later.
                expect = Expect::Lenient;
            }
            if !matches!(expect, Expect::Lenient | Expect::Invalid) {
                continue;
            }
            let mut extra = vec![];
            let mut label = path.display().to_string();
            if let Some(id) = config_id {
                extra.extend(["-i", id.as_str()]);
                label.push_str(&format!(" [-i {id}]"));
            }
            let log = work.join(format!("keepalived-run-{}.log", unique()));
            let out = std::fs::File::create(&log).expect("create log");
            let err = out.try_clone().expect("clone log");
            let child = ns.spawn_keepalived(path, work, &extra, out.into(), err.into());
            started.push((label, expect, child, log));
        }
    }
    // keepalived stops at once on a configuration it refuses; one that still runs after
    // this long has started its instances.
    std::thread::sleep(std::time::Duration::from_secs(3));
    let mut judged = Vec::new();
    for (path, expect, mut child, log) in started {
        if expect == Expect::Invalid {
            // A refusal comes at once; a loaded machine may still delay it.
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
            while matches!(child.try_wait(), Ok(None)) && std::time::Instant::now() < deadline {
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
        }
        let running = matches!(child.try_wait(), Ok(None));
        judged.push((path, expect, child, log, running));
    }
    // Every one still running is told to stop first, then waited for: each takes a while
    // to shut its instances down, and one after the other that was most of the test's time.
    for (_, _, child, _, running) in &judged {
        if *running {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
        }
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut problems = Vec::new();
    for (path, expect, mut child, log, running) in judged {
        if running {
            while matches!(child.try_wait(), Ok(None)) && std::time::Instant::now() < deadline {
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            if matches!(child.try_wait(), Ok(None)) {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        let output = std::fs::read_to_string(&log).unwrap_or_default();
        // `lvs_sync_daemon_interface` needs the ip_vs module, which a test machine may lack:
        // a limit of the host, not a verdict on the file.
        let running = running || output.contains("Can't initialize ipvs");
        let wanted = expect == Expect::Lenient;
        if running != wanted {
            problems.push(format!(
                "{path}: annotated `{expect:?}` but keepalived {} it:\n{output}",
                if running { "runs" } else { "does not run" }
            ));
        }
    }
    problems
}
