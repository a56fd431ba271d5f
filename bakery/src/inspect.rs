//! `bake inspect`: reads an image back with backhand and checks it against the sysext rules.

use crate::elf::{self, Linkage};
use crate::names::{sysext_name_from_file, Arch};
use crate::recipe::check_image_path;
use crate::{err, Result};
use backhand::{FilesystemReader, InnerNode};
use std::io::{BufRead, BufReader, Read, Seek};
use std::path::Path;

pub struct FileLine {
    pub path: String,
    pub kind: char,
    pub mode: u16,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
}

pub struct Binary {
    pub path: String,
    /// Linkage and machine, or why the ELF could not be read.
    pub info: std::result::Result<elf::ElfInfo, String>,
}

pub struct Report {
    pub image: String,
    pub name: String,
    pub extension_release: Option<String>,
    pub files: Vec<FileLine>,
    pub binaries: Vec<Binary>,
    pub violations: Vec<String>,
}

impl Report {
    pub fn is_ok(&self) -> bool {
        self.violations.is_empty()
    }

    pub fn print(&self) {
        println!("image: {} (sysext name {})", self.image, self.name);
        println!("extension-release:");
        match &self.extension_release {
            Some(text) => text.lines().for_each(|l| println!("  {l}")),
            None => println!("  (missing)"),
        }
        println!("files:");
        for f in &self.files {
            println!(
                "  {}{:04o} {}/{} {:>9} {}",
                f.kind, f.mode, f.uid, f.gid, f.size, f.path
            );
        }
        println!("binaries:");
        for b in &self.binaries {
            match &b.info {
                Ok(info) => {
                    let arch = Arch::from_elf_machine(info.machine)
                        .map(|a| a.to_string())
                        .unwrap_or_else(|| format!("ELF machine {}", info.machine));
                    println!("  {}: {}, {arch}", b.path, info.linkage);
                }
                Err(e) => println!("  {}: unreadable ELF: {e}", b.path),
            }
        }
        if self.violations.is_empty() {
            println!("rules: ok");
        } else {
            println!("violations:");
            for v in &self.violations {
                println!("  {v}");
            }
        }
    }
}

fn value<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines().find_map(|l| {
        l.strip_prefix(key)
            .and_then(|r| r.strip_prefix('='))
            .map(|v| v.trim().trim_matches('"'))
    })
}

/// Reads `image` and checks every rule; I/O and format errors are `Err`, rule failures are
/// listed in the report.
pub fn inspect(image: &Path) -> Result<Report> {
    let file =
        std::fs::File::open(image).map_err(|e| err!("cannot open {}: {e}", image.display()))?;
    let file_name = image
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    inspect_reader(
        BufReader::new(file),
        &image.display().to_string(),
        &file_name,
    )
}

