//! Image step (vipd prebuilt) vs `mksquashfs -all-root -noappend` on the same tree and
//! compressor: prints time and size ratios. Run with `make bench` or
//! `cargo bench -p bake --bench image`; VIPD=path picks the binary (default: the x86-64 musl
//! build in target/, see `make static`).

use bake::image::{assemble, write_squashfs, Compression, ImageParams};
use bake::names::Arch;
use bake::recipe::Recipe;
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const RUNS: usize = 7;

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn main() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf();
    let vipd = std::env::var_os("VIPD")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace.join("target/x86_64-unknown-linux-musl/release/vipd"));
    let binary = std::fs::read(&vipd)
        .unwrap_or_else(|e| panic!("{}: {e} (run `make static` or set VIPD=)", vipd.display()));
    let recipe = Recipe::builtin().unwrap();
    let params = ImageParams {
        version: "1.0".into(),
        arch: Arch::X86_64,
        base_url: "https://example.org/vipd/releases/".into(),
        verify: true,
        os_id: "flatcar".into(),
        sysext_level: "1.0".into(),
    };
    let tree = assemble(&recipe, binary, &params).unwrap();
    let scratch = std::env::temp_dir().join(format!("bake-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    let root = scratch.join("root");
    std::fs::create_dir_all(&root).unwrap();
    tree.write_to_dir(&root).unwrap();

    println!(
        "tree: {} entries, vipd {} bytes, median of {RUNS} runs",
        tree.entries.len(),
        std::fs::metadata(&vipd).unwrap().len()
    );
    println!(
        "{:<6} {:>12} {:>12} {:>7} {:>10} {:>10} {:>7}",
        "comp", "bake", "mksquashfs", "time", "bake B", "mksq B", "size"
    );
    for comp in [Compression::Gzip, Compression::Zstd, Compression::Xz] {
        let mut bake_times = Vec::new();
        let mut bake_size = 0;
        for _ in 0..RUNS {
            let start = Instant::now();
            let mut out = Cursor::new(Vec::new());
            write_squashfs(&tree, comp, 0, &mut out).unwrap();
            bake_times.push(start.elapsed());
            bake_size = out.into_inner().len();
        }
        let image = scratch.join("mksquashfs.raw");
        let mut mksq_times = Vec::new();
        for _ in 0..RUNS {
            let start = Instant::now();
            let status = Command::new("mksquashfs")
                .arg(&root)
                .arg(&image)
                .args([
                    "-all-root",
                    "-noappend",
                    "-quiet",
                    "-no-progress",
                    "-comp",
                    comp.mksquashfs_name(),
                ])
                .env("SOURCE_DATE_EPOCH", "0")
                .stdout(std::process::Stdio::null())
                .status()
                .expect("mksquashfs (package squashfs-tools)");
            mksq_times.push(start.elapsed());
            assert!(status.success());
        }
        let mksq_size = std::fs::metadata(&image).unwrap().len() as usize;
        let (b, m) = (median(bake_times), median(mksq_times));
        println!(
            "{:<6} {:>10.1}ms {:>10.1}ms {:>6.2}x {:>10} {:>10} {:>6.3}x",
            comp.mksquashfs_name(),
            b.as_secs_f64() * 1e3,
            m.as_secs_f64() * 1e3,
            b.as_secs_f64() / m.as_secs_f64(),
            bake_size,
            mksq_size,
            bake_size as f64 / mksq_size as f64
        );
    }
    let _ = std::fs::remove_dir_all(&scratch);
}
