//! bake: builds, releases, inspects and lists vipd sysext images.

use bake::image::Compression;
use bake::names::{parse_arch_list, validate_base_url, Arch};
use bake::recipe::Recipe;
use bake::release::{self, BuildOptions, Signing};
use bake::signing::{Keyring, Signer};
use bake::{atomic, err, firstboot, inspect, remote, signing, Progress, Result};
use clap::{ArgGroup, Args, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "bake",
    version,
    about = "Reproducible systemd-sysext images of vipd"
)]
struct Cli {
    /// Print a line on stderr for each long step.
    #[arg(long, global = true)]
    progress: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build DIR/NAME-VERSION-ARCH.raw.
    #[command(group(ArgGroup::new("trust").required(true).args(["pubkey", "unsigned"])))]
    Build {
        #[command(flatten)]
        image: ImageArgs,
        /// x86-64 or arm64.
        #[arg(long, default_value = "x86-64")]
        arch: String,
        /// Base URL written into the image's sysupdate transfer (default: from the recipe).
        #[arg(long)]
        base_url: Option<String>,
        /// The release public key: the image's transfer says Verify=yes.
        #[arg(
            long,
            required_unless_present = "unsigned",
            conflicts_with = "unsigned"
        )]
        pubkey: Option<PathBuf>,
        /// An image whose transfer says Verify=no (its releases are not signed).
        #[arg(long)]
        unsigned: bool,
    },
    /// Build images into DIR and update DIR/SHA256SUMS (+ SHA256SUMS.gpg) and DIR/NAME.conf.
    #[command(group(ArgGroup::new("trust").required(true).args(["sign_key", "unsigned"])))]
    Release {
        #[command(flatten)]
        image: ImageArgs,
        /// Comma-separated: x86-64,arm64.
        #[arg(long, default_value = "x86-64")]
        arch: String,
        /// Where DIR will be served from (sysupdate's url-file source), https://.
        #[arg(long)]
        base_url: String,
        /// Secret key (`bake keygen`): signs SHA256SUMS into SHA256SUMS.gpg; transfers say
        /// Verify=yes.
        #[arg(
            long,
            required_unless_present = "unsigned",
            conflicts_with = "unsigned"
        )]
        sign_key: Option<PathBuf>,
        /// No signature: nodes install whatever the server lists (transfers say Verify=no).
        #[arg(long)]
        unsigned: bool,
    },
    /// Make a release signing key pair: DIR/NAME.key (secret, mode 0600) and DIR/NAME.pgp
    /// (public, the nodes' /etc/systemd/import-pubring.gpg).
    Keygen {
        /// Directory for the two files (created, mode 0700, when missing).
        #[arg(long, default_value = ".")]
        out: PathBuf,
        #[arg(long, default_value = "vipd-release")]
        name: String,
        /// The key's User ID.
        #[arg(long, default_value = "vipd release signing key")]
        user_id: String,
    },
    /// Print an image's extension-release, files and binaries; fail on any rule violation.
    Inspect {
        #[arg(required = true)]
        images: Vec<PathBuf>,
    },
    /// Butane (or, with --ignition, Ignition JSON) for a Flatcar node running vipd.
    Butane(ButaneArgs),
    /// List the versions and architectures published at a release location.
    List {
        #[arg(long)]
        base_url: String,
        /// Image name (default: the recipe's, vipd).
        #[arg(long)]
        name: Option<String>,
        /// Check BASE_URL/SHA256SUMS.gpg with this public key (keyring) first.
        #[arg(long)]
        pubkey: Option<PathBuf>,
        /// Allow an http:// base URL.
        #[arg(long)]
        insecure_http: bool,
    },
}

#[derive(Args)]
#[command(group(ArgGroup::new("trust").required(true).args(["pubkey", "unsigned"])))]
struct ButaneArgs {
    /// The vipd release to install.
    #[arg(long)]
    version: String,
    /// Where the release directory is served (images, SHA256SUMS), https://.
    #[arg(long)]
    base_url: String,
    /// The release public key (keyring): SHA256SUMS.gpg must verify with it before the image
    /// hash is taken from SHA256SUMS; the node gets it as /etc/systemd/import-pubring.gpg
    /// (and .pgp) and a transfer with Verify=yes.
    #[arg(
        long,
        required_unless_present = "unsigned",
        conflicts_with = "unsigned"
    )]
    pubkey: Option<PathBuf>,
    /// An unsigned release: the node installs whatever the server lists (Verify=no).
    #[arg(long)]
    unsigned: bool,
    /// Allow an http:// base URL.
    #[arg(long)]
    insecure_http: bool,
    /// vipd.toml or keepalived.conf; checked as `vipd check` does.
    #[arg(long)]
    config: PathBuf,
    /// x86-64 or arm64.
    #[arg(long, default_value = "x86-64")]
    arch: String,
    /// The image file, to hash (default: the hash listed in BASE_URL/SHA256SUMS).
    #[arg(long)]
    image: Option<PathBuf>,
    /// Butane flatcar version: 1.0.0 (Ignition 3.3.0) or 1.1.0 (Ignition 3.4.0).
    #[arg(long, default_value = "1.1.0")]
    spec: String,
    /// Write Ignition JSON instead of Butane YAML.
    #[arg(long)]
    ignition: bool,
    /// Output file (default: stdout).
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Args)]
struct ImageArgs {
    /// Release version (no '-', '/' or whitespace).
    #[arg(long)]
    version: String,
    /// Prebuilt static binary; without it, bake runs cargo build for the arch.
    #[arg(long, visible_alias = "binary")]
    vipd: Option<PathBuf>,
    /// Output directory (must exist for build; release creates it).
    #[arg(long, default_value = ".")]
    out: PathBuf,
    #[arg(long, value_enum, default_value_t = Compression::Gzip)]
    compression: Compression,
    /// extension-release ID= (`_any` for any OS, which drops SYSEXT_LEVEL=).
    #[arg(long, default_value = "flatcar")]
    os_id: String,
    /// Recipe TOML (default: the embedded vipd recipe).
    #[arg(long)]
    recipe: Option<PathBuf>,
    /// Allow an http:// base URL.
    #[arg(long)]
    insecure_http: bool,
}

