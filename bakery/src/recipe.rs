//! Declarative recipes: which static binary and which files go where in a sysext image.
//! The vipd recipe and the files it names are embedded as the default.

use crate::names::validate_image_name;
use crate::{err, Result};
use serde::Deserialize;
use std::path::Path;

const BUILTIN_RECIPE: &str = include_str!("../recipes/vipd.toml");
/// Sources named by the builtin recipe, keyed exactly as the recipe spells them.
const BUILTIN_SOURCES: &[(&str, &str)] = &[
    ("vipd.service", include_str!("../recipes/vipd.service")),
    ("10-vipd.conf", include_str!("../recipes/10-vipd.conf")),
    (
        "../../sysupdate/vipd.conf.in",
        include_str!("../../sysupdate/vipd.conf.in"),
    ),
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RecipeToml {
    name: String,
    default_base_url: Option<String>,
    binary: BinaryToml,
    #[serde(default, rename = "file")]
    files: Vec<FileToml>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BinaryToml {
    path: String,
    cargo_package: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileToml {
    path: String,
    source: String,
    #[serde(default)]
    template: bool,
    mode: Option<String>,
}

#[derive(Clone, Debug)]
pub struct Recipe {
    /// The sysext name: image file prefix and extension-release.NAME.
    pub name: String,
    pub default_base_url: Option<String>,
    pub binary: BinarySpec,
    pub files: Vec<RecipeFile>,
}

#[derive(Clone, Debug)]
pub struct BinarySpec {
    /// Absolute path inside the image, e.g. /usr/bin/vipd.
    pub path: String,
    /// Cargo package to build when no prebuilt binary is given.
    pub cargo_package: Option<String>,
}

#[derive(Clone, Debug)]
pub struct RecipeFile {
    pub path: String,
    pub contents: String,
    /// `@NAME@`-style placeholders are filled in at build time.
    pub template: bool,
    pub mode: u16,
}

/// Values for template placeholders.
pub struct TemplateVars<'a> {
    pub name: &'a str,
    pub base_url: &'a str,
    pub version: &'a str,
    pub arch: &'a str,
    /// sysupdate's `Verify=` for the transfer: `yes` for a signed release, else `no`.
    pub verify: &'a str,
}

impl Recipe {
    /// The recipe's sysupdate transfer, rendered for `base_url` (`OUT/NAME.conf`); `verify`:
    /// `Verify=yes` (signed releases).
    pub fn transfer_file(&self, base_url: &str, verify: bool) -> Result<String> {
        let dir = format!("/usr/lib/sysupdate.{}.d/", self.name);
        let file = self
            .files
            .iter()
            .find(|f| f.path.starts_with(&dir))
            .ok_or_else(|| err!("recipe {} has no transfer file under {dir}", self.name))?;
        render(
            &file.contents,
            &TemplateVars {
                name: &self.name,
                base_url,
                version: "",
                arch: "",
                verify: if verify { "yes" } else { "no" },
            },
        )
    }

    /// The embedded vipd recipe.
    pub fn builtin() -> Result<Recipe> {
        Recipe::parse("builtin recipe vipd.toml", BUILTIN_RECIPE, |source| {
            BUILTIN_SOURCES
                .iter()
                .find(|(name, _)| *name == source)
                .map(|(_, text)| text.to_string())
                .ok_or_else(|| err!("builtin recipe: source {source:?} is not embedded"))
        })
    }

    /// Loads a recipe file; its sources are relative to the file's directory.
    pub fn load(path: &Path) -> Result<Recipe> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| err!("cannot read recipe {}: {e}", path.display()))?;
        let dir = path.parent().unwrap_or(Path::new("."));
        Recipe::parse(&path.display().to_string(), &text, |source| {
            let file = dir.join(source);
            std::fs::read_to_string(&file)
                .map_err(|e| err!("recipe {}: source {}: {e}", path.display(), file.display()))
        })
    }

    fn parse(
        origin: &str,
        text: &str,
        read_source: impl Fn(&str) -> Result<String>,
    ) -> Result<Recipe> {
        let raw: RecipeToml = toml::from_str(text).map_err(|e| err!("recipe {origin}: {e}"))?;
        validate_image_name(&raw.name).map_err(|e| err!("recipe {origin}: name: {e}"))?;
        check_image_path(&raw.binary.path)
            .map_err(|e| err!("recipe {origin}: binary.path: {e}"))?;
        let mut paths = vec![raw.binary.path.clone()];
        let mut files = Vec::new();
        for (i, f) in raw.files.into_iter().enumerate() {
            let field = format!("recipe {origin}: file[{i}]");
            check_image_path(&f.path).map_err(|e| err!("{field}.path: {e}"))?;
            if f.path.starts_with("/usr/lib/extension-release.d/") {
                return Err(err!(
                    "{field}.path: bake writes the extension-release file itself"
                ));
            }
            if paths.contains(&f.path) {
                return Err(err!("{field}.path: {} is listed twice", f.path));
            }
            paths.push(f.path.clone());
            let mode = match &f.mode {
                None => 0o644,
                Some(m) => u16::from_str_radix(m.trim_start_matches("0o"), 8)
                    .ok()
                    .filter(|m| *m <= 0o777)
                    .ok_or_else(|| {
                        err!("{field}.mode: {m:?} is not an octal mode like \"0644\"")
                    })?,
            };
            let contents = read_source(&f.source)?;
            files.push(RecipeFile {
                path: f.path,
                contents,
                template: f.template,
                mode,
            });
        }
        Ok(Recipe {
            name: raw.name,
            default_base_url: raw.default_base_url,
            binary: BinarySpec {
                path: raw.binary.path,
                cargo_package: raw.binary.cargo_package,
            },
            files,
        })
    }
}

