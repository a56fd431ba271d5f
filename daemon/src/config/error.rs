//! Configuration errors: each names the file and the line or the field at fault.

use std::fmt;
use std::path::{Path, PathBuf};

/// One problem found in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    /// 1-based line, when the problem can be pinned to one.
    pub line: Option<usize>,
    /// Without the file and line; for native files it starts with ``field `path`:``.
    pub message: String,
    /// An include that brought in no file, refused by `-e`/`--all-config`
    /// ([`super::ReadOptions::all_config`]): `keepalived -t -e` exits 6 on it, not 5.
    pub missing_file: bool,
}

impl ConfigError {
    pub fn at_line(file: &Path, line: usize, message: impl Into<String>) -> Self {
        ConfigError {
            file: file.to_path_buf(),
            line: Some(line),
            message: message.into(),
            missing_file: false,
        }
    }

    pub fn in_file(file: &Path, message: impl Into<String>) -> Self {
        ConfigError {
            file: file.to_path_buf(),
            line: None,
            message: message.into(),
            missing_file: false,
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}: {}", self.file.display(), line, self.message),
            None => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Every problem found in a configuration, in file order; never empty when returned as `Err`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    pub fn one(error: ConfigError) -> Self {
        ConfigErrors(vec![error])
    }

    pub fn iter(&self) -> std::slice::Iter<'_, ConfigError> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether one of them is an include `-e`/`--all-config` refuses.
    pub fn missing_file(&self) -> bool {
        self.0.iter().any(|e| e.missing_file)
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

impl From<ConfigError> for ConfigErrors {
    fn from(error: ConfigError) -> Self {
        ConfigErrors::one(error)
    }
}

/// Something vipd accepts but the user should know about: a keyword it ignores, a value it
/// reads differently from keepalived, a word it does not know. Never stops the daemon;
/// `vipd check --strict` turns warnings into a failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigWarning {
    pub file: PathBuf,
    /// 1-based line, when the warning can be pinned to one.
    pub line: Option<usize>,
    pub message: String,
}

impl ConfigWarning {
    pub fn at_line(file: &Path, line: usize, message: impl Into<String>) -> Self {
        ConfigWarning {
            file: file.to_path_buf(),
            line: Some(line),
            message: message.into(),
        }
    }

    pub fn in_file(file: &Path, message: impl Into<String>) -> Self {
        ConfigWarning {
            file: file.to_path_buf(),
            line: None,
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(
                f,
                "{}:{}: warning: {}",
                self.file.display(),
                line,
                self.message
            ),
            None => write!(f, "{}: warning: {}", self.file.display(), self.message),
        }
    }
}
