//! Harness for the end-to-end sysext tests (needs root): a Flatcar-like Debian trixie root
//! built once with mmdebstrap and cached under the target dir, per-test copy-on-write nodes
//! over it (overlayfs in a private mount namespace), `bake release` directories served on
//! 127.0.0.1, vipd binaries that report the image's version, and the shell blocks of
//! README.md.
#![allow(dead_code)]

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};

pub use crate::common::{HttpServer, BAKE};

/// Part of the cached root's path: bump it when the root's recipe below changes.
const ROOT_KEY: &str = "trixie-minbase-systemd-procps-gpg-keepalived-flatcar-v3";

/// What a command printed and how it exited.
pub struct Out {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    pub fn ok(&self) -> bool {
        self.code == Some(0)
    }
}

impl std::fmt::Display for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {:?}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

pub fn out_of(o: std::process::Output) -> Out {
    Out {
        code: o.status.code(),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target"))
}

fn e2e_dir() -> PathBuf {
    let dir = target_dir().join("e2e");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A fresh directory under target/e2e/run, removed on drop.
pub struct Scratch(PathBuf);

impl Scratch {
    pub fn new(tag: &str) -> Scratch {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir = e2e_dir()
            .join("run")
            .join(format!("{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
    /// `upper`, `work` and `root` (the mount point) for an overlay, created here.
    pub fn overlay_dirs(&self) -> (PathBuf, PathBuf, PathBuf) {
        let dirs = ["upper", "work", "root"].map(|d| self.0.join(d));
        for d in &dirs {
            std::fs::create_dir_all(d).unwrap();
        }
        let [upper, work, root] = dirs;
        (upper, work, root)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("scratch kept in {}", self.0.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// The trixie root, built once per cache key; other test processes wait on a file lock.
pub fn trixie_root() -> &'static Path {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    // procps: /bin/kill for the unit's ExecReload (Flatcar has it). gpg: systemd-pull runs it
    // to check SHA256SUMS.gpg when a transfer says Verify=yes (Flatcar has it). keepalived:
    // e2e_boot boots this root and migrates a running keepalived as README.md says.
    ROOT.get_or_init(|| {
        cached_root(
            ROOT_KEY,
            "trixie",
            "systemd,systemd-container,procps,gpg,keepalived",
            true,
        )
    })
}

/// A plain Debian 12 (bookworm, systemd 252) root that boots with systemd as PID 1
/// (`e2e_boot`): procps for the unit's ExecReload, keepalived for the migration.
pub fn bookworm_root() -> &'static Path {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        cached_root(
            "bookworm-minbase-systemd-procps-keepalived-v1",
            "bookworm",
            "systemd,procps,keepalived",
            false,
        )
    })
}

/// A root of Debian `suite` under target/e2e/KEY, built once; other test processes wait on a
/// file lock.
fn cached_root(key: &str, suite: &str, include: &str, flatcar: bool) -> PathBuf {
    let dir = e2e_dir();
    let root = dir.join(key);
    let lock = File::create(dir.join(format!("{key}.lock"))).unwrap();
    lock.lock().unwrap();
    if !root.join("usr/lib/os-release").exists() {
        build_root(&dir, key, suite, include, flatcar, &root);
    }
    lock.unlock().unwrap();
    root
}

fn build_root(dir: &Path, key: &str, suite: &str, include: &str, flatcar: bool, root: &Path) {
    let tmp = dir.join(format!("{key}.tmp"));
    let _ = std::fs::remove_dir_all(&tmp);
    let started = std::time::Instant::now();
    let o = Command::new("mmdebstrap")
        .args([
            "--quiet",
            "--variant=minbase",
            &format!("--include={include}"),
            suite,
        ])
        .arg(&tmp)
        .output()
        .expect("mmdebstrap (apt-get install mmdebstrap)");
    assert!(o.status.success(), "mmdebstrap:\n{}", out_of(o));
    if flatcar {
        // Flatcar-like: sysext images with ID=flatcar SYSEXT_LEVEL=1.0 apply to this root.
        std::fs::write(tmp.join("usr/lib/os-release"), FLATCAR_OS_RELEASE).unwrap();
        let _ = std::fs::remove_file(tmp.join("etc/os-release"));
        std::os::unix::fs::symlink("../usr/lib/os-release", tmp.join("etc/os-release")).unwrap();
        std::fs::create_dir_all(tmp.join("etc/extensions")).unwrap();
        std::fs::create_dir_all(tmp.join("opt/extensions")).unwrap();
    }
    let _ = std::fs::remove_dir_all(root);
    std::fs::rename(&tmp, root).unwrap();
    eprintln!("e2e: built {} in {:?}", root.display(), started.elapsed());
}

/// What a root needs for the images bake builds (ID=flatcar, SYSEXT_LEVEL=1.0) to apply.
pub const FLATCAR_OS_RELEASE: &str =
    "NAME=\"Flatcar Container Linux by Kinvolk\"\nID=flatcar\nVERSION_ID=4000.0.0\nSYSEXT_LEVEL=1.0\n";

/// The workspace version, as the stock vipd reports it.
fn stock_version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

/// The static x86-64 vipd, built once per run.
pub fn vipd_static() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let status = Command::new(std::env::var("CARGO").unwrap_or("cargo".into()))
            .current_dir(workspace())
            .args([
                "build",
                "--release",
                "-p",
                "vipd",
                "--target",
                "x86_64-unknown-linux-musl",
            ])
            .status()
            .unwrap();
        assert!(status.success(), "cargo build of the static vipd failed");
        target_dir().join("x86_64-unknown-linux-musl/release/vipd")
    })
}