/// Only /usr and /opt are merged by systemd-sysext; /usr/sbin is a symlink on Flatcar.
pub fn check_image_path(path: &str) -> Result<()> {
    let rel = path
        .strip_prefix('/')
        .ok_or_else(|| err!("{path:?} is not absolute"))?;
    let parts: Vec<&str> = rel.split('/').collect();
    if parts
        .iter()
        .any(|p| p.is_empty() || *p == "." || *p == "..")
    {
        return Err(err!("{path:?} has empty, . or .. components"));
    }
    match parts.as_slice() {
        ["usr", "sbin", ..] => Err(err!(
            "{path:?} is under /usr/sbin, a symlink to /usr/bin on Flatcar: use /usr/bin"
        )),
        ["usr" | "opt", _, ..] => Ok(()),
        _ => Err(err!(
            "{path:?} is outside /usr and /opt, which is all systemd-sysext merges"
        )),
    }
}

/// Fills `@NAME@`, `@BASE_URL@`, `@VERSION@`, `@ARCH@` and `@VERIFY@`. Other `@...@` runs of capitals are
/// errors (a typo would otherwise ship); anything else with `@` (like sysupdate's `@v`) stays.
pub fn render(template: &str, vars: &TemplateVars<'_>) -> Result<String> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(at) = rest.find('@') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let key = after
            .find('@')
            .map(|end| &after[..end])
            .filter(|k| !k.is_empty() && k.chars().all(|c| c.is_ascii_uppercase() || c == '_'));
        match key {
            Some(key) => {
                let value = match key {
                    "NAME" => vars.name,
                    "BASE_URL" => vars.base_url,
                    "VERSION" => vars.version,
                    "ARCH" => vars.arch,
                    "VERIFY" => vars.verify,
                    _ => return Err(err!("unknown template placeholder @{key}@")),
                };
                out.push_str(value);
                rest = &after[key.len() + 1..];
            }
            None => {
                out.push('@');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_matches_files_on_disk() {
        let builtin = Recipe::builtin().unwrap();
        let disk =
            Recipe::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("recipes/vipd.toml")).unwrap();
        assert_eq!(builtin.name, "vipd");
        assert_eq!(builtin.binary.path, "/usr/bin/vipd");
        assert_eq!(builtin.files.len(), disk.files.len());
        for (a, b) in builtin.files.iter().zip(&disk.files) {
            assert_eq!(a.path, b.path);
            assert_eq!(a.contents, b.contents);
        }
    }

    #[test]
    fn paths() {
        assert!(check_image_path("/usr/bin/x").is_ok());
        assert!(check_image_path("/opt/x/y").is_ok());
        for bad in [
            "/etc/x",
            "usr/bin/x",
            "/usr/sbin/x",
            "/usr/../etc/x",
            "/usr",
            "/var/x",
        ] {
            assert!(check_image_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn templates() {
        let vars = TemplateVars {
            name: "vipd",
            base_url: "http://x/",
            version: "1",
            arch: "arm64",
            verify: "yes",
        };
        assert_eq!(
            render(
                "Verify=@VERIFY@\nPath=@BASE_URL@\nMatchPattern=@NAME@-@v-%a.raw @ARCH@",
                &vars
            )
            .unwrap(),
            "Verify=yes\nPath=http://x/\nMatchPattern=vipd-@v-%a.raw arm64"
        );
        assert!(render("@NMAE@", &vars).is_err());
        assert_eq!(render("a@b", &vars).unwrap(), "a@b");
    }

    #[test]
    fn recipe_errors_name_the_field() {
        let e = Recipe::parse("t", "name = \"x\"\n[binary]\npath = \"/etc/x\"\n", |_| {
            Ok(String::new())
        })
        .unwrap_err();
        assert!(e.0.contains("binary.path"), "{e}");
        let e = Recipe::parse(
            "t",
            "name = \"x\"\n[binary]\npath = \"/usr/bin/x\"\n[[file]]\npath = \"/usr/lib/a\"\nsource = \"a\"\nmode = \"999\"\n",
            |_| Ok(String::new()),
        )
        .unwrap_err();
        assert!(e.0.contains("file[0].mode"), "{e}");
        let e = Recipe::parse("t", "name = \"x\"\nbogus = 1\n", |_| Ok(String::new())).unwrap_err();
        assert!(e.0.contains("bogus"), "{e}");
    }
}
