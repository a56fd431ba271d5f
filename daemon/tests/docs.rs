//! What README.md and REFERENCE.md show a new user works as shown: every TOML snippet passes
//! `vipd check`, README's short example is the shipped `examples/two-routers.toml` shortened,
//! the command synopsis of "Using vipd" names exactly the options each subcommand takes, the
//! unit drop-ins' `ExecStart=` lines parse, and every option of the keepalived command-line
//! table is one `vipd keepalived` knows. No root; runs the built `vipd` binary (about a second).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(workspace().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn vipd(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_vipd"))
        .args(args)
        .output()
        .expect("run vipd");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

/// A fenced block of a Markdown file.
struct Block {
    info: String,
    /// Line number of the opening fence (1-based).
    line: usize,
    body: String,
}

/// Every fenced block (also indented ones, in list items), its indentation removed.
fn blocks(text: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut open: Option<(Block, usize)> = None;
    for (n, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        match open.take() {
            None => {
                if let Some(info) = trimmed.strip_prefix("```") {
                    let block = Block {
                        info: info.trim().to_string(),
                        line: n + 1,
                        body: String::new(),
                    };
                    open = Some((block, line.len() - trimmed.len()));
                }
            }
            Some((block, _)) if trimmed == "```" => out.push(block),
            Some((mut block, indent)) => {
                block.body += line.get(indent..).unwrap_or(line.trim_start());
                block.body.push('\n');
                open = Some((block, indent));
            }
        }
    }
    assert!(open.is_none(), "unterminated fenced block");
    out
}

/// A scratch file of its own for each snippet (tests run in parallel threads).
fn scratch(name: &str, text: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "vipd-docs-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// An instance for snippets that show only a sub-table of one (`[[instance.forward]]`).
const HOST_INSTANCE: &str = "[[instance]]\nname = \"docs\"\ninterface = \"eth0\"\nvrid = 51\n\
                             vips = [\"192.0.2.100/24\"]\n\n";

#[test]
fn docs_toml_snippets_pass_vipd_check() {
    let mut checked = 0;
    for doc in ["README.md", "daemon/src/config/REFERENCE.md"] {
        for block in blocks(&read(doc)).into_iter().filter(|b| b.info == "toml") {
            let text = if block.body.contains("[[instance]]") || block.body.contains("[global]") {
                block.body.clone()
            } else {
                format!("{HOST_INSTANCE}{}", block.body)
            };
            let file = scratch("snippet.toml", &text);
            let dir = file.parent().unwrap();
            let (ok, out) = vipd(&[
                "check",
                file.to_str().unwrap(),
                "--state-dir",
                dir.to_str().unwrap(),
                "--socket",
                dir.join("vipd.sock").to_str().unwrap(),
            ]);
            let _ = std::fs::remove_dir_all(dir);
            assert!(
                ok,
                "{doc}:{}: `vipd check` refuses the snippet:\n{out}",
                block.line
            );
            checked += 1;
        }
    }
    assert!(checked >= 4, "only {checked} TOML snippets found");
}

/// The value part of a TOML line, its comment removed (no snippet puts `#` in a string).
fn toml_line(line: &str) -> Option<&str> {
    let line = line.split(" #").next().unwrap_or("").trim();
    (!line.is_empty() && !line.starts_with('#')).then_some(line)
}

#[test]
fn docs_readme_example_is_the_shipped_file_shortened() {
    let readme = read("README.md");
    let intro = readme
        .find("A short example (`examples/two-routers.toml`")
        .expect("README names the example file");
    let block = blocks(&readme[intro..]).into_iter().next().unwrap();
    let shipped = read("examples/two-routers.toml");
    let mut file = shipped.lines().filter_map(toml_line);
    for line in block.body.lines().filter_map(toml_line) {
        assert!(
            file.any(|l| l == line),
            "README's example has `{line}` where examples/two-routers.toml does not (or not \
             in that order)"
        );
    }
}

/// The options (`-c`, `--socket`) written in a piece of a command line.
fn options(text: &str) -> Vec<String> {
    text.split(|c: char| c.is_whitespace() || "[]|(),`;/".contains(c))
        .filter(|w| w.starts_with('-') && w.len() > 1 && w != &"...")
        .map(|w| w.trim_end_matches("...").to_string())
        .collect()
}

#[test]
fn docs_usage_synopsis_matches_the_command_line() {
    let readme = read("README.md");
    let start = readme.find("## Using vipd").expect("README has Using vipd");
    let synopsis = blocks(&readme[start..]).into_iter().next().unwrap().body;
    // Subcommand -> the options the synopsis gives it (continuation lines count for the
    // subcommand above them).
    let mut shown: Vec<(String, Vec<String>)> = Vec::new();
    for line in synopsis.lines() {
        let code = line.split(" #").next().unwrap_or("");
        if let Some(rest) = code.strip_prefix("vipd ") {
            let sub = rest.split_whitespace().next().unwrap_or("");
            if sub.starts_with('-') {
                shown.push((String::new(), options(rest)));
            } else {
                shown.push((sub.to_string(), options(&rest[sub.len()..])));
            }
        } else if let Some((_, opts)) = shown.last_mut() {
            opts.extend(options(code));
        }
    }
    let socket_everywhere = readme.contains("Every client subcommand takes `--socket PATH`.");
    let (_, top) = vipd(&["--help"]);
    let mut subcommands = 0;
    for (sub, opts) in &shown {
        if sub == "keepalived" {
            continue; // keepalived's own command line: see the next test
        }
        let help = if sub.is_empty() {
            top.clone()
        } else {
            let (ok, help) = vipd(&[sub, "--help"]);
            assert!(
                ok,
                "README shows `vipd {sub}`, which vipd does not know:\n{help}"
            );
            subcommands += 1;
            help
        };
        let known = options(&help);
        for opt in opts {
            assert!(
                known.contains(opt),
                "README shows `vipd {sub} {opt}`; `vipd {sub} --help` has no {opt}:\n{help}"
            );
        }
        // Each option line of the help (`-c, --config <CONFIG>  ...`): one of its spellings
        // is shown (`--socket` by the sentence under the synopsis).
        for line in help
            .lines()
            .map(str::trim_start)
            .filter(|l| l.starts_with('-'))
        {
            let spellings = options(line.split("  ").next().unwrap_or(""));
            if spellings
                .iter()
                .any(|o| ["--help", "-V"].contains(&o.as_str()))
            {
                continue;
            }
            assert!(
                spellings
                    .iter()
                    .any(|o| opts.contains(o) || (o == "--socket" && socket_everywhere)),
                "`vipd {sub}` takes {spellings:?}, which README's synopsis does not show"
            );
        }
    }
    // Every subcommand vipd has is in the synopsis.
    let listed: Vec<&str> = top
        .split("Commands:")
        .nth(1)
        .and_then(|t| t.split("Options:").next())
        .unwrap_or("")
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|w| *w != "help")
        .collect();
    for sub in listed {
        assert!(
            shown.iter().any(|(s, _)| s == sub),
            "README's synopsis does not show `vipd {sub}`"
        );
    }
    assert!(subcommands >= 7, "synopsis not found: {synopsis}");
}

