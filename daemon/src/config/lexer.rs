//! keepalived.conf syntax: words, quoted strings, `{ }` blocks, `!`/`#` comments and
//! `include` and its variants (with globs and `{a,b}` braces, relative to the including
//! file), turned into a tree of statements that remember their file and line. Each line
//! first goes through keepalived's parameter language ([`params`]).

use super::error::{ConfigError, ConfigErrors, ConfigWarning};
use super::keywords::{self, Block, Shape};
use super::params::{self, Condition};
use super::ReadOptions;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Deeper include nesting than this is taken as a loop.
const MAX_INCLUDE_DEPTH: usize = 16;

/// Lines (after includes, `~SEQ` and substitution) one configuration may come to: a file
/// of 510 instances has about 10,000. Beyond it, includes that fan out (ten includes of a
/// file with ten includes of ...) or nested `~SEQ` would read for hours and fill the memory,
/// where keepalived 2.2.7 would too; vipd refuses the file instead.
pub const MAX_LINES: usize = 1_000_000;
/// Bytes those lines may come to.
pub const MAX_BYTES: usize = 64 << 20;
/// Files (the main one and every file included, each time it is) one configuration may
/// read.
pub const MAX_FILES: usize = 10_000;

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

#[derive(Debug)]
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
            missing_file: false,
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

/// keepalived's include variants: which problems stop the configuration. The plain
/// `include` only logs them (a missing file is a warning, an empty glob nothing).
#[derive(Debug, Clone, Copy, Default)]
struct IncludeChecks {
    /// A match that cannot be read is an error.
    readable: bool,
    /// A path without wildcards that matches nothing is an error.
    literal_match: bool,
    /// A pattern with wildcards that matches nothing is an error.
    wildcard_match: bool,
    /// An alternative of a `{a,b}` brace expression that matches nothing is an error.
    brace_match: bool,
}

impl IncludeChecks {
    fn of(keyword: &str) -> Option<IncludeChecks> {
        let all = IncludeChecks {
            readable: true,
            literal_match: true,
            wildcard_match: true,
            brace_match: true,
        };
        Some(match keyword {
            "include" => IncludeChecks::default(),
            "includer" => IncludeChecks {
                readable: true,
                ..IncludeChecks::default()
            },
            "includem" => IncludeChecks {
                readable: true,
                literal_match: true,
                ..IncludeChecks::default()
            },
            "includew" => IncludeChecks {
                readable: true,
                wildcard_match: true,
                ..IncludeChecks::default()
            },
            "includeb" => IncludeChecks {
                readable: true,
                brace_match: true,
                ..IncludeChecks::default()
            },
            "includea" => all,
            _ => return None,
        })
    }
}

struct Lexer<'o> {
    options: &'o ReadOptions,
    files: Vec<PathBuf>,
    tokens: Vec<(Token, Loc)>,
    errors: Vec<ConfigError>,
    warnings: Vec<ConfigWarning>,
    /// `$NAME=value` definitions seen so far, in all files; multiline values joined by `\n`.
    definitions: HashMap<String, String>,
    /// State of `${_RANDOM}`.
    random: u64,
    /// Lines and bytes read so far, against [`MAX_LINES`] and [`MAX_BYTES`].
    lines: usize,
    bytes: usize,
    /// Over one of them: the rest is skipped.
    over_budget: bool,
}

/// Reads `text` (the contents of `path`) and everything it includes.
pub fn read(text: &str, path: &Path, options: &ReadOptions) -> Result<Source, ConfigErrors> {
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0x9e37_79b9_7f4a_7c15);
    let mut lexer = Lexer {
        options,
        files: Vec::new(),
        tokens: Vec::new(),
        errors: Vec::new(),
        warnings: Vec::new(),
        definitions: HashMap::new(),
        random: seed | 1,
        lines: 0,
        bytes: 0,
        over_budget: false,
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
    source.statements = build_tree(&mut source, tokens)?;
    Ok(source)
}

