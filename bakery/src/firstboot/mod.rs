//! `bake butane`: a Flatcar node that runs vipd from first boot. Renders the Butane template
//! (`butane/vipd-1.x.0.bu`) for one release and one vipd config, or writes the Ignition JSON
//! directly (no Butane binary needed). The config is checked with vipd's own checker first.

pub mod butane;
pub mod ignition;

use crate::manifest::sha256_file;
use crate::names::{image_file_name, validate_base_url, validate_version, Arch};
use crate::recipe::Recipe;
use crate::remote::{fetch_manifest, manifest_url};
use crate::signing::{Keyring, NODE_KEYRINGS};
use crate::{err, Result};
use base64::Engine as _;
use std::path::Path;

const TEMPLATE_1_0_0: &str = include_str!("../../../butane/vipd-1.0.0.bu");
const TEMPLATE_1_1_0: &str = include_str!("../../../butane/vipd-1.1.0.bu");
/// The systemd-sysupdate.service drop-in, also installed by the templates.
pub const SYSUPDATE_DROPIN: &str = include_str!("../../../butane/vipd-sysupdate.conf");
/// The transfer that never matches: keeps plain `systemd-sysupdate` from failing.
pub const NOOP_TRANSFER: &str =
    "# Keeps the plain systemd-sysupdate.service (no -C) from failing with \"No transfer
# definitions found\": a transfer that never matches anything.
[Source]
Type=regular-file
Path=/
MatchPattern=invalid@v.raw

[Target]
Type=regular-file
Path=/
";

/// Flatcar Butane versions the templates exist for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Spec {
    /// Ignition 3.3.0.
    V1_0_0,
    /// Ignition 3.4.0.
    V1_1_0,
}

impl Spec {
    pub fn parse(s: &str) -> Result<Spec> {
        match s {
            "1.0.0" => Ok(Spec::V1_0_0),
            "1.1.0" => Ok(Spec::V1_1_0),
            _ => Err(err!(
                "unknown Butane version {s:?}: expected 1.0.0 (Ignition 3.3.0) or 1.1.0 (Ignition 3.4.0)"
            )),
        }
    }

    pub fn butane_version(self) -> &'static str {
        match self {
            Spec::V1_0_0 => "1.0.0",
            Spec::V1_1_0 => "1.1.0",
        }
    }

    /// The template file's text.
    pub fn template(self) -> &'static str {
        match self {
            Spec::V1_0_0 => TEMPLATE_1_0_0,
            Spec::V1_1_0 => TEMPLATE_1_1_0,
        }
    }
}

/// Where the config goes on the node, from its format (vipd's own rule: `*.toml` is native).
pub fn node_config_path(local: &Path) -> &'static str {
    if vipd::config::is_native_path(local) {
        "/etc/vipd/vipd.toml"
    } else {
        "/etc/keepalived/keepalived.conf"
    }
}

/// Everything a rendering needs; build it with [`Inputs::new`].
#[derive(Clone, Debug)]
pub struct Inputs {
    pub version: String,
    pub arch: Arch,
    /// The release directory (sysupdate's url-file source), as given.
    pub base_url: String,
    /// `sha256-<hex>` or `sha512-<hex>` of the image.
    pub hash: String,
    /// `/etc/vipd/vipd.toml` or `/etc/keepalived/keepalived.conf`.
    pub config_path: String,
    /// The config text, ending in exactly one newline.
    pub config: String,
    pub spec: Spec,
    /// The release signing key(s) as a binary keyring: installed as the node's
    /// import-pubring, and the transfer says `Verify=yes`. None: an unsigned release.
    pub keyring: Option<Vec<u8>>,
}

impl Inputs {
    pub fn new(
        version: &str,
        arch: Arch,
        base_url: &str,
        hash: &str,
        config_path: &str,
        config: &str,
        spec: Spec,
    ) -> Result<Inputs> {
        validate_version(version)?;
        // Whether plain http is allowed was decided by the caller (--insecure-http).
        validate_base_url(base_url, true)?;
        butane::check_hash(hash).map_err(|e| err!("image hash: {e}"))?;
        Ok(Inputs {
            version: version.into(),
            arch,
            base_url: base_url.into(),
            hash: hash.into(),
            config_path: config_path.into(),
            config: yaml_safe_text(config_path, config)?,
            spec,
            keyring: None,
        })
    }

