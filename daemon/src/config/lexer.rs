//! keepalived.conf syntax: words, quoted strings, `{ }` blocks, `!`/`#` comments and
//! `include` (with globs, relative to the including file), turned into a tree of
//! statements that remember their file and line.

use super::error::{ConfigError, ConfigErrors, ConfigWarning};
use super::ReadOptions;
use std::path::{Path, PathBuf};

/// Deeper include nesting than this is taken as a loop.
const MAX_INCLUDE_DEPTH: usize = 16;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    pub text: String,
    /// Written in `"..."` or `'...'`.
    pub quoted: bool,
}

/// File (index into [`Source::files`]) and 1-based line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Loc {
    pub file: usize,
    pub line: usize,
}

/// A keyword line with its arguments and, if it opens one, its block.
#[derive(Debug, Clone)]
pub struct Statement {
    pub words: Vec<Word>,
    pub loc: Loc,
    pub block: Option<Vec<Statement>>,
}

impl Statement {
    pub fn keyword(&self) -> &str {
        self.words.first().map(|w| w.text.as_str()).unwrap_or("")
    }

    /// The arguments after the keyword.
    pub fn args(&self) -> &[Word] {
        self.words.get(1..).unwrap_or(&[])
    }
}

pub struct Source {
    pub files: Vec<PathBuf>,
    pub statements: Vec<Statement>,
    /// Found while reading (an include that matched nothing, ...).
    pub warnings: Vec<ConfigWarning>,
}

impl Source {
    pub fn error(&self, loc: Loc, message: impl Into<String>) -> ConfigError {
        let file = self.files.get(loc.file).cloned().unwrap_or_default();
        ConfigError {
            file,
            line: Some(loc.line),
            message: message.into(),
        }
    }

    pub fn warning(&self, loc: Loc, message: impl Into<String>) -> ConfigWarning {
        let file = self.files.get(loc.file).cloned().unwrap_or_default();
        ConfigWarning {
            file,
            line: Some(loc.line),
            message: message.into(),
        }
    }
}

enum Token {
    Word(Word),
    Open,
    Close,
    EndOfLine,
}

struct Lexer {
    files: Vec<PathBuf>,
    tokens: Vec<(Token, Loc)>,
    errors: Vec<ConfigError>,
    warnings: Vec<ConfigWarning>,
}

/// Reads `text` (the contents of `path`) and everything it includes.
pub fn read(text: &str, path: &Path, _options: &ReadOptions) -> Result<Source, ConfigErrors> {
    let mut lexer = Lexer {
        files: Vec::new(),
        tokens: Vec::new(),
        errors: Vec::new(),
        warnings: Vec::new(),
    };
    lexer.lex_file(text, path, 0);
    if !lexer.errors.is_empty() {
        return Err(ConfigErrors(lexer.errors));
    }
    let Lexer {
        files,
        tokens,
        warnings,
        ..
    } = lexer;
    let mut source = Source {
        files,
        statements: Vec::new(),
        warnings,
    };
    source.statements = build_tree(&source, tokens)?;
    Ok(source)
}

impl Lexer {
    fn lex_file(&mut self, text: &str, path: &Path, depth: usize) {
        let file = self.files.len();
        self.files.push(path.to_path_buf());
        for (index, line_text) in text.lines().enumerate() {
            let loc = Loc {
                file,
                line: index + 1,
            };
            let words_before = self.tokens.len();
            if let Err(message) = self.lex_line(line_text, loc) {
                self.errors
                    .push(ConfigError::at_line(path, loc.line, message));
                continue;
            }
            if let Some(pattern) = include_pattern(&self.tokens[words_before..]) {
                self.tokens.truncate(words_before);
                match pattern {
                    Ok(pattern) => self.include(&pattern, path, loc, depth),
                    Err(message) => self
                        .errors
                        .push(ConfigError::at_line(path, loc.line, message)),
                }
                continue;
            }
            self.tokens.push((Token::EndOfLine, loc));
        }
    }