impl Lexer<'_> {
    fn error(&mut self, loc: Loc, message: impl Into<String>) {
        let file = self.files.get(loc.file).cloned().unwrap_or_default();
        self.errors
            .push(ConfigError::at_line(&file, loc.line, message));
    }

    /// An include that brings in no file: a warning, or with `-e`/`--all-config` an error
    /// (keepalived 2.2.7 -e: "Config files missing ...", exit 6).
    fn missing(&mut self, loc: Loc, message: impl Into<String>) {
        if !self.options.all_config {
            return self.warn(loc, message);
        }
        let mut message = message.into();
        message.push_str(" (refused by -e/--all-config)");
        self.refused_include(loc, message);
    }

    /// An include that brings in no file where that stops the configuration (`includea`
    /// and its kin, or `-e`): keepalived 2.2.7 stops reading, and `-t` exits 6.
    fn refused_include(&mut self, loc: Loc, message: impl Into<String>) {
        let file = self.files.get(loc.file).cloned().unwrap_or_default();
        let mut error = ConfigError::at_line(&file, loc.line, message);
        error.missing_file = true;
        self.errors.push(error);
    }

    fn warn(&mut self, loc: Loc, message: impl Into<String>) {
        let file = self.files.get(loc.file).cloned().unwrap_or_default();
        self.warnings
            .push(ConfigWarning::at_line(&file, loc.line, message));
    }

    fn lex_file(&mut self, text: &str, path: &Path, depth: usize) {
        let file = self.files.len();
        self.files.push(path.to_path_buf());
        let lines: Vec<&str> = text.lines().collect();
        let mut next = 0;
        while let Some(raw) = lines.get(next) {
            if self.over_budget {
                return;
            }
            let loc = Loc {
                file,
                line: next + 1,
            };
            next += 1;
            let line = decomment(raw);
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            // `$NAME= \` starts a multiline definition: every following line ending in `\`
            // belongs to it, and the first one that does not ends it (a blank line too).
            if let Some((name, selected)) = self.multiline_definition(line) {
                let mut body = Vec::new();
                while let Some(raw) = lines.get(next) {
                    next += 1;
                    let part = decomment(raw);
                    let part = part.trim_end();
                    match part.strip_suffix('\\') {
                        Some(continued) => body.push(continued.trim_end().to_string()),
                        None => {
                            body.push(part.to_string());
                            break;
                        }
                    }
                }
                if selected {
                    self.definitions.insert(name, body.join("\n"));
                }
                continue;
            }
            self.logical_line(line, loc, depth, 0);
        }
    }

    /// The name of a multiline definition starting on `line`, and whether its `@`
    /// condition (if any) selects it.
    fn multiline_definition(&self, line: &str) -> Option<(String, bool)> {
        let (text, selected) = match params::condition(line, &self.options.config_id) {
            Condition::None => (line, true),
            Condition::Selected(rest) => (rest, true),
            // Still a definition to skip, with its continuation lines.
            Condition::Skipped => (line.split_once(char::is_whitespace)?.1.trim_start(), false),
        };
        match params::definition(text) {
            Some((name, "\\")) => Some((name.to_string(), selected)),
            _ => None,
        }
    }

    /// One line after comments are gone: conditions, definitions, repetition and
    /// substitution, then words (or an include). `round` counts substitutions so far.
    fn logical_line(&mut self, line: &str, loc: Loc, depth: usize, round: usize) {
        if self.over_budget {
            return;
        }
        self.lines += 1;
        self.bytes = self.bytes.saturating_add(line.len());
        if self.lines > MAX_LINES || self.bytes > MAX_BYTES {
            self.over_budget = true;
            self.error(
                loc,
                format!(
                    "the configuration comes to more than {MAX_LINES} lines or {} MiB with \
                     its includes, ~SEQ and substitutions (includes that fan out, or nested \
                     ~SEQ?): refused",
                    MAX_BYTES >> 20
                ),
            );
            return;
        }
        let line = match params::condition(line, &self.options.config_id) {
            Condition::None => line,
            Condition::Selected(rest) => rest,
            Condition::Skipped => return,
        };
        if line.is_empty() {
            return;
        }
        if let Some((name, value)) = params::definition(line) {
            self.definitions.insert(name.to_string(), value.to_string());
            return;
        }
        match params::repeat(line) {
            Ok(Some(repeat)) => {
                for row in &repeat.rows {
                    for (name, value) in repeat.names.iter().zip(row) {
                        self.definitions.insert(name.clone(), value.clone());
                    }
                    self.logical_line(repeat.rest, loc, depth, round);
                }
                return;
            }
            Ok(None) => {}
            // keepalived 2.2.7 logs an invalid ~SEQ/~LST and skips the line.
            Err(message) => {
                self.warn(
                    loc,
                    format!("{message}: the line is skipped, as keepalived skips it"),
                );
                return;
            }
        }
        // `${_PWD}` is rare; the absolute path of the file's directory costs a getcwd(2)
        // (a tenth of reading 510 instances), so only a line that may substitute asks.
        let pwd = if line.contains('$') {
            self.pwd(loc)
        } else {
            String::new()
        };
        let mut scope = params::Scope {
            definitions: &self.definitions,
            pwd: &pwd,
            instance: &self.options.config_id,
            random: &mut self.random,
        };
        match params::substitute(line, &mut scope) {
            Ok(Some(expanded)) => {
                if round >= params::MAX_ROUNDS {
                    self.error(
                        loc,
                        "parameter substitution does not end (a definition that refers to \
                         itself?)",
                    );
                    return;
                }
                // A multiline value becomes several lines, each read in turn (so a
                // definition on one line applies to the next).
                for part in expanded.split('\n') {
                    let part = part.trim();
                    if !part.is_empty() {
                        self.logical_line(part, loc, depth, round + 1);
                    }
                }
            }
            Ok(None) => self.words(line, loc, depth),
            Err(message) => self.error(loc, message),
        }
    }

    /// `${_PWD}`: the absolute directory of the file `loc` is in.
    fn pwd(&self, loc: Loc) -> String {
        let file = self.files.get(loc.file).cloned().unwrap_or_default();
        let dir = file.parent().unwrap_or(Path::new("."));
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        std::path::absolute(dir)
            .unwrap_or_else(|_| dir.to_path_buf())
            .to_string_lossy()
            .into_owned()
    }

    fn words(&mut self, line: &str, loc: Loc, depth: usize) {
        // An include path may hold `{a,b}`, so it is taken before braces become tokens.
        let (first, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        if let Some(checks) = IncludeChecks::of(first) {
            let pattern = rest.trim();
            if pattern.is_empty() {
                self.error(loc, format!("`{first}` takes exactly one path"));
            } else if first == "include" && pattern.starts_with(['"', '\'']) {
                // keepalived 2.2.7 takes the quotes as part of the name ("Config files
                // missing '\"/etc/keepalived/x.conf\"'") and goes on without the file; the
                // strict variants below find no file either, as keepalived's do.
                self.missing(
                    loc,
                    format!(
                        "`include {pattern}`: keepalived 2.2.7 takes the quotes as part of the \
                         file name and includes nothing (\"Config files missing\"), and so \
                         does vipd: write the path without quotes"
                    ),
                );
            } else if !pattern.starts_with(['"', '\'']) && pattern.contains(char::is_whitespace) {
                // keepalived 2.2.7 looks for one file of that whole name ("Config files
                // missing"): the plain include goes on without it; the strict variants stop.
                let message = format!(
                    "`{first}` takes exactly one path: `{pattern}` names no file, nothing is \
                     included"
                );
                if first == "include" {
                    self.missing(loc, message);
                } else {
                    self.refused_include(loc, message);
                }
            } else {
                self.include(pattern, checks, loc, depth);
            }
            return;
        }
        let (tokens, problem) = tokenize(line);
        match problem {
            Some(Problem::Warning(message)) => self.warn(loc, message),
            Some(Problem::Error(message)) => {
                self.error(loc, message);
                return;
            }
            None => {}
        }
        self.tokens
            .extend(tokens.into_iter().map(|token| (token, loc)));
        self.tokens.push((Token::EndOfLine, loc));
    }

    fn include(&mut self, pattern: &str, checks: IncludeChecks, loc: Loc, depth: usize) {
        if depth >= MAX_INCLUDE_DEPTH {
            self.error(
                loc,
                format!("includes nested deeper than {MAX_INCLUDE_DEPTH} (an include loop?)"),
            );
            return;
        }
        let including = self.files.get(loc.file).cloned().unwrap_or_default();
        let base = including.parent().unwrap_or(Path::new("."));
        let errors_before = self.errors.len();
        let alternatives = expand_braces(pattern);
        let braced = alternatives.len() > 1;
        let mut found = Vec::new();
        for alternative in &alternatives {
            let full = base.join(alternative);
            let wildcard = has_wildcard(alternative);
            let matches = if wildcard {
                match glob(&full) {
                    Ok(paths) => paths,
                    Err(e) => {
                        self.error(loc, format!("cannot expand include `{pattern}`: {e}"));
                        return;
                    }
                }
            } else if full.exists() {
                vec![full]
            } else {
                Vec::new()
            };
            if matches.is_empty() {
                let refused = (braced && checks.brace_match)
                    || (wildcard && checks.wildcard_match)
                    || (!wildcard && checks.literal_match);
                if refused {
                    self.refused_include(
                        loc,
                        format!("include `{pattern}`: no file matches `{alternative}`"),
                    );
                } else if !wildcard {
                    self.missing(
                        loc,
                        format!(
                            "include `{pattern}`: no such file `{alternative}`, nothing included"
                        ),
                    );
                } else if !braced && self.options.all_config {
                    self.missing(loc, format!("include `{pattern}`: no file matches"));
                }
            }
            found.extend(matches);
        }
        // A `{a,b}` of patterns: -e refuses it when none matches anything (keepalived:
        // "No config files matched"), not for one alternative that matches nothing.
        if braced
            && found.is_empty()
            && self.options.all_config
            && self.errors.len() == errors_before
        {
            self.missing(loc, format!("include `{pattern}`: no file matches"));
        }
        for path in found {
            if self.over_budget {
                return;
            }
            if self.files.len() >= MAX_FILES {
                self.over_budget = true;
                self.error(
                    loc,
                    format!(
                        "the configuration includes more than {MAX_FILES} files (includes \
                         that fan out?): refused"
                    ),
                );
                return;
            }
            match super::read_file(&path) {
                Ok(text) => self.lex_file(&text, &path, depth + 1),
                Err(e) if checks.readable => self.refused_include(
                    loc,
                    format!("cannot read included file {}: {e}", path.display()),
                ),
                // keepalived's plain `include` logs an unreadable file and goes on.
                Err(e) => self.missing(
                    loc,
                    format!(
                        "cannot read included file {}: {e}; nothing included",
                        path.display()
                    ),
                ),
            }
        }
    }
}