    /// A signed release: the node gets `keyring` (binary) and a transfer with `Verify=yes`.
    pub fn with_keyring(mut self, keyring: Option<Vec<u8>>) -> Inputs {
        self.keyring = keyring;
        self
    }

    /// The keyring as a `data:` URL (binary data cannot be inline text in Butane).
    pub fn keyring_url(&self) -> Option<String> {
        self.keyring.as_ref().map(|k| {
            format!(
                "data:;base64,{}",
                base64::engine::general_purpose::STANDARD.encode(k)
            )
        })
    }

    pub fn image_file(&self) -> String {
        image_file_name("vipd", &self.version, self.arch)
    }

    pub fn image_url(&self) -> String {
        format!(
            "{}/{}",
            self.base_url.trim_end_matches('/'),
            self.image_file()
        )
    }

    pub fn image_path(&self) -> String {
        format!("/opt/extensions/vipd/{}", self.image_file())
    }
}

/// Config text that a YAML literal block keeps byte for byte: no control characters but tab
/// and newline (a `\r` would be read as a line break), ending in exactly one newline.
fn yaml_safe_text(origin: &str, text: &str) -> Result<String> {
    for (i, line) in text.split('\n').enumerate() {
        if let Some(c) = line
            .chars()
            .find(|c| (c.is_control() && *c != '\t') || *c == '\u{feff}')
        {
            return Err(err!(
                "{origin}:{}: character {c:?} cannot be carried in a Butane inline block",
                i + 1
            ));
        }
    }
    let body = text.trim_end_matches('\n');
    if body.trim().is_empty() {
        return Err(err!("{origin}: the config is empty"));
    }
    Ok(format!("{body}\n"))
}

/// Checks a vipd config exactly as `vipd check` does and returns its text. The error holds
/// the same lines `vipd check` prints (`FILE:LINE: message`). Warnings go to stderr.
pub fn check_config(path: &Path) -> Result<String> {
    let cfg = vipd::config::load(path).map_err(|e| err!("{}", e.to_string().trim_end()))?;
    let problems = vipd::services::tracking::preflight(&cfg);
    if !problems.is_empty() {
        let lines: Vec<String> = problems
            .iter()
            .map(|p| format!("{}: {p}", path.display()))
            .collect();
        return Err(err!("{}", lines.join("\n")));
    }
    for warning in vipd::config::warnings(&cfg)
        .into_iter()
        .chain(vipd::services::tracking::script_warnings(&cfg))
    {
        eprintln!("{}: warning: {warning}", path.display());
    }
    let text =
        std::fs::read_to_string(path).map_err(|e| err!("cannot read {}: {e}", path.display()))?;
    if !vipd::config::is_native_path(path)
        && text
            .lines()
            .any(|l| l.split_whitespace().next() == Some("include"))
    {
        return Err(err!(
            "{}: uses `include`: the node gets this one file only; inline the included files or convert it with `vipd import-keepalived`",
            path.display()
        ));
    }
    Ok(text)
}

/// `sha256-<hex>` of the image: of `image` when given, else from `BASE/SHA256SUMS`, whose
/// signature must verify with `keyring` when one is given.
pub fn image_hash(
    image: Option<&Path>,
    base_url: &str,
    allow_http: bool,
    keyring: Option<&Keyring>,
    file_name: &str,
) -> Result<String> {
    if let Some(path) = image {
        return Ok(format!("sha256-{}", sha256_file(path)?));
    }
    let manifest = fetch_manifest(base_url, allow_http, keyring).map_err(|e| {
        err!("{e} (the image's hash comes from the release published at the base URL: publish it first, or pass --image FILE)")
    })?;
    manifest
        .entries
        .get(file_name)
        .map(|hex| format!("sha256-{hex}"))
        .ok_or_else(|| {
            err!(
                "{} lists no {file_name}: is the release published there? (or pass --image)",
                manifest_url(base_url)
            )
        })
}