/// The static vipd reporting `version` (`vipd VERSION`), so a test can tell which image's
/// binary is merged. Rebuilding per version would relink with LTO each time (about a minute),
/// so the one build is copied with its version string replaced by another of the same length.
pub fn vipd_as(version: &str) -> PathBuf {
    static DONE: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let stock = stock_version();
    assert_eq!(
        version.len(),
        stock.len(),
        "test version {version} must be as long as the workspace version {stock}"
    );
    let path = e2e_dir().join(format!("vipd-as-{version}"));
    let mut done = DONE.lock().unwrap();
    if !done.iter().any(|v| v == version) {
        let bytes = std::fs::read(vipd_static()).unwrap();
        let needle = stock.as_bytes();
        let hits = bytes.windows(needle.len()).filter(|w| *w == needle).count();
        assert!(hits >= 1, "{stock} not found in the vipd binary");
        let mut patched = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i..].starts_with(needle) {
                patched.extend_from_slice(version.as_bytes());
                i += needle.len();
            } else {
                patched.push(bytes[i]);
                i += 1;
            }
        }
        let tmp = e2e_dir().join(format!("vipd-as-{version}.{}.tmp", std::process::id()));
        std::fs::write(&tmp, patched).unwrap();
        std::fs::set_permissions(&tmp, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        let o = run_fresh_executable(Command::new(&path).arg("--version"));
        assert_eq!(
            String::from_utf8_lossy(&o.stdout).trim(),
            format!("vipd {version}"),
            "patched vipd does not report {version}"
        );
        done.push(version.to_string());
    }
    path
}

/// Runs a program written moments ago. Another test thread that forks while the file was
/// still open for writing holds a copy of that descriptor until its child execs, and exec of
/// the file then fails with ETXTBSY for that short moment: try again.
fn run_fresh_executable(command: &mut Command) -> std::process::Output {
    let mut tries = 0;
    loop {
        match command.output() {
            Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy && tries < 100 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => return other.unwrap(),
        }
    }
}

/// A release directory as a vendor publishes it, signed with the key README.md's `keygen`
/// block made, served over HTTP on 127.0.0.1.
pub struct Release {
    scratch: Scratch,
    server: Option<HttpServer>,
    base_url: String,
}

impl Release {
    pub fn new(tag: &str) -> Release {
        let scratch = Scratch::new(tag);
        let dir = scratch.path().join("release");
        std::fs::create_dir_all(&dir).unwrap();
        let server = HttpServer::start(&dir);
        let base_url = format!("http://127.0.0.1:{}/", server.port);
        let release = Release {
            scratch,
            server: Some(server),
            base_url,
        };
        release.run_block("keygen", &[]);
        release
    }

    /// The public key the `keygen` block wrote (what nodes install as import-pubring).
    pub fn public_key(&self) -> PathBuf {
        self.scratch.path().join("keys/vipd-release.pgp")
    }

    /// Runs a README.md block on the build machine (bake on PATH) in the scratch directory.
    /// bake refuses the tests' http:// base URL without --insecure-http, which README.md's
    /// commands (for https:// servers) do not carry: it is added to `bake release`, the one
    /// change made to the block.
    fn run_block(&self, name: &str, env: &[(&str, &str)]) {
        let block = doc_block(name);
        let block = if name == "publish" {
            assert_eq!(block.matches("bake release ").count(), 1, "{block}");
            block.replace("bake release ", "bake release --insecure-http ")
        } else {
            block
        };
        let o = self.bake_sh(&block, env);
        assert!(o.ok(), "README.md block {name}:\n{o}");
    }

