//! `bake build` and `bake release`: images, SHA256SUMS and the standalone transfer file.

use crate::atomic::{self, PendingFile};
use crate::image::{self, Compression, ImageParams};
use crate::manifest::{sha256_file, Manifest};
use crate::names::{image_file_name, validate_base_url, validate_os_id, validate_version, Arch};
use crate::recipe::Recipe;
use crate::signing::{Keyring, Signer};
use crate::{cargo_build, err, Progress, Result};
use std::io::BufWriter;
use std::path::{Path, PathBuf};

pub struct BuildOptions {
    pub recipe: Recipe,
    pub version: String,
    /// A prebuilt static binary; built with cargo when absent.
    pub binary: Option<PathBuf>,
    pub out: PathBuf,
    pub compression: Compression,
    pub os_id: String,
    /// Defaults to the recipe's `default_base_url`.
    pub base_url: Option<String>,
    /// `--insecure-http`: allow an `http://` base URL.
    pub allow_http: bool,
    /// How the release is signed, which decides the transfer's `Verify=`.
    pub signing: Signing,
    pub progress: Progress,
}

/// What an image's transfer trusts, chosen explicitly on the command line.
pub enum Signing {
    /// `--unsigned`: `Verify=no`, no SHA256SUMS.gpg.
    Unsigned,
    /// `bake build --pubkey FILE`: `Verify=yes`; the release will be signed with this key.
    VerifyWith(Keyring),
    /// `bake release --sign-key FILE`: `Verify=yes`, and SHA256SUMS.gpg is written.
    SignWith(Box<Signer>),
}

impl Signing {
    pub fn verify(&self) -> bool {
        !matches!(self, Signing::Unsigned)
    }
}

impl BuildOptions {
    fn base_url(&self) -> Result<String> {
        let url = self
            .base_url
            .clone()
            .or_else(|| self.recipe.default_base_url.clone())
            .ok_or_else(|| err!("--base-url is required: the recipe has no default_base_url"))?;
        validate_base_url(&url, self.allow_http)?;
        Ok(url)
    }

    /// Everything but the output directory.
    fn validate_names(&self) -> Result<()> {
        validate_version(&self.version)?;
        validate_os_id(&self.os_id)?;
        self.base_url()?;
        Ok(())
    }

    fn validate(&self) -> Result<()> {
        self.validate_names()?;
        if !self.out.is_dir() {
            return Err(err!(
                "output directory {} does not exist",
                self.out.display()
            ));
        }
        Ok(())
    }
}

/// Builds `OUT/NAME-VERSION-ARCH.raw` and returns its path.
pub fn build(opts: &BuildOptions, arch: Arch) -> Result<PathBuf> {
    opts.validate()?;
    let pending = build_pending(opts, arch)?;
    let path = pending.target().to_path_buf();
    pending.commit()?;
    opts.progress.step(&format!("wrote {}", path.display()));
    Ok(path)
}

/// Writes the image to a temp file; the caller commits it.
fn build_pending(opts: &BuildOptions, arch: Arch) -> Result<PendingFile> {
    let recipe = &opts.recipe;
    let target = opts
        .out
        .join(image_file_name(&recipe.name, &opts.version, arch));
    // Creating the temp file first reports an unwritable directory before any slow step.
    let mut pending = PendingFile::create(&target)?;
    let binary_path = match &opts.binary {
        Some(path) => path.clone(),
        None => {
            let package = recipe.binary.cargo_package.as_deref().ok_or_else(|| {
                err!("no binary given (--vipd) and the recipe names no cargo_package")
            })?;
            opts.progress
                .step(&format!("building {package} for {}", arch.rust_target()));
            cargo_build::build_static(package, arch)?
        }
    };
    let binary = std::fs::read(&binary_path)
        .map_err(|e| err!("cannot read binary {}: {e}", binary_path.display()))?;
    image::check_binary(&binary_path.display().to_string(), &binary, arch)?;
    let params = ImageParams {
        version: opts.version.clone(),
        arch,
        base_url: opts.base_url()?,
        verify: opts.signing.verify(),
        os_id: opts.os_id.clone(),
        sysext_level: "1.0".into(),
    };
    let tree = image::assemble(recipe, binary, &params)?;
    let mtime = image::source_date_epoch()?;
    opts.progress.step(&format!(
        "writing {} ({:?})",
        target.display(),
        opts.compression
    ));
    image::write_squashfs(
        &tree,
        opts.compression,
        mtime,
        BufWriter::new(pending.file()),
    )?;
    Ok(pending)
}