/// The typed Butane config for `inputs`; [`butane_yaml`] renders the same thing as text.
pub fn model(inputs: &Inputs) -> Result<butane::Config> {
    use butane::*;
    let transfer = Recipe::builtin()?.transfer_file(&inputs.base_url, inputs.keyring.is_some())?;
    let inline = |path: &str, mode: u32, text: String| File {
        path: path.into(),
        mode: Some(mode),
        contents: Contents {
            inline: Some(text),
            ..Default::default()
        },
    };
    Ok(Config {
        variant: "flatcar".into(),
        version: inputs.spec.butane_version().into(),
        storage: Storage {
            files: vec![
                File {
                    path: inputs.image_path(),
                    mode: Some(0o644),
                    contents: Contents {
                        source: Some(inputs.image_url()),
                        verification: Some(Verification {
                            hash: inputs.hash.clone(),
                        }),
                        ..Default::default()
                    },
                },
                inline(&inputs.config_path, 0o600, inputs.config.clone()),
                inline("/etc/sysupdate.vipd.d/vipd.conf", 0o644, transfer),
            ]
            .into_iter()
            .chain(inputs.keyring_url().into_iter().flat_map(|url| {
                NODE_KEYRINGS.map(|path| File {
                    path: path.into(),
                    mode: Some(0o644),
                    contents: Contents {
                        source: Some(url.clone()),
                        ..Default::default()
                    },
                })
            }))
            .chain([inline(
                "/etc/sysupdate.d/noop.conf",
                0o644,
                NOOP_TRANSFER.into(),
            )])
            .collect(),
            links: vec![Link {
                path: "/etc/extensions/vipd.raw".into(),
                target: inputs.image_path(),
                hard: Some(false),
            }],
        },
        systemd: Systemd {
            units: vec![
                Unit {
                    name: "systemd-sysupdate.timer".into(),
                    enabled: Some(true),
                    contents: None,
                    dropins: vec![],
                },
                Unit {
                    name: "systemd-sysupdate.service".into(),
                    enabled: None,
                    contents: None,
                    dropins: vec![Dropin {
                        name: "vipd.conf".into(),
                        contents: SYSUPDATE_DROPIN.into(),
                    }],
                },
            ],
        },
    })
}

/// Fills a template's placeholders. `@CONFIG@` stands alone on its line: the config replaces
/// it, every line indented to the placeholder's column. The template's leading comment (how
/// to fill it in by hand) is replaced by `header`.
pub fn fill_template(template: &str, inputs: &Inputs, header: &str) -> Result<String> {
    let body_start = template
        .lines()
        .take_while(|l| l.starts_with('#') || l.trim().is_empty())
        .map(|l| l.len() + 1)
        .sum::<usize>();
    let body = template.get(body_start..).unwrap_or_default();
    let unsigned;
    let body = match inputs.keyring {
        Some(_) => body,
        None => {
            unsigned = unsigned_variant(body)?;
            unsigned.as_str()
        }
    };
    let keyring_url = inputs.keyring_url().unwrap_or_default();
    let mut out = String::from(header);
    let mut previous = String::new();
    for line in body.lines() {
        if line.trim() == "@CONFIG@" {
            let indent = line.len() - line.trim_start().len();
            // Leading spaces on the first non-empty line (or on a blank line before it)
            // would be taken for the block's indentation.
            let needs_indicator = inputs
                .config
                .lines()
                .take_while(|l| l.trim().is_empty())
                .any(|l| !l.is_empty())
                || inputs
                    .config
                    .lines()
                    .find(|l| !l.trim().is_empty())
                    .is_some_and(|l| l.starts_with(' '));
            if needs_indicator {
                // The first line's own indentation would be taken for the block's: state it.
                let parent = previous.len() - previous.trim_start().len();
                if !previous.ends_with('|') {
                    return Err(err!("template: @CONFIG@ must follow a `|` line"));
                }
                out.truncate(out.len() - 1);
                out.push_str(&format!("{}\n", indent - parent));
            }
            for config_line in inputs.config.lines() {
                if config_line.is_empty() {
                    out.push('\n');
                } else {
                    out.push_str(&format!("{:indent$}{config_line}\n", ""));
                }
            }
        } else {
            let filled = line
                .replace("@VERSION@", &inputs.version)
                .replace("@ARCH@", inputs.arch.systemd_name())
                .replace("@IMAGE_URL@", &inputs.image_url())
                .replace("@BASE_URL@", &inputs.base_url)
                .replace("@HASH@", &inputs.hash)
                .replace("@PUBRING_URL@", &keyring_url)
                .replace("@CONFIG_PATH@", &inputs.config_path);
            out.push_str(&filled);
            out.push('\n');
        }
        previous = line.to_string();
    }
    if let Some(left) = find_placeholder(&out) {
        return Err(err!("template: placeholder {left} was not filled in"));
    }
    Ok(out)
}