fn load_recipe(path: &Option<PathBuf>) -> Result<Recipe> {
    match path {
        Some(p) => Recipe::load(p),
        None => Recipe::builtin(),
    }
}

fn options(
    image: ImageArgs,
    base_url: Option<String>,
    signing: Signing,
    progress: Progress,
) -> Result<BuildOptions> {
    Ok(BuildOptions {
        recipe: load_recipe(&image.recipe)?,
        version: image.version,
        binary: image.vipd,
        out: image.out,
        compression: image.compression,
        os_id: image.os_id,
        base_url,
        allow_http: image.insecure_http,
        signing,
        progress,
    })
}

fn load_keyring(path: &Option<PathBuf>) -> Result<Option<Keyring>> {
    path.as_deref().map(Keyring::load).transpose()
}

fn run(cli: Cli) -> Result<bool> {
    let progress = Progress {
        enabled: cli.progress,
    };
    match cli.command {
        Command::Build {
            image,
            arch,
            base_url,
            pubkey,
            unsigned: _,
        } => {
            let arch = Arch::parse(&arch)?;
            let signing = match load_keyring(&pubkey)? {
                Some(keyring) => Signing::VerifyWith(keyring),
                None => Signing::Unsigned,
            };
            let opts = options(image, base_url, signing, progress)?;
            let path = release::build(&opts, arch)?;
            if let (None, Some(default)) = (&opts.base_url, &opts.recipe.default_base_url) {
                eprintln!(
                    "bake: note: no --base-url: the image's update transfer points at {default} \
                     (the recipe's default); pass --base-url URL where you will serve releases"
                );
            }
            println!("{}", path.display());
        }
        Command::Release {
            image,
            arch,
            base_url,
            sign_key,
            unsigned: _,
        } => {
            let arches = parse_arch_list(&arch)?;
            // The key is loaded (and test-signs) before anything is built.
            let signing = match sign_key {
                Some(path) => Signing::SignWith(Box::new(Signer::load(&path)?)),
                None => Signing::Unsigned,
            };
            let opts = options(image, Some(base_url), signing, progress)?;
            for path in release::release(&opts, &arches)? {
                println!("{}", path.display());
            }
        }
        Command::Inspect { images } => {
            let mut ok = true;
            for image in images {
                let report = inspect::inspect(&image)?;
                report.print();
                if !report.is_ok() {
                    eprintln!(
                        "bake: {}: {} rule violation(s)",
                        image.display(),
                        report.violations.len()
                    );
                    ok = false;
                }
            }
            return Ok(ok);
        }
        Command::Keygen { out, name, user_id } => {
            let files = signing::write_key_pair(&out, &name, &user_id)?;
            println!("{}", files.secret.display());
            println!("{}", files.public.display());
            eprintln!(
                "bake: key {} ({user_id}): keep {} secret; give nodes {}",
                files.fingerprint,
                files.secret.display(),
                files.public.display()
            );
        }
        Command::Butane(args) => butane(args)?,
        Command::List {
            base_url,
            name,
            pubkey,
            insecure_http,
        } => {
            let name = match name {
                Some(n) => n,
                None => Recipe::builtin()?.name,
            };
            let keyring = load_keyring(&pubkey)?;
            let manifest = remote::fetch_manifest(&base_url, insecure_http, keyring.as_ref())?;
            let available = remote::Available::from_manifest(&name, &manifest);
            if available.versions.is_empty() {
                return Err(err!(
                    "{}: no {name}-VERSION-ARCH.raw images listed",
                    remote::manifest_url(&base_url)
                ));
            }
            print!("{}", available.render());
        }
    }
    Ok(true)
}

fn butane(args: ButaneArgs) -> Result<()> {
    let arch = Arch::parse(&args.arch)?;
    let spec = firstboot::Spec::parse(&args.spec)?;
    validate_base_url(&args.base_url, args.insecure_http)?;
    let keyring = load_keyring(&args.pubkey)?;
    let config = firstboot::check_config(&args.config)?;
    let file = bake::names::image_file_name("vipd", &args.version, arch);
    let hash = firstboot::image_hash(
        args.image.as_deref(),
        &args.base_url,
        args.insecure_http,
        keyring.as_ref(),
        &file,
    )?;
    let inputs = firstboot::Inputs::new(
        &args.version,
        arch,
        &args.base_url,
        &hash,
        firstboot::node_config_path(&args.config),
        &config,
        spec,
    )?
    .with_keyring(keyring.map(|k| k.binary().to_vec()));
    let text = if args.ignition {
        firstboot::ignition_json(&inputs)?
    } else {
        firstboot::butane_yaml(&inputs)?
    };
    match args.out {
        Some(path) => atomic::write_private(&path, text.as_bytes()),
        None => {
            print!("{text}");
            Ok(())
        }
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("bake: {e}");
            ExitCode::FAILURE
        }
    }
}