/// Builds one image per arch into OUT, then updates OUT/SHA256SUMS (keeping other entries)
/// and writes OUT/NAME.conf. Nothing is renamed into place until every image is built.
pub fn release(opts: &BuildOptions, arches: &[Arch]) -> Result<Vec<PathBuf>> {
    // A first release names a directory that does not exist yet (as `keygen --out` does).
    opts.validate_names()?;
    if !opts.out.exists() {
        std::fs::create_dir_all(&opts.out)
            .map_err(|e| err!("cannot create {}: {e}", opts.out.display()))?;
    }
    opts.validate()?;
    if arches.is_empty() {
        return Err(err!("--arch names no architecture"));
    }
    if opts.binary.is_some() && arches.len() > 1 {
        return Err(err!(
            "--vipd gives one binary but {} architectures were asked for",
            arches.len()
        ));
    }
    let sums_path = opts.out.join("SHA256SUMS");
    let sig_path = opts.out.join("SHA256SUMS.gpg");
    // Refuse a corrupted manifest before spending time on builds.
    let mut manifest = Manifest::load(&sums_path)?;
    check_existing_signature(&opts.signing, &sums_path, &sig_path)?;
    let base_url = opts.base_url()?;
    let transfer = opts
        .recipe
        .transfer_file(&base_url, opts.signing.verify())?;
    let mut pending = Vec::new();
    for arch in arches {
        pending.push(build_pending(opts, *arch)?);
    }
    let mut images = Vec::new();
    for p in pending {
        let path = p.target().to_path_buf();
        p.commit()?;
        images.push(path);
    }
    for path in &images {
        let name = file_name(path)?;
        manifest.set(&name, sha256_file(path)?);
    }
    let sums = manifest.render();
    match &opts.signing {
        Signing::SignWith(signer) => {
            // Signed in memory first: a signing failure leaves the old pair untouched. Both
            // files are whole before either is renamed into place; SHA256SUMS goes first, so
            // between the two renames a node sees a mismatch and refuses (never accepts).
            let signature = signer.sign(sums.as_bytes())?;
            let sums_file = atomic::prepare(&sums_path, sums.as_bytes())?;
            let sig_file = atomic::prepare(&sig_path, &signature)?;
            sums_file.commit()?;
            sig_file.commit()?;
        }
        Signing::Unsigned | Signing::VerifyWith(_) => {
            atomic::write(&sums_path, sums.as_bytes())?;
        }
    }
    let conf = opts.out.join(format!("{}.conf", opts.recipe.name));
    atomic::write(&conf, transfer.as_bytes())?;
    if let (Some(image), Some(arch), "vipd") = (images.first(), arches.first(), &*opts.recipe.name)
    {
        // An example first-boot config for this release: OUT/vipd.bu and OUT/vipd.ign.
        let keyring = match &opts.signing {
            Signing::SignWith(signer) => Some(signer.public_keyring()?),
            Signing::VerifyWith(keyring) => Some(keyring.binary().to_vec()),
            Signing::Unsigned => None,
        };
        crate::firstboot::write_release_example(
            &opts.out,
            &opts.version,
            *arch,
            &base_url,
            keyring,
            image,
        )?;
    }
    opts.progress.step(&format!(
        "updated {} and {}",
        sums_path.display(),
        conf.display()
    ));
    Ok(images)
}

/// A release directory keeps one trust state. Unsigned into a signed directory would leave a
/// SHA256SUMS.gpg that no longer matches (nodes with `Verify=yes` refuse everything, silently
/// to the publisher); signing lines that another key signed, or that no longer match their
/// signature, would vouch for content this key never checked.
fn check_existing_signature(signing: &Signing, sums: &Path, sig: &Path) -> Result<()> {
    let existing = match std::fs::read(sig) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(err!("cannot read {}: {e}", sig.display())),
    };
    match signing {
        Signing::Unsigned | Signing::VerifyWith(_) => Err(err!(
            "{} exists: this release directory is signed; pass --sign-key (an unsigned SHA256SUMS next to it would be refused by every node)",
            sig.display()
        )),
        Signing::SignWith(signer) => {
            let keyring = Keyring::parse("the --sign-key's public key", &signer.public_keyring()?)?;
            let sums_bytes = std::fs::read(sums).unwrap_or_default();
            keyring
                .verify(&sig.display().to_string(), &sums_bytes, &existing)
                .map(|_| ())
                .map_err(|e| {
                    err!(
                        "{e}\nthe existing SHA256SUMS is not signed by this key: check its lines, then remove {} to sign them with this key (key rotation)",
                        sig.display()
                    )
                })
        }
    }
}

fn file_name(path: &Path) -> Result<String> {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| err!("{} has no file name", path.display()))
}