/// The templates show the signed flow. For an unsigned release the keyring entries (with the
/// comment lines right above them) go, and the transfer's `Verify=yes` becomes `Verify=no`.
fn unsigned_variant(body: &str) -> Result<String> {
    let lines: Vec<&str> = body.lines().collect();
    let indent = |l: &str| l.len() - l.trim_start().len();
    let mut drop = vec![false; lines.len()];
    let mut entries = 0;
    for (i, line) in lines.iter().enumerate() {
        let Some(path) = line.trim().strip_prefix("- path: ") else {
            continue;
        };
        if !NODE_KEYRINGS.contains(&path) {
            continue;
        }
        entries += 1;
        let level = indent(line);
        let mut start = i;
        while start > 0
            && lines[start - 1].trim_start().starts_with('#')
            && indent(lines[start - 1]) == level
        {
            start -= 1;
        }
        let end = (i + 1..lines.len())
            .find(|&j| !lines[j].trim().is_empty() && indent(lines[j]) <= level)
            .unwrap_or(lines.len());
        drop[start..end].iter_mut().for_each(|d| *d = true);
    }
    let mut verify_lines = 0;
    let mut out = String::with_capacity(body.len());
    for (line, dropped) in lines.iter().zip(drop) {
        if dropped {
            continue;
        }
        if line.trim() == "Verify=yes" {
            verify_lines += 1;
            out.push_str(&format!("{:1$}Verify=no\n", "", indent(line)));
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    if entries != NODE_KEYRINGS.len() || verify_lines != 1 {
        return Err(err!(
            "template: expected the {} keyring entries and one Verify=yes line, found {entries} and {verify_lines}",
            NODE_KEYRINGS.len()
        ));
    }
    Ok(out)
}

/// The first `@NAME@` (capitals and `_`) in `text`.
pub fn find_placeholder(text: &str) -> Option<&str> {
    let mut rest = text;
    while let Some(start) = rest.find('@') {
        let after = rest.get(start + 1..)?;
        let len = after
            .bytes()
            .take_while(|b| b.is_ascii_uppercase() || *b == b'_')
            .count();
        if len > 0 && after.as_bytes().get(len) == Some(&b'@') {
            return rest.get(start..start + len + 2);
        }
        rest = after;
    }
    None
}

/// The Butane YAML for `inputs`, from the embedded template.
pub fn butane_yaml(inputs: &Inputs) -> Result<String> {
    let header = format!(
        "# vipd {} ({}) on Flatcar, rendered by `bake butane`. Translate with\n\
         # `butane --strict`, or use `bake butane --ignition` for the Ignition JSON.\n",
        inputs.version,
        inputs.arch.systemd_name()
    );
    fill_template(inputs.spec.template(), inputs, &header)
}

/// The Ignition JSON for `inputs` (3.3.0 for Butane 1.0.0, 3.4.0 for 1.1.0).
pub fn ignition_json(inputs: &Inputs) -> Result<String> {
    ignition::translate(&model(inputs)?)
}

/// The example config `bake release` renders `vipd.bu` / `vipd.ign` with.
pub const RELEASE_EXAMPLE_CONFIG: &str =
    include_str!("../../../butane/examples/control-plane-vip.toml");

/// Writes `OUT/vipd.bu` (Butane 1.0.0) and `OUT/vipd.ign` (Ignition 3.3.0, accepted by every
/// Flatcar release with Ignition 3) for a node running `image`, with the example config.
pub fn write_release_example(
    out: &Path,
    version: &str,
    arch: Arch,
    base_url: &str,
    keyring: Option<Vec<u8>>,
    image: &Path,
) -> Result<()> {
    let origin = Path::new("butane/examples/control-plane-vip.toml");
    vipd::config::parse_native(RELEASE_EXAMPLE_CONFIG, origin)
        .map_err(|e| err!("{}", e.to_string().trim_end()))?;
    let hash = format!("sha256-{}", sha256_file(image)?);
    let inputs = Inputs::new(
        version,
        arch,
        base_url,
        &hash,
        "/etc/vipd/vipd.toml",
        RELEASE_EXAMPLE_CONFIG,
        Spec::V1_0_0,
    )?
    .with_keyring(keyring);
    crate::atomic::write(&out.join("vipd.bu"), butane_yaml(&inputs)?.as_bytes())?;
    crate::atomic::write(&out.join("vipd.ign"), ignition_json(&inputs)?.as_bytes())
}