    fn bake_sh(&self, script: &str, env: &[(&str, &str)]) -> Out {
        let bake_dir = Path::new(BAKE).parent().unwrap();
        let path = format!(
            "{}:{}",
            bake_dir.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let o = Command::new("sh")
            .args(["-eu", "-c", script])
            .current_dir(self.scratch.path())
            .env("PATH", path)
            .envs(env.iter().copied())
            .output()
            .unwrap();
        out_of(o)
    }

    /// What an attacker who controls the server (but not the key) can publish: `version`
    /// built and listed like a real release, unsigned or signed with a key of their own,
    /// replacing the served SHA256SUMS and SHA256SUMS.gpg.
    pub fn forge(&self, version: &str, signed_by_own_key: bool) {
        let vipd = vipd_as(version);
        let trust = if signed_by_own_key {
            "mkdir -p forged-keys && bake keygen --out forged-keys --name vipd-release >/dev/null 2>&1 || true
             trust='--sign-key forged-keys/vipd-release.key'"
        } else {
            "trust=--unsigned"
        };
        let script = format!(
            "rm -rf forged && mkdir forged && cp release/SHA256SUMS forged/
             {trust}
             bake release --insecure-http --version \"$VERSION\" --arch x86-64 --vipd \"$VIPD\" \\
                 --base-url \"$BASE_URL\" $trust --out forged
             cp forged/*.raw forged/SHA256SUMS release/
             rm -f release/SHA256SUMS.gpg
             if [ -e forged/SHA256SUMS.gpg ]; then cp forged/SHA256SUMS.gpg release/; fi"
        );
        let o = self.bake_sh(
            &script,
            &[
                ("VERSION", version),
                ("VIPD", vipd.to_str().unwrap()),
                ("BASE_URL", &self.base_url),
            ],
        );
        assert!(o.ok(), "forge {version}:\n{o}");
    }

    pub fn dir(&self) -> PathBuf {
        self.scratch.path().join("release")
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Runs README.md's `publish` block for `version` (bake on PATH).
    pub fn publish(&self, version: &str) {
        let vipd = vipd_as(version);
        self.run_block(
            "publish",
            &[
                ("VERSION", version),
                ("VIPD", vipd.to_str().unwrap()),
                ("BASE_URL", &self.base_url),
            ],
        );
    }

    pub fn image(&self, version: &str) -> PathBuf {
        self.dir().join(format!("vipd-{version}-x86-64.raw"))
    }

    /// Stops serving: the base URL refuses connections from now on.
    pub fn go_offline(&mut self) {
        self.server = None;
    }
}

/// PATH inside a node: the stand-ins first.
const NODE_PATH: &str = "/e2e/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// No service manager runs in a node. `systemctl` records its arguments; `systemd-sysext`
/// records them too and runs the real one with --no-reload (a merge asks the manager to
/// reload because of EXTENSION_RELOAD_MANAGER=1; without a manager that fails).
const SYSTEMCTL_RECORDER: &str = "#!/bin/sh\necho \"systemctl $*\" >> /e2e/calls\n";
const SYSEXT_WRAPPER: &str =
    "#!/bin/sh\necho \"systemd-sysext $*\" >> /e2e/calls\nexec /usr/bin/systemd-sysext --no-reload \"$@\"\n";

/// One Flatcar-like machine: the cached root under a private overlay (writes go to this
/// node's upper dir), with /proc, /sys, /dev and a fresh /run, in a mount namespace of its
/// own that lives as long as the node, so merged extensions stay merged between steps.
pub struct Node {
    scratch: Scratch,
    holder: Child,
    holder_stdin: Option<ChildStdin>,
    root: PathBuf,
}

impl Node {
    pub fn new(tag: &str) -> Node {
        let lower = trixie_root();
        let scratch = Scratch::new(tag);
        let (upper, work, root) = scratch.overlay_dirs();
        let bin = upper.join("e2e/bin");
        std::fs::create_dir_all(&bin).unwrap();
        for (name, text) in [
            ("systemctl", SYSTEMCTL_RECORDER),
            ("systemd-sysext", SYSEXT_WRAPPER),
        ] {
            std::fs::write(bin.join(name), text).unwrap();
            std::fs::set_permissions(
                bin.join(name),
                std::os::unix::fs::PermissionsExt::from_mode(0o755),
            )
            .unwrap();
        }
        let setup = r#"set -eu
            R="$1"
            mount -t overlay overlay -o "lowerdir=$2,upperdir=$3,workdir=$4" "$R"
            # systemd-sysext moves its overlay in from a child mount namespace.
            mount --make-rshared "$R"
            mount -t proc proc "$R/proc"
            mount -t sysfs sysfs "$R/sys"
            mount --rbind /dev "$R/dev"
            mount -t tmpfs tmpfs "$R/run"
            echo ready
            # Hold the namespace until the test drops stdin.
            exec cat >/dev/null"#;
        let mut holder = Command::new("unshare")
            .args(["-m", "--propagation", "private", "sh", "-c", setup, "sh"])
            .args([&root, lower, &upper, &work])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(holder.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let holder_stdin = holder.stdin.take();
        let node = Node {
            scratch,
            holder,
            holder_stdin,
            root,
        };
        assert_eq!(line.trim(), "ready", "node setup failed");
        node
    }

    /// Runs a host shell script in the node's mount namespace. `$R` is the root; `node CMD...`
    /// runs CMD chrooted into it with the stand-ins first on PATH.
    pub fn sh(&self, script: &str) -> Out {
        self.sh_args(script, &[])
    }

    fn sh_args(&self, script: &str, args: &[&str]) -> Out {
        let full = format!(
            "set -eu\nnode() {{ chroot \"$R\" /usr/bin/env PATH={NODE_PATH} \"$@\"; }}\n{script}"
        );
        let o = Command::new("nsenter")
            .args(["-t", &self.holder.id().to_string(), "-m", "--"])
            .args(["sh", "-c", &full, "sh"])
            .args(args)
            .env("R", &self.root)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        out_of(o)
    }

    pub fn sh_ok(&self, script: &str) -> String {
        let o = self.sh(script);
        assert!(o.ok(), "{script}\n{o}");
        o.stdout
    }

    /// Runs one program chrooted into the node (no shell in between).
    pub fn exec(&self, argv: &[&str]) -> Out {
        self.sh_args("node \"$@\"", argv)
    }

    /// Copies a host file into the node.
    pub fn put(&self, src: &Path, dest: &str) {
        let src = src.to_str().unwrap();
        self.sh_args(
            "mkdir -p \"$R/$(dirname \"$2\")\"; cp \"$1\" \"$R/$2\"",
            &[src, dest],
        );
        assert!(self.sh(&format!("test -f \"$R/{dest}\"")).ok(), "{dest}");
    }

    /// Runs a README.md block as root would paste it, in /root, stopping at the first
    /// failing command.
    pub fn paste(&self, block: &str) -> Out {
        let file = self.scratch.path().join(format!(
            "block-{}.sh",
            COUNTER.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::write(&file, block).unwrap();
        self.sh_args(
            "node sh -c 'cd /root && exec sh -eux' < \"$1\"",
            &[file.to_str().unwrap()],
        )
    }

    pub fn paste_ok(&self, name: &str) -> Out {
        let o = self.paste(&doc_block(name));
        assert!(o.ok(), "README.md block {name}:\n{o}");
        o
    }

    /// `vipd --version` of the merged binary, None when there is none.
    pub fn vipd_version(&self) -> Option<String> {
        let o = self.exec(&["vipd", "--version"]);
        o.ok().then(|| o.stdout.trim().to_string())
    }

    /// Where /etc/extensions/vipd.raw points (as written), None if it is no symlink.
    pub fn current_link(&self) -> Option<String> {
        let o = self.exec(&["readlink", "/etc/extensions/vipd.raw"]);
        o.ok().then(|| o.stdout.trim().to_string())
    }

    /// File names in /opt/extensions/vipd, hidden ones included, sorted.
    pub fn installed(&self) -> Vec<String> {
        let o = self.exec(&["ls", "-A", "/opt/extensions/vipd"]);
        o.stdout.lines().map(str::to_string).collect()
    }

    pub fn exists(&self, path: &str) -> bool {
        self.exec(&["test", "-e", path]).ok()
    }

    pub fn read(&self, path: &str) -> String {
        let o = self.exec(&["cat", path]);
        assert!(o.ok(), "{path}: {o}");
        o.stdout
    }

    /// What the stand-ins recorded since the last call, one command a line.
    pub fn take_calls(&self) -> Vec<String> {
        let o = self.sh("cat \"$R/e2e/calls\" 2>/dev/null || true; rm -f \"$R/e2e/calls\"");
        o.stdout.lines().map(str::to_string).collect()
    }

    /// Runs systemd-sysupdate.service as systemd would with the drop-in installed in the node:
    /// each ExecStartPre, the unit's ExecStart, each ExecStartPost, in order, stopping at
    /// the first failure. Returns (command line, exit code) for each command run.
    /// (systemd starts a Type=simple service's ExecStartPost right after forking ExecStart
    /// and kills it if ExecStart fails; running them one after the other is the calm case of
    /// that race, which the noop transfer keeps calm.)
    pub fn run_sysupdate_service(&self) -> ServiceRun {
        let unit = self.read("/usr/lib/systemd/system/systemd-sysupdate.service");
        let dropin = self.read(DROPIN_PATH);
        let pre = exec_lines(&dropin, "ExecStartPre");
        let post = exec_lines(&dropin, "ExecStartPost");
        let start = exec_lines(&unit, "ExecStart");
        assert_eq!(start.len(), 1, "{unit}");
        let mut run = ServiceRun {
            steps: Vec::new(),
            ok: true,
            log: String::new(),
        };
        for line in pre.iter().chain(&start).chain(&post) {
            let argv = split_command_line(line);
            let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
            let o = self.exec(&argv);
            run.log.push_str(&format!("$ {line}\n{o}\n"));
            run.steps.push((line.clone(), o.code));
            if !o.ok() {
                run.ok = false;
                break;
            }
        }
        run
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        // EOF ends `cat`, the last process of the namespace: every mount goes with it.
        self.holder_stdin = None;
        let _ = self.holder.wait();
    }
}

/// Where the auto-upgrade block installs the Butane drop-in.
pub const DROPIN_PATH: &str = "/etc/systemd/system/systemd-sysupdate.service.d/vipd.conf";

pub struct ServiceRun {
    pub steps: Vec<(String, Option<i32>)>,
    pub ok: bool,
    pub log: String,
}

/// Values of `key=` in a unit file, in order (no continuation lines in our files).
pub fn exec_lines(unit: &str, key: &str) -> Vec<String> {
    unit.lines()
        .filter_map(|l| l.strip_prefix(key)?.strip_prefix('='))
        .map(str::to_string)
        .collect()
}

/// systemd's command-line splitting for the subset our units use: words separated by
/// spaces, "double" or 'single' quoted words, backslash escapes inside double quotes.
/// Prefixes (-, +, @, !, :), specifiers (%) and $VAR would change the meaning, so refuse them.
pub fn split_command_line(line: &str) -> Vec<String> {
    assert!(
        !line.starts_with(['-', '+', '@', '!', ':']),
        "unsupported prefix: {line}"
    );
    assert!(
        !line.contains('%') && !line.contains('$'),
        "specifiers/variables not supported: {line}"
    );
    let mut words = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek() == Some(&' ') {
            chars.next();
        }
        let Some(&first) = chars.peek() else { break };
        let mut word = String::new();
        if first == '"' || first == '\'' {
            chars.next();
            loop {
                match chars.next() {
                    Some(c) if c == first => break,
                    Some('\\') if first == '"' => word.push(chars.next().unwrap()),
                    Some(c) => word.push(c),
                    None => panic!("unterminated quote in {line}"),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ' ' {
                    break;
                }
                word.push(c);
                chars.next();
            }
        }
        words.push(word);
    }
    words
}

/// The shell blocks of README.md: (name, text) for each ```sh NAME fence, also one indented
/// in a list item (its indentation is removed from the block's lines).
pub fn doc_blocks() -> Vec<(String, String)> {
    let path = workspace().join("README.md");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut blocks = Vec::new();
    // (name, body, the fence's indentation)
    let mut current: Option<(String, String, usize)> = None;
    for line in text.lines() {
        match current.as_mut() {
            Some((_, body, indent)) if line.trim() != "```" => {
                let cut = line.len() - line.trim_start().len();
                body.push_str(&line[cut.min(*indent)..]);
                body.push('\n');
            }
            Some(_) => {
                let (name, body, _) = current.take().unwrap();
                blocks.push((name, body));
            }
            None => {
                let indent = line.len() - line.trim_start().len();
                if let Some(info) = line.trim_start().strip_prefix("```") {
                    let mut words = info.split_whitespace();
                    // Only named blocks (```sh NAME) are commands the tests paste.
                    if let (Some("sh"), Some(name)) = (words.next(), words.next()) {
                        current = Some((name.to_string(), String::new(), indent));
                    }
                }
            }
        }
    }
    assert!(current.is_none(), "README.md: unterminated block");
    blocks
}

pub fn doc_block(name: &str) -> String {
    doc_blocks()
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, b)| b)
        .unwrap_or_else(|| panic!("README.md has no ```sh {name} block"))
}

/// Appends to a file (for logs the tests keep).
pub fn append(path: &Path, text: &str) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
}