#[test]
fn docs_unit_dropins_execstart_parses() {
    let mut checked = 0;
    for doc in [
        "README.md",
        "daemon/src/config/REFERENCE.md",
        "bakery/README.md",
    ] {
        for block in blocks(&read(doc)) {
            for line in block.body.lines() {
                let Some(cmd) = line.strip_prefix("ExecStart=/usr/bin/vipd ") else {
                    continue;
                };
                let mut args: Vec<&str> = cmd.split_whitespace().collect();
                args.push("--help"); // parses every option before it, runs nothing
                let (ok, out) = vipd(&args);
                assert!(ok, "{doc}:{}: `{line}` does not parse:\n{out}", block.line);
                checked += 1;
            }
        }
    }
    assert!(checked >= 2, "only {checked} ExecStart lines found");
}

#[test]
fn docs_keepalived_option_table_matches_vipd_keepalived() {
    let readme = read("README.md");
    let start = readme
        .find("| options | in vipd |")
        .expect("README has the keepalived option table");
    let (_, help) = vipd(&["keepalived", "-h"]);
    let known: Vec<String> = options(&help.replace(['=', ','], " "))
        .into_iter()
        .map(|o| o.trim_end_matches('.').to_string())
        .collect();
    let mut rows = 0;
    for row in readme[start..].lines().skip(2) {
        let Some(first) = row.strip_prefix("| ") else {
            break;
        };
        let cell = first.split(" | ").next().unwrap();
        for opt in options(&cell.replace(['=', ','], " ")) {
            // `-t[LOG]`, `--config-test[=LOG]`: the option without its optional value.
            let opt = opt.split('[').next().unwrap().to_string();
            assert!(
                known.contains(&opt),
                "README's keepalived table lists {opt}; `vipd keepalived -h` does not:\n{help}"
            );
        }
        rows += 1;
    }
    assert!(rows >= 8, "only {rows} rows");
}