/// Keywords whose value keepalived 2.2.7 reads as a command line, shell-like: there a
/// `'...'` string is one word (`script '/bin/check a b'`, `notify_master '/bin/n a' root`).
/// Anywhere else a single quote is an ordinary character (`priority '200'` is the invalid
/// number `'200'`, `auth_pass 'ab cd'` is `'ab`, `router_id 'a#b'` is `'a`), as keepalived
/// 2.2.7 reads it. (Public for the corpus tests, which stub these commands out.)
pub const COMMAND_KEYWORDS: &[&str] = &[
    "script",
    "notify",
    "notify_master",
    "notify_backup",
    "notify_fault",
    "notify_stop",
    "notify_deleted",
    "notify_master_rx_lower_pri",
    "notify_fifo_script",
    "vrrp_notify_fifo_script",
    "lvs_notify_fifo_script",
    "startup_script",
    "shutdown_script",
    "misc_path",
    "notify_up",
    "notify_down",
    "quorum_up",
    "quorum_down",
];

/// Whether `line` (an `@ID` prefix allowed) sets one of the [`COMMAND_KEYWORDS`].
fn is_command_line(line: &str) -> bool {
    let mut words = line.split_whitespace();
    let first = match words.next() {
        Some(w) if w.starts_with('@') => words.next(),
        other => other,
    };
    first.is_some_and(|w| COMMAND_KEYWORDS.contains(&w))
}

/// The line without its comment: `!` or `#` outside double quotes starts one, also inside
/// a word (`priority 100#main` is `priority 100`) and inside single quotes, also on a
/// command line (`script '/bin/x #1'` is `script '/bin/x`, whose quote [`tokenize`] then
/// finds open), as keepalived 2.2.7 reads it.
fn decomment(line: &str) -> &str {
    let mut quoted = false;
    for (i, c) in line.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '!' | '#' if !quoted => return &line[..i],
            _ => {}
        }
    }
    line
}