/// [`inspect`] on an image read from `reader`; `image` names it in messages and `file_name`
/// is the name the sysext name comes from.
pub fn inspect_reader<R: BufRead + Seek + Send>(
    reader: R,
    image: &str,
    file_name: &str,
) -> Result<Report> {
    let fs = FilesystemReader::from_reader(reader)
        .map_err(|e| err!("{image}: not a readable SquashFS image: {e}"))?;
    let file_name = file_name.to_string();
    let name = sysext_name_from_file(&file_name);
    let mut report = Report {
        image: image.to_string(),
        name: name.clone(),
        extension_release: None,
        files: Vec::new(),
        binaries: Vec::new(),
        violations: Vec::new(),
    };
    let mut release_names = Vec::new();
    let mut contents: Vec<(String, Vec<u8>)> = Vec::new();

    for node in fs.files() {
        let path = node.fullpath.display().to_string();
        let (kind, size) = match &node.inner {
            InnerNode::File(f) => ('-', f.file_len() as u64),
            InnerNode::Dir(_) => ('d', 0),
            InnerNode::Symlink(_) => ('l', 0),
            _ => ('?', 0),
        };
        let h = &node.header;
        report.files.push(FileLine {
            path: path.clone(),
            kind,
            mode: h.permissions,
            uid: h.uid,
            gid: h.gid,
            size,
        });
        if h.uid != 0 || h.gid != 0 {
            report
                .violations
                .push(format!("{path} is owned by {}:{}, not root", h.uid, h.gid));
        }
        if path != "/" && !(kind == 'd' && (path == "/usr" || path == "/opt")) {
            if let Err(e) = check_image_path(&path) {
                report.violations.push(e.0);
            }
        }
        match &node.inner {
            InnerNode::File(f) => {
                let mut data = Vec::new();
                fs.file(f)
                    .reader()
                    .read_to_end(&mut data)
                    .map_err(|e| err!("{image}: cannot read {path}: {e}"))?;
                if let Some(n) =
                    path.strip_prefix("/usr/lib/extension-release.d/extension-release.")
                {
                    release_names.push(n.to_string());
                }
                contents.push((path, data));
            }
            InnerNode::Dir(_) | InnerNode::Symlink(_) => {}
            _ => report
                .violations
                .push(format!("{path} is a device, fifo or socket")),
        }
    }

    let find = |p: &str| contents.iter().find(|(q, _)| q == p).map(|(_, d)| d);
    let release_path = format!("/usr/lib/extension-release.d/extension-release.{name}");
    let mut arch = None;
    match find(&release_path) {
        Some(data) => {
            let text = String::from_utf8_lossy(data).into_owned();
            if value(&text, "ID").is_none() {
                report.violations.push(format!("{release_path} has no ID="));
            }
            match value(&text, "ARCHITECTURE") {
                None => report
                    .violations
                    .push(format!("{release_path} has no ARCHITECTURE=")),
                Some("_any") => {}
                Some(a) => match Arch::parse(a) {
                    Ok(a) => arch = Some(a),
                    Err(e) => report.violations.push(format!("{release_path}: {e}")),
                },
            }
            if let (Some(a), Some((_, file_arch))) =
                (arch, crate::names::parse_image_file_name(&name, &file_name))
            {
                if a != file_arch {
                    report.violations.push(format!(
                        "file name says {file_arch} but ARCHITECTURE={a}"
                    ));
                }
            }
            report.extension_release = Some(text);
        }
        None => report.violations.push(format!(
            "name mismatch: file {file_name} needs {release_path}, image has extension-release for {:?}",
            release_names
        )),
    }
    for other in release_names.iter().filter(|n| **n != name) {
        report.violations.push(format!(
            "extra extension-release.{other} does not match image name {name}"
        ));
    }

    let required = [
        format!("/usr/lib/systemd/system/{name}.service"),
        format!("/usr/lib/systemd/system/multi-user.target.d/10-{name}.conf"),
        format!("/usr/lib/sysupdate.{name}.d/{name}.conf"),
    ];
    for path in &required {
        if find(path).is_none() {
            report.violations.push(format!("missing {path}"));
        }
    }
    if let Some(dropin) = find(&required[1]) {
        let wanted = format!("Upholds={name}.service");
        if !String::from_utf8_lossy(dropin)
            .lines()
            .any(|l| l.trim() == wanted)
        {
            report
                .violations
                .push(format!("{} lacks {wanted}", required[1]));
        }
    }

    for (path, data) in &contents {
        if !elf::is_elf(data) {
            continue;
        }
        let info = elf::parse(data);
        match &info {
            Ok(i) => {
                if i.linkage == Linkage::Dynamic {
                    report
                        .violations
                        .push(format!("{path} is dynamically linked"));
                }
                if let Some(a) = arch {
                    if i.machine != a.elf_machine() {
                        let found = Arch::from_elf_machine(i.machine)
                            .map(|a| a.to_string())
                            .unwrap_or_else(|| format!("ELF machine {}", i.machine));
                        report
                            .violations
                            .push(format!("{path} is built for {found}, image is {a}"));
                    }
                }
            }
            Err(e) => report.violations.push(format!("{path}: bad ELF: {e}")),
        }
        report.binaries.push(Binary {
            path: path.clone(),
            info,
        });
    }
    Ok(report)
}