    fn lex_line(&mut self, line: &str, loc: Loc) -> Result<(), String> {
        let mut chars = line.char_indices().peekable();
        while let Some((_, c)) = chars.next() {
            match c {
                c if c.is_whitespace() => {}
                '!' | '#' => break,
                '{' => self.tokens.push((Token::Open, loc)),
                '}' => self.tokens.push((Token::Close, loc)),
                '"' | '\'' => {
                    let mut text = String::new();
                    loop {
                        match chars.next() {
                            Some((_, q)) if q == c => break,
                            Some((_, other)) => text.push(other),
                            None => return Err(format!("unterminated {c} quote")),
                        }
                    }
                    self.tokens
                        .push((Token::Word(Word { text, quoted: true }), loc));
                }
                c => {
                    let mut text = String::from(c);
                    while let Some(&(_, next)) = chars.peek() {
                        if next.is_whitespace() || next == '{' || next == '}' {
                            break;
                        }
                        text.push(next);
                        chars.next();
                    }
                    self.tokens.push((
                        Token::Word(Word {
                            text,
                            quoted: false,
                        }),
                        loc,
                    ));
                }
            }
        }
        Ok(())
    }

    fn include(&mut self, pattern: &str, including: &Path, loc: Loc, depth: usize) {
        let here = |m: String| ConfigError::at_line(including, loc.line, m);
        if depth >= MAX_INCLUDE_DEPTH {
            self.errors.push(here(format!(
                "includes nested deeper than {MAX_INCLUDE_DEPTH} (an include loop?)"
            )));
            return;
        }
        let base = including.parent().unwrap_or(Path::new("."));
        let full = base.join(pattern);
        let paths = if has_wildcard(pattern) {
            match glob(&full) {
                Ok(paths) => paths,
                Err(e) => {
                    self.errors
                        .push(here(format!("cannot expand include `{pattern}`: {e}")));
                    return;
                }
            }
        } else {
            vec![full]
        };
        for path in paths {
            match std::fs::read_to_string(&path) {
                Ok(text) => self.lex_file(&text, &path, depth + 1),
                // keepalived's plain `include` logs a missing file and goes on.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    self.warnings.push(ConfigWarning::at_line(
                        including,
                        loc.line,
                        format!("include `{pattern}`: no such file, nothing included"),
                    ))
                }
                Err(e) => self.errors.push(here(format!(
                    "cannot read included file {}: {e}",
                    path.display()
                ))),
            }
        }
    }
}

/// `Some` when the line's tokens are an `include` directive.
fn include_pattern(tokens: &[(Token, Loc)]) -> Option<Result<String, String>> {
    match tokens.first() {
        Some((Token::Word(w), _)) if !w.quoted && w.text == "include" => {}
        _ => return None,
    }
    Some(match tokens {
        [_, (Token::Word(path), _)] => Ok(path.text.clone()),
        _ => Err("`include` takes exactly one path".to_string()),
    })
}

fn build_tree(source: &Source, tokens: Vec<(Token, Loc)>) -> Result<Vec<Statement>, ConfigErrors> {
    let mut open: Vec<(Vec<Statement>, Statement)> = Vec::new();
    let mut current: Vec<Statement> = Vec::new();
    let mut pending: Option<Statement> = None;
    for (token, loc) in tokens {
        match token {
            Token::Word(word) => match &mut pending {
                Some(statement) => statement.words.push(word),
                None => {
                    pending = Some(Statement {
                        words: vec![word],
                        loc,
                        block: None,
                    })
                }
            },
            Token::EndOfLine => current.extend(pending.take()),
            Token::Open => {
                // The keyword is on this line, or on an earlier one when `{` stands alone.
                let owner = match pending.take() {
                    Some(statement) => statement,
                    None => match current.pop() {
                        Some(statement) if statement.block.is_none() => statement,
                        _ => return Err(source.error(loc, "`{` without a keyword").into()),
                    },
                };
                open.push((std::mem::take(&mut current), owner));
            }
            Token::Close => {
                current.extend(pending.take());
                let Some((parent, mut owner)) = open.pop() else {
                    return Err(source.error(loc, "`}` without a matching `{`").into());
                };
                owner.block = Some(std::mem::replace(&mut current, parent));
                current.push(owner);
            }
        }
    }
    current.extend(pending.take());
    if let Some((_, owner)) = open.pop() {
        return Err(source
            .error(
                owner.loc,
                format!("block of `{}` is not closed", owner.keyword()),
            )
            .into());
    }
    Ok(current)
}

fn has_wildcard(pattern: &str) -> bool {
    pattern.contains(['*', '?', '['])
}