/// Splits a line into words and braces as keepalived 2.2.7 does: whitespace separates
/// words, `{` and `}` are tokens of their own even inside a word, and a `"..."` string (or a
/// `'...'` one on a command line, see [`COMMAND_KEYWORDS`]) is a word of its own, also when
/// it touches other text (`5"1"` is the two words
/// `5` and `1`, whatever keepalived.conf(5) says). `!` or `#` outside quotes ends the line
/// (they can come from `${_HASH}`/`${_BANG}`, which keepalived 2.2.7 also reads as
/// comments).
/// A `"` left open takes the rest of the line, as keepalived 2.2.7 reads it ("Unterminated
/// quote"), and comes back as a warning; a `'` left open on a command line is an error
/// (keepalived 2.2.7: "missing terminating '", then it drops the notify script, or crashes
/// on a `script`).
fn tokenize(line: &str) -> (Vec<Token>, Option<Problem>) {
    let single = is_command_line(line);
    let mut tokens = Vec::new();
    let mut word = String::new();
    let mut chars = line.chars();
    let end_word = |word: &mut String, tokens: &mut Vec<Token>| {
        if !word.is_empty() {
            tokens.push(Token::Word(Word {
                text: std::mem::take(word),
                quoted: false,
            }));
        }
    };
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => end_word(&mut word, &mut tokens),
            '{' | '}' => {
                end_word(&mut word, &mut tokens);
                tokens.push(if c == '{' { Token::Open } else { Token::Close });
            }
            '!' | '#' => break,
            '"' | '\'' if c == '"' || single => {
                end_word(&mut word, &mut tokens);
                let mut text = String::new();
                loop {
                    match chars.next() {
                        Some(q) if q == c => break,
                        Some(other) => text.push(other),
                        None if c == '\'' => {
                            let problem = Problem::Error(
                                "unterminated ' quote: keepalived 2.2.7 refuses it (\"missing \
                                 terminating '\"; for `script` it crashes), and so does vipd. \
                                 A `#` or `!` ends the line also inside '...': write it inside \
                                 \"...\" (`script \"/bin/x '#1'\"`)"
                                    .to_string(),
                            );
                            return (tokens, Some(problem));
                        }
                        None => {
                            tokens.push(Token::Word(Word { text, quoted: true }));
                            let warning = format!(
                                "unterminated {c} quote: it ends at the end of the line, as \
                                 keepalived reads it"
                            );
                            return (tokens, Some(Problem::Warning(warning)));
                        }
                    }
                }
                tokens.push(Token::Word(Word { text, quoted: true }));
            }
            c => word.push(c),
        }
    }
    end_word(&mut word, &mut tokens);
    (tokens, None)
}

/// What [`tokenize`] found wrong with a line.
enum Problem {
    Warning(String),
    Error(String),
}

/// What the lines of an open block are.
#[derive(Clone, Copy)]
enum Context {
    Keywords(Block),
    Values,
    /// A skipped block: every `{` nests, up to the matching `}`.
    Skipped,
}

impl Context {
    fn shape(self, keyword: &str) -> Shape {
        match self {
            Context::Keywords(block) => keywords::shape(block, keyword),
            Context::Values => Shape::Plain,
            Context::Skipped => Shape::Skipped,
        }
    }
}

/// An open block: the statements around it, its keyword, and what its lines are.
struct Frame {
    parent: Vec<Statement>,
    owner: Statement,
    context: Context,
}

