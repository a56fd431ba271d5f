//! Real-world corpus comparison (root and keepalived 2.2.7 needed; not in CI, the corpus is
//! other people's files and stays out of the repository): `make corpus CORPUS=DIR` runs
//! every `*.conf` of DIR through `keepalived -t` and `vipd check`, each alone in a network
//! namespace holding the interfaces the file names (veths with documentation addresses).
//! `virtual_server` blocks are cut out first (vipd refuses IPVS by design). When
//! `keepalived -t` complains, keepalived is started for a few seconds: a file it keeps
//! running counts as one it runs. Prints one line per file and the totals; fails when vipd
//! refuses a file keepalived runs.

use std::path::PathBuf;

use config_support::rewrite::{code, strip_lvs};
use config_support::{keepalived_keeps_running, output, Namespace, WorkDir};

mod config_support;

/// Interface names the file uses (`interface`, `dev`, `track_interface` entries, ...) that a
/// veth can carry, plus eth0 and eth1.
fn interfaces(text: &str) -> Vec<String> {
    let mut names = vec!["eth0".to_string(), "eth1".to_string()];
    let mut in_track = false;
    for line in text.lines() {
        let spaced = code(line).replace('{', " { ").replace('}', " } ");
        let words: Vec<&str> = spaced.split_whitespace().collect();
        for pair in words.windows(2) {
            if matches!(
                pair[0],
                "interface" | "dev" | "default_interface" | "lvs_sync_daemon_interface"
            ) {
                names.push(pair[1].to_string());
            }
        }
        let mut rest = &words[..];
        if words.first() == Some(&"track_interface") {
            in_track = true;
            rest = &words[1..];
        }
        if in_track {
            for w in rest {
                match *w {
                    "}" => {
                        in_track = false;
                        break;
                    }
                    "{" | "weight" => {}
                    w if w.parse::<i64>().is_ok() => {}
                    w => names.push(w.to_string()),
                }
            }
        }
    }
    let valid = |n: &String| {
        n.len() <= 15
            && n != "lo"
            && n.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '@'))
    };
    let mut names: Vec<String> = names
        .into_iter()
        .map(|n| n.trim_matches(|c| c == '"' || c == ';').to_string())
        .filter(valid)
        .collect();
    names.sort();
    names.dedup();
    names
}

/// A namespace holding `names` as veths with documentation addresses (a name the kernel
/// refuses is left out: keepalived and vipd then judge the file without it).
fn corpus_namespace(names: &[String]) -> Namespace {
    let ns = Namespace::new("corpus");
    for (i, name) in names.iter().enumerate() {
        let v4 = format!("192.0.2.{}/24", 10 + i);
        let v6 = format!("2001:db8::{:x}/64", 0x10 + i);
        let _ = ns.add_interface(name, &[&v4, &v6]);
    }
    ns
}

#[derive(Default)]
struct Totals {
    files: usize,
    keepalived_runs: usize,
    vipd_accepts: usize,
    both: usize,
    only_keepalived: Vec<String>,
    only_vipd: usize,
    neither: usize,
    warnings: usize,
}

#[test]
#[ignore = "needs VIPD_CORPUS_DIR, root and keepalived 2.2.7: make corpus CORPUS=DIR"]
fn corpus_files_keepalived_runs_are_accepted_by_vipd() {
    let dir = PathBuf::from(std::env::var("VIPD_CORPUS_DIR").expect("VIPD_CORPUS_DIR"));
    let vipd = env!("CARGO_BIN_EXE_vipd");
    // keepalived's script security refuses files below a directory others may write.
    let work_dir = WorkDir::new("corpus");
    let work = &work_dir.0;
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("corpus dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "conf"))
        .collect();
    files.sort();
    let mut t = Totals::default();
    for path in &files {
        let raw = String::from_utf8_lossy(&std::fs::read(path).expect("read")).into_owned();
        let text = strip_lvs(&raw);
        let ns = corpus_namespace(&interfaces(&text));
        let conf = work.join(path.file_name().expect("name"));
        std::fs::write(&conf, &text).expect("write");
        let conf_s = conf.to_str().expect("utf-8");
        let (k_rc, _) = ns.keepalived_test(&conf, &[]);
        // Anything but a clean test (even 6, "scripts run as root without
        // enable_script_security": an `includea` matching nothing passes -t and then stops
        // keepalived) is settled by running it.
        let k_runs = k_rc == 0 || keepalived_keeps_running(&ns, &conf, work);
        let (v_rc, v_out) = output(&["ip", "netns", "exec", &ns.0, vipd, "check", "-c", conf_s]);
        let warnings = v_out.lines().filter(|l| l.contains(": warning: ")).count();
        let v_ok = v_rc == 0;
        let class = match (k_runs, v_ok) {
            (true, true) => "both",
            (true, false) => "KEEPALIVED ONLY",
            (false, true) => "vipd only",
            (false, false) => "neither",
        };
        let first_error = v_out
            .lines()
            .find(|l| {
                !l.contains(": warning: ") && !l.contains(": note: ") && !l.contains(": OK (")
            })
            .unwrap_or("");
        println!(
            "{:<60} keepalived -t {k_rc:>3} runs {:<5} vipd {:<6} {warnings:>2} warning(s) {class} {}",
            path.file_name().unwrap().to_string_lossy(),
            k_runs,
            if v_ok { "accept" } else { "refuse" },
            if v_ok { "" } else { first_error }
        );
        t.files += 1;
        t.keepalived_runs += k_runs as usize;
        t.vipd_accepts += v_ok as usize;
        t.warnings += warnings;
        match (k_runs, v_ok) {
            (true, true) => t.both += 1,
            (true, false) => t.only_keepalived.push(path.display().to_string()),
            (false, true) => t.only_vipd += 1,
            (false, false) => t.neither += 1,
        }
        let _ = std::fs::remove_file(&conf);
    }
    println!(
        "\n{} files: keepalived 2.2.7 runs {}, vipd accepts {} ({} warning(s)); both {}, \
         keepalived only {}, vipd only {}, neither {}",
        t.files,
        t.keepalived_runs,
        t.vipd_accepts,
        t.warnings,
        t.both,
        t.only_keepalived.len(),
        t.only_vipd,
        t.neither
    );
    assert!(
        t.only_keepalived.is_empty(),
        "vipd refuses files keepalived runs:\n{}",
        t.only_keepalived.join("\n")
    );
}