/// Expands `*`, `?` and `[...]` in any component of `pattern`; sorted, files only.
fn glob(pattern: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut candidates = vec![PathBuf::new()];
    for component in pattern.components() {
        let part = component.as_os_str().to_string_lossy();
        let mut next = Vec::new();
        for base in &candidates {
            if !has_wildcard(&part) {
                next.push(base.join(component.as_os_str()));
                continue;
            }
            let dir = if base.as_os_str().is_empty() {
                Path::new(".")
            } else {
                base.as_path()
            };
            let Ok(entries) = std::fs::read_dir(dir) else {
                continue;
            };
            let mut names: Vec<String> = entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|name| !name.starts_with('.') || part.starts_with('.'))
                .filter(|name| wildcard_match(part.as_bytes(), name.as_bytes()))
                .collect();
            names.sort();
            next.extend(names.into_iter().map(|name| base.join(name)));
        }
        candidates = next;
    }
    Ok(candidates.into_iter().filter(|p| p.is_file()).collect())
}

fn wildcard_match(pattern: &[u8], name: &[u8]) -> bool {
    match pattern.split_first() {
        None => name.is_empty(),
        Some((b'*', rest)) => (0..=name.len()).any(|skip| wildcard_match(rest, &name[skip..])),
        Some((b'?', rest)) => !name.is_empty() && wildcard_match(rest, &name[1..]),
        Some((b'[', rest)) => {
            let Some(close) = rest.iter().position(|&b| b == b']') else {
                return name.first() == Some(&b'[') && wildcard_match(rest, &name[1..]);
            };
            let (set, after) = (&rest[..close], &rest[close + 1..]);
            let Some((&c, name_rest)) = name.split_first() else {
                return false;
            };
            let (negate, set) = match set.split_first() {
                Some((b'!' | b'^', s)) => (true, s),
                _ => (false, set),
            };
            let mut found = false;
            let mut i = 0;
            while i < set.len() {
                if i + 2 < set.len() && set[i + 1] == b'-' {
                    found |= set[i] <= c && c <= set[i + 2];
                    i += 3;
                } else {
                    found |= set[i] == c;
                    i += 1;
                }
            }
            found != negate && wildcard_match(after, name_rest)
        }
        Some((&p, rest)) => name.first() == Some(&p) && wildcard_match(rest, &name[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(text: &str) -> Vec<Statement> {
        read(
            text,
            Path::new("/nonexistent/k.conf"),
            &ReadOptions::default(),
        )
        .map_err(|e| e.to_string())
        .unwrap()
        .statements
    }

    #[test]
    fn blocks_comments_and_quotes() {
        let s = tree(
            "! Configuration File\nvrrp_script chk { # c\n  script 'killall -0 haproxy' # faster\n  interval 2\n}\nvrrp_instance VI_1\n{\n virtual_ipaddress { 192.0.2.5/24 label vip }\n}\n",
        );
        assert_eq!(s.len(), 2);
        let script = s[0].block.as_ref().unwrap();
        assert_eq!(script[0].args()[0].text, "killall -0 haproxy");
        assert!(script[0].args()[0].quoted);
        assert_eq!(script[1].loc.line, 4);
        let inst = s[1].block.as_ref().unwrap();
        assert_eq!(inst[0].keyword(), "virtual_ipaddress");
        let vips = inst[0].block.as_ref().unwrap();
        assert_eq!(vips[0].words.len(), 3);
        assert_eq!(vips[0].loc.line, 8);
    }

    #[test]
    fn unbalanced_braces() {
        let e = read("a {\n b 1\n", Path::new("k.conf"), &ReadOptions::default())
            .err()
            .unwrap();
        assert_eq!(e.to_string(), "k.conf:1: block of `a` is not closed");
        let e = read("a 1\n}\n", Path::new("k.conf"), &ReadOptions::default())
            .err()
            .unwrap();
        assert_eq!(e.to_string(), "k.conf:2: `}` without a matching `{`");
        let e = read("a \"x\n", Path::new("k.conf"), &ReadOptions::default())
            .err()
            .unwrap();
        assert_eq!(e.to_string(), "k.conf:1: unterminated \" quote");
    }

    #[test]
    fn wildcards() {
        assert!(wildcard_match(b"*.conf", b"a.conf"));
        assert!(!wildcard_match(b"*.conf", b"a.conf.bak"));
        assert!(wildcard_match(b"vi_[0-9].c?nf", b"vi_3.conf"));
        assert!(!wildcard_match(b"vi_[!0-9].conf", b"vi_3.conf"));
    }
}