/// Builds the block tree the way keepalived 2.2.7's parser reads the lines, keyword by
/// keyword ([`Shape`]), with a warning wherever it logs something:
/// - a `{` after a keyword that takes no block (or after no keyword) is skipped ("Unexpected
///   '{' - ignoring"); what follows is read in the enclosing block, and the `}` meant for
///   the skipped `{` closes that block;
/// - a block keyword without `{` takes the lines after it as its block, up to the next `}`
///   ("Missing '{' at beginning of configuration block"); words after a value-block keyword
///   are ignored ("Block ... has extra parameters");
/// - a `}` closing nothing is skipped ("Extra '}' found"), and blocks still open at the end
///   of the file end there ("missing '}'").
fn build_tree(
    source: &mut Source,
    tokens: Vec<(Token, Loc)>,
) -> Result<Vec<Statement>, ConfigErrors> {
    let mut open: Vec<Frame> = Vec::new();
    let mut current: Vec<Statement> = Vec::new();
    let mut context = Context::Keywords(Block::TopLevel);
    let mut pending: Option<Statement> = None;
    // A block keyword whose line ended: the next token is its `{`, or its block starts
    // without one.
    let mut awaiting: Option<(Statement, Context)> = None;
    let warn = |source: &mut Source, loc: Loc, message: String| {
        let warning = source.warning(loc, message);
        source.warnings.push(warning);
    };
    let context_of = |shape: Shape| match shape {
        Shape::Keywords(block) => Some(Context::Keywords(block)),
        Shape::Values => Some(Context::Values),
        Shape::Skipped => Some(Context::Skipped),
        Shape::Plain => None,
    };
    for (token, loc) in tokens {
        if let Token::Close = token {
            // The line ends here.
            if let Some(statement) = pending.take() {
                match context_of(context.shape(statement.keyword())) {
                    Some(inner) if !matches!(context, Context::Skipped) => {
                        awaiting = Some((statement, inner));
                    }
                    _ => current.push(statement),
                }
            }
        }
        if matches!(token, Token::EndOfLine) && awaiting.is_some() {
            continue;
        }
        if let Some((owner, inner)) = awaiting.take() {
            let opens = matches!(token, Token::Open);
            if !opens {
                warn(
                    source,
                    owner.loc,
                    format!(
                        "`{}` has no `{{`: the lines after it up to the next `}}` are read as \
                         its block, as keepalived reads them (\"Missing '{{' at beginning of \
                         configuration block\")",
                        owner.keyword()
                    ),
                );
            }
            if matches!(inner, Context::Values) && !owner.args().is_empty() {
                let extra: Vec<&str> = owner.args().iter().map(|w| w.text.as_str()).collect();
                warn(
                    source,
                    owner.loc,
                    format!(
                        "`{}`: `{}` is ignored, as keepalived ignores it (\"Block {} has extra \
                         parameters\"); write the values inside the block",
                        owner.keyword(),
                        extra.join(" "),
                        owner.keyword()
                    ),
                );
            }
            open.push(Frame {
                parent: std::mem::take(&mut current),
                owner,
                context,
            });
            context = inner;
            if opens {
                continue;
            }
        }
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
            Token::EndOfLine => {
                if let Some(statement) = pending.take() {
                    match context.shape(statement.keyword()) {
                        // In a skipped block only a `{` on the same line opens a block.
                        _ if matches!(context, Context::Skipped) => current.push(statement),
                        shape => match context_of(shape) {
                            Some(inner) => awaiting = Some((statement, inner)),
                            None => current.push(statement),
                        },
                    }
                }
            }
            Token::Open => match pending.take() {
                Some(statement) => match context_of(context.shape(statement.keyword())) {
                    Some(inner) => {
                        open.push(Frame {
                            parent: std::mem::take(&mut current),
                            owner: statement,
                            context,
                        });
                        context = inner;
                    }
                    None => {
                        let what = if matches!(context, Context::Values) {
                            "a value line".to_string()
                        } else {
                            format!("`{}`, which takes no block,", statement.keyword())
                        };
                        current.push(statement);
                        warn(
                            source,
                            loc,
                            format!(
                                "`{{` after {what} is skipped, as keepalived skips it \
                                 (\"Unexpected '{{'\"): the lines after it belong to the \
                                 enclosing block, which the next `}}` closes"
                            ),
                        );
                    }
                },
                None => warn(
                    source,
                    loc,
                    "`{` without a block keyword before it is skipped, as keepalived skips it \
                     (\"Unexpected '{'\"): the lines after it belong to the enclosing block, \
                     which the next `}` closes"
                        .to_string(),
                ),
            },
            Token::Close => {
                let Some(frame) = open.pop() else {
                    warn(
                        source,
                        loc,
                        "`}` without a matching `{` is skipped, as keepalived skips it \
                         (\"Extra '}' found\")"
                            .to_string(),
                    );
                    continue;
                };
                let mut owner = frame.owner;
                owner.block = Some(std::mem::replace(&mut current, frame.parent));
                current.push(owner);
                context = frame.context;
            }
        }
    }
    current.extend(pending.take());
    if let Some((owner, _)) = awaiting.take() {
        open.push(Frame {
            parent: std::mem::take(&mut current),
            owner,
            context,
        });
    }
    while let Some(frame) = open.pop() {
        let mut owner = frame.owner;
        warn(
            source,
            owner.loc,
            format!(
                "block of `{}` is not closed: it ends at the end of the file, as keepalived \
                 reads it (\"missing '}}'\")",
                owner.keyword()
            ),
        );
        owner.block = Some(std::mem::replace(&mut current, frame.parent));
        current.push(owner);
    }
    Ok(current)
}

