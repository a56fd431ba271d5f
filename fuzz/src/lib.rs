//! What the bake fuzz targets exercise, compiled from bake's own source files: `inspect`
//! (with the ELF reader, image names and path rules it uses) and the SHA256SUMS `manifest`.
//! Depending on the whole bake crate would build its release, download and signing stack
//! (reqwest, an OpenPGP implementation, Ignition types, ...) into every fuzz build for code
//! no target runs; these files only need bake's error type, defined here as in
//! bakery/src/lib.rs.

#[path = "../../bakery/src/elf.rs"]
pub mod elf;
#[path = "../../bakery/src/inspect.rs"]
pub mod inspect;
#[path = "../../bakery/src/manifest.rs"]
pub mod manifest;
#[path = "../../bakery/src/names.rs"]
pub mod names;
#[path = "../../bakery/src/recipe.rs"]
pub mod recipe;

/// bake's error: a message that names the file, field or step that failed.
#[derive(Debug)]
pub struct Error(pub String);

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;

/// Builds an [`Error`] from a format string.
#[macro_export]
macro_rules! err {
    ($($arg:tt)*) => { $crate::Error(format!($($arg)*)) };
}
