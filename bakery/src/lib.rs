//! bake: builds reproducible systemd-sysext images (SquashFS) of static binaries such as vipd,
//! maintains release directories for systemd-sysupdate and checks images against the sysext rules.

pub mod atomic;
pub mod cargo_build;
pub mod elf;
pub mod firstboot;
pub mod image;
pub mod inspect;
pub mod manifest;
pub mod names;
pub mod recipe;
pub mod release;
pub mod remote;
pub mod signing;

/// Every bake error: a message that names the file, field or step that failed.
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

/// Step lines on stderr for long steps, shown with `--progress`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Progress {
    pub enabled: bool,
}

impl Progress {
    pub fn step(&self, what: &str) {
        if self.enabled {
            eprintln!("bake: {what}");
        }
    }
}