/// `a{b,c}d` becomes `abd`, `acd` (nested braces too); a pattern without braces is itself.
fn expand_braces(pattern: &str) -> Vec<String> {
    let Some(open) = pattern.find('{') else {
        return vec![pattern.to_string()];
    };
    let mut depth = 0usize;
    let mut close = None;
    let mut commas = Vec::new();
    for (i, c) in pattern[open..].char_indices() {
        let at = open + i;
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    close = Some(at);
                    break;
                }
            }
            ',' if depth == 1 => commas.push(at),
            _ => {}
        }
    }
    let Some(close) = close else {
        return vec![pattern.to_string()];
    };
    let (prefix, suffix) = (&pattern[..open], &pattern[close + 1..]);
    let mut bounds = vec![open];
    bounds.extend(&commas);
    bounds.push(close);
    let mut out = Vec::new();
    for pair in bounds.windows(2) {
        let middle = &pattern[pair[0] + 1..pair[1]];
        for expanded in expand_braces(&format!("{prefix}{middle}{suffix}")) {
            out.push(expanded);
        }
    }
    out
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

    fn with_id(text: &str, id: &str) -> Vec<Statement> {
        let options = ReadOptions {
            config_id: id.to_string(),
            all_config: false,
        };
        read(text, Path::new("/nonexistent/k.conf"), &options)
            .map_err(|e| e.to_string())
            .unwrap()
            .statements
    }

    /// Each statement as `LINE: word word [{ ... }]`.
    fn show(statements: &[Statement]) -> Vec<String> {
        statements
            .iter()
            .map(|s| {
                let words: Vec<&str> = s.words.iter().map(|w| w.text.as_str()).collect();
                match &s.block {
                    Some(block) => format!(
                        "{}: {} {{ {} }}",
                        s.loc.line,
                        words.join(" "),
                        show(block).join("; ")
                    ),
                    None => format!("{}: {}", s.loc.line, words.join(" ")),
                }
            })
            .collect()
    }

    /// A fresh directory for include tests, removed when the test ends.
    struct Scratch(PathBuf);

    impl std::ops::Deref for Scratch {
        type Target = Path;
        fn deref(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn scratch(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("vipd-lexer-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    #[test]
    fn comments_start_anywhere_outside_quotes_and_quotes_make_words_of_their_own() {
        let s = show(&tree(
            "a 100#x\nb \"x # y\"!z\nc 5\"1\"0\nstatic_ipaddress{ 192.0.2.1}\nscript \"x '#' y\"!z\n",
        ));
        assert_eq!(
            s,
            [
                "1: a 100",
                "2: b x # y",
                "3: c 5 1 0",
                "4: static_ipaddress { 4: 192.0.2.1 }",
                "5: script x '#' y"
            ]
        );
    }

    /// keepalived 2.2.7 strips comments before it looks at single quotes: `script '/x #y'`
    /// is `script '/x` ("missing terminating '"), which it crashes on (`-t` too), and a
    /// notify script it drops. vipd refuses the line, naming it; a `#` inside `"..."`
    /// (also within '...' there) stays, as keepalived keeps it.
    #[test]
    fn a_comment_inside_single_quotes_on_a_command_line_leaves_the_quote_open_refused() {
        for line in [
            "script '/bin/x a #y b'",
            "notify_master '/bin/n m!z'",
            "@^nothere notify '/bin/n #1' root",
            "script '/bin/x a",
        ] {
            let text = format!("a 1\n{line}\nb 2\n");
            let e = read(&text, Path::new("k.conf"), &ReadOptions::default()).unwrap_err();
            assert_eq!(e.len(), 1, "{line}: {e}");
            assert!(
                e.to_string()
                    .starts_with("k.conf:2: unterminated ' quote: keepalived 2.2.7 refuses it"),
                "{line}: {e}"
            );
        }
        let s = show(&tree(
            "script '/bin/x \"#1\" y' # c\nscript \"/bin/x '#1 2'\"\nauth_pass 'a#b'\n",
        ));
        assert_eq!(
            s,
            [
                "1: script /bin/x \"#1\" y",
                "2: script /bin/x '#1 2'",
                "3: auth_pass 'a"
            ]
        );
    }

    /// keepalived 2.2.7 (its -d dump): `priority '200'` is "invalid number ''200''",
    /// `auth_pass 'ab cd'` is `'ab`, `router_id 'a#b'` is `'a` and `auth_pass 'x{y}z'` is `'x`, then the
    /// unknown keywords `y` and `z'`;
    /// only a command line (`script`, `notify_*`, ...) takes `'...'` as one word.
    #[test]
    fn single_quotes_group_words_on_command_lines_only() {
        let s = show(&tree(
            "priority '200'\nauth_pass 'ab cd'\nrouter_id 'a#b'\nauth_pass 'x{y}z'\n@^nothere notify_master '/bin/n a' root\nvrrp_notify_fifo_script '/bin/f x'\n",
        ));
        assert_eq!(
            s,
            [
                "1: priority '200'",
                "2: auth_pass 'ab cd'",
                "3: router_id 'a",
                "4: auth_pass 'x",
                "4: y",
                "4: z'",
                "5: notify_master /bin/n a root",
                "6: vrrp_notify_fifo_script /bin/f x"
            ]
        );
        let s = tree("auth_pass 'ab cd'\n");
        assert_eq!(s[0].args().len(), 2);
        assert_eq!(s[0].args()[0].text, "'ab");
    }

    #[test]
    fn definitions_and_substitution() {
        let s = show(&tree(
            "$P=150\n$BASE=192.0.2.${SUB}\n$SUB=1\nvrrp_instance i {\n priority $P\n vip ${BASE}0/24\n x $P/2\n}\n",
        ));
        assert_eq!(
            s,
            ["4: vrrp_instance i { 5: priority 150; 6: vip 192.0.2.10/24; 7: x $P/2 }"]
        );
    }

    #[test]
    fn multiline_definitions_expand_to_several_lines() {
        let text = "$INST= \\\nvrrp_instance VI_${N} { \\\n  @high priority 130 \\\n  @low priority 120 \\\n  virtual_router_id ${N} \\\n}\n$N=1\n$INST\n$N=2\n$INST\n";
        let s = show(&with_id(text, "high"));
        assert_eq!(
            s,
            [
                "8: vrrp_instance VI_1 { 8: priority 130; 8: virtual_router_id 1 }",
                "10: vrrp_instance VI_2 { 10: priority 130; 10: virtual_router_id 2 }"
            ]
        );
        // A blank line ends a multiline definition, as in keepalived.
        let s = show(&tree("$M= \\\n a 1 \\\n\nb 2\n$M\n"));
        assert_eq!(s, ["4: b 2", "5: a 1"]);
    }

    #[test]
    fn conditional_lines_follow_the_config_id() {
        let text = "@lb1 router_id one\n@lb2 router_id two\n@^lb1 x not-one\n@lb1 $P=200\n@lb2 $P=100\np $P\n$IF=@lb1\n$IF y 1\n";
        assert_eq!(
            show(&with_id(text, "lb1")),
            ["1: router_id one", "6: p 200", "8: y 1"]
        );
        assert_eq!(
            show(&with_id(text, "lb2")),
            ["2: router_id two", "3: x not-one", "6: p 100"]
        );
    }

    #[test]
    fn sequences_repeat_the_rest_of_the_line() {
        let s = show(&tree(
            "static_ipaddress {\n ~SEQ(N, 1, 3) 192.0.2.${N}\n}\n",
        ));
        assert_eq!(
            s,
            ["1: static_ipaddress { 2: 192.0.2.1; 2: 192.0.2.2; 2: 192.0.2.3 }"]
        );
    }

    #[test]
    fn a_self_referring_definition_is_an_error() {
        let e = read(
            "$A=x $A\n$A\n",
            Path::new("k.conf"),
            &ReadOptions::default(),
        )
        .err()
        .unwrap();
        assert!(
            e.to_string()
                .starts_with("k.conf:2: parameter substitution"),
            "{e}"
        );
    }

    #[test]
    fn include_variants_and_braces() {
        let dir = scratch("include");
        std::fs::create_dir_all(dir.join("conf.d")).unwrap();
        std::fs::write(dir.join("conf.d/a.conf"), "a 1\n").unwrap();
        std::fs::write(dir.join("conf.d/b.conf"), "b 2\n").unwrap();
        let main = dir.join("main.conf");
        let read_main = |text: &str| read(text, &main, &ReadOptions::default());
        let ok = read_main(
            "include conf.d/*.conf\ninclude conf.d/{b,a}.conf\ninclude ${_PWD}/conf.d/a.conf\n",
        )
        .unwrap();
        assert_eq!(
            show(&ok.statements),
            ["1: a 1", "1: b 2", "1: b 2", "1: a 1", "1: a 1"]
        );
        assert!(ok.warnings.is_empty());
        // Plain include: a missing literal file is a warning, an empty glob nothing.
        let lenient = read_main("include conf.d/none.conf\ninclude conf.d/*.none\n").unwrap();
        assert_eq!(lenient.warnings.len(), 1, "{:?}", lenient.warnings);
        assert!(lenient.warnings[0]
            .to_string()
            .contains(":1: warning: include"));
        // includea: both are errors.
        let e = read_main("includea conf.d/none.conf\nincludea conf.d/*.none\n").unwrap_err();
        assert_eq!(e.len(), 2, "{e}");
        // includem: only the literal path must match.
        let e = read_main("includem conf.d/*.none\nincludem conf.d/none.conf\n").unwrap_err();
        assert_eq!(e.len(), 1, "{e}");
        assert!(e.to_string().contains("main.conf:2: include"), "{e}");
        // A quoted path: keepalived 2.2.7 looks for a file whose name has the quotes
        // ("Config files missing '\"/x/a.conf\"'") and includes nothing.
        let quoted =
            read_main("include \"conf.d/a.conf\"\ninclude 'conf.d/*.conf'\nc 3\n").unwrap();
        assert_eq!(show(&quoted.statements), ["3: c 3"]);
        assert_eq!(quoted.warnings.len(), 2, "{:?}", quoted.warnings);
        assert!(
            quoted.warnings[0]
                .to_string()
                .contains("takes the quotes as part of the file name"),
            "{:?}",
            quoted.warnings
        );
        let e = read_main("includem \"conf.d/a.conf\"\n").unwrap_err();
        assert!(e.to_string().contains("main.conf:1: include"), "{e}");
    }

    /// keepalived 2.2.7 `-e`/`--all-config` (its `-t -e` exits 6 on each of these): an
    /// include that brings in no file stops the configuration; a wildcard alternative of a
    /// `{a,b}` that matches nothing while another does, does not.
    #[test]
    fn all_config_refuses_includes_that_bring_in_no_file() {
        let dir = scratch("all_config");
        std::fs::create_dir_all(dir.join("conf.d/sub.conf")).unwrap();
        std::fs::write(dir.join("conf.d/a.conf"), "a 1\n").unwrap();
        let main = dir.join("main.conf");
        let strict = ReadOptions {
            all_config: true,
            ..ReadOptions::default()
        };
        for include in [
            "include conf.d/none.conf",
            "include conf.d/*.none",
            "include conf.d/{x,y}.conf",
            "include conf.d/{a,y}.conf",
            "include conf.d/{*.none,*.nada}",
            "include conf.d/sub.conf",
            "include conf.d/s*.conf",
            "include \"conf.d/a.conf\"",
            "include conf.d/a.conf conf.d/a.conf",
            "includem conf.d/*.none",
        ] {
            let text = format!("b 2\n{include}\nc 3\n");
            let lenient = read(&text, &main, &ReadOptions::default());
            assert!(lenient.is_ok(), "{include}: {lenient:?}");
            let e = read(&text, &main, &strict).unwrap_err();
            assert!(e.missing_file(), "{include}: {e}");
            assert!(
                e.to_string().contains("main.conf:2: ")
                    && e.to_string().contains("(refused by -e/--all-config)"),
                "{include}: {e}"
            );
        }
        for include in [
            "include conf.d/a.conf",
            "include conf.d/*.conf",
            "include conf.d/{a,*.none}.conf",
        ] {
            let text = format!("{include}\n");
            let s = read(&text, &main, &strict).unwrap_or_else(|e| panic!("{include}: {e}"));
            assert_eq!(show(&s.statements)[0], "1: a 1", "{include}");
        }
        // The strict variants stop without -e too, and keepalived -t says 6 for them.
        let e = read(
            "includea conf.d/none.conf\n",
            &main,
            &ReadOptions::default(),
        )
        .unwrap_err();
        assert!(e.missing_file(), "{e}");
        let e = read("priority 300 {\n", &main, &strict);
        assert!(e.is_ok(), "{e:?}");
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
    fn unbalanced_braces_are_read_as_keepalived_reads_them_with_warnings() {
        let s = read(
            "vrrp_instance a {\n authentication {\n c 1\n",
            Path::new("k.conf"),
            &ReadOptions::default(),
        )
        .unwrap();
        assert_eq!(s.statements.len(), 1);
        let a = s.statements[0].block.as_ref().unwrap();
        assert_eq!(a[0].keyword(), "authentication");
        assert_eq!(a[0].block.as_ref().unwrap()[0].keyword(), "c");
        assert_eq!(s.warnings.len(), 2, "{:?}", s.warnings);
        let text = s.warnings[0].to_string();
        assert!(
            text.contains("k.conf:2: warning: block of `authentication` is not closed"),
            "{text}"
        );
        let s = read(
            "a 1\n}\nb 2\n",
            Path::new("k.conf"),
            &ReadOptions::default(),
        )
        .unwrap();
        assert_eq!(s.statements.len(), 2);
        assert_eq!(s.statements[1].keyword(), "b");
        let text = s.warnings[0].to_string();
        assert!(
            text.contains("k.conf:2: warning: `}` without a matching `{`"),
            "{text}"
        );
        let s = read("a \"x y\n", Path::new("k.conf"), &ReadOptions::default()).unwrap();
        assert_eq!(s.statements[0].args()[0].text, "x y");
        let text = s.warnings[0].to_string();
        assert!(
            text.contains("k.conf:1: warning: unterminated \" quote"),
            "{text}"
        );
    }

    #[test]
    fn lines_keepalived_skips_are_warnings() {
        let text = "{\n a 1\n}\n~SEQ(N, 1, x) b $N\ninclude /nonexistent/a /nonexistent/b\nc 2\n";
        let s = read(text, Path::new("k.conf"), &ReadOptions::default()).unwrap();
        let keywords: Vec<&str> = s.statements.iter().map(|st| st.keyword()).collect();
        // The `{` is skipped, `a 1` read at the top level, the `}` skipped too.
        assert_eq!(keywords, ["a", "c"]);
        let warnings: Vec<String> = s.warnings.iter().map(|w| w.to_string()).collect();
        assert_eq!(warnings.len(), 4, "{warnings:#?}");
        for expected in [
            "k.conf:1: warning: `{` without a block keyword",
            "k.conf:3: warning: `}` without a matching",
            "k.conf:4: warning: invalid ~SEQ",
            "k.conf:5: warning: `include` takes exactly one path",
        ] {
            assert!(
                warnings.iter().any(|w| w.contains(expected)),
                "{expected}: {warnings:#?}"
            );
        }
        let e = read(
            "includer /a /b\n",
            Path::new("k.conf"),
            &ReadOptions::default(),
        );
        assert!(e.is_err());
    }

    #[test]
    fn wildcards() {
        assert!(wildcard_match(b"*.conf", b"a.conf"));
        assert!(!wildcard_match(b"*.conf", b"a.conf.bak"));
        assert!(wildcard_match(b"vi_[0-9].c?nf", b"vi_3.conf"));
        assert!(!wildcard_match(b"vi_[!0-9].conf", b"vi_3.conf"));
    }

    /// Reads `main` (in `dir`) through the public entry point, as `vipd check` and a reload
    /// do; the error text.
    fn refusal(main: &Path) -> String {
        let started = std::time::Instant::now();
        let result = crate::config::read(main, &ReadOptions::default());
        // Bounded: refused in well under the time a reload may take (debug build).
        assert!(started.elapsed() < std::time::Duration::from_secs(20));
        match result {
            Ok(_) => panic!("{} was accepted", main.display()),
            Err(e) => e.to_string(),
        }
    }

    const INSTANCE: &str = "vrrp_instance VI_1 {\n interface lo\n virtual_router_id 51\n \
                            virtual_ipaddress {\n 192.0.2.10/24\n }\n}\n";

    #[test]
    fn includes_that_fan_out_are_refused_not_read_for_hours() {
        // Ten includes of a file with ten includes of ... nine deep: 10^9 reads, no loop.
        let dir = scratch("fan_out");
        for level in 0..9 {
            let text = format!("include f{}.conf\n", level + 1).repeat(10);
            std::fs::write(dir.join(format!("f{level}.conf")), text + INSTANCE).unwrap();
        }
        std::fs::write(dir.join("f9.conf"), "! leaf\n").unwrap();
        let e = refusal(&dir.join("f0.conf"));
        assert!(e.contains(&format!("more than {MAX_FILES} files")), "{e}");
    }

    #[test]
    fn nested_sequences_are_refused_not_expanded_for_hours() {
        let dir = scratch("nested_seq");
        let main = dir.join("k.conf");
        let text = format!("~SEQ(A,1,100000) ~SEQ(B,1,100000) ! $A $B\n{INSTANCE}");
        std::fs::write(&main, text).unwrap();
        let e = refusal(&main);
        assert!(
            e.contains("k.conf:1: the configuration comes to more than"),
            "{e}"
        );
    }

    #[test]
    fn fifos_devices_and_huge_files_are_refused_without_waiting_or_reading() {
        let dir = scratch("special_files");
        let fifo = dir.join("fifo.conf");
        let c_path = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
        // Nobody ever writes to the FIFO: opening it blocking would wait forever.
        let e = refusal(&fifo);
        assert!(e.contains("not a regular file"), "{e}");
        let e = refusal(Path::new("/dev/zero"));
        assert!(e.contains("not a regular file"), "{e}");
        let e = refusal(&dir);
        assert!(e.contains("not a regular file"), "{e}");
        // Included: `includer` refuses the file, plain `include` warns and goes on.
        let main = dir.join("main.conf");
        for target in [fifo.as_path(), Path::new("/dev/zero")] {
            let text = format!("includer {}\n{INSTANCE}", target.display());
            std::fs::write(&main, text).unwrap();
            let e = refusal(&main);
            assert!(e.contains("main.conf:1: cannot read included file"), "{e}");
            assert!(e.contains("not a regular file"), "{e}");
            let text = format!("include {}\n{INSTANCE}", target.display());
            std::fs::write(&main, text).unwrap();
            let loaded = crate::config::read(&main, &ReadOptions::default()).unwrap();
            let warnings: Vec<String> = loaded.warnings.iter().map(|w| w.to_string()).collect();
            assert!(
                warnings.iter().any(|w| w.contains("not a regular file")),
                "{warnings:?}"
            );
        }
        // A sparse file one byte above the limit: refused before it is read.
        let huge = dir.join("huge.conf");
        let file = std::fs::File::create(&huge).unwrap();
        file.set_len(crate::config::MAX_FILE_BYTES + 1).unwrap();
        let e = refusal(&huge);
        assert!(e.contains("larger than 16 MiB"), "{e}");
    }
}
