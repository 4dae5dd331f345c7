use std::path::PathBuf;

/// One problem in the config, at a field path such as `peers[1].global_cidr`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct FieldError {
    pub path: String,
    pub message: String,
}

/// Where in the YAML text a syntax or type error was found (1-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextLocation {
    pub line: usize,
    pub column: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The text is not YAML, or does not have the schema's shape (unknown
    /// field, missing required field, wrong type). serde stops at the first
    /// such error, so there is only one.
    #[error("{}{message}", location_prefix(.location))]
    Syntax {
        location: Option<TextLocation>,
        message: String,
    },
    /// The YAML has the right shape but values break the rules: all of them.
    #[error("{}", list(.0))]
    Invalid(Vec<FieldError>),
}

impl ConfigError {
    pub(crate) fn from_yaml(error: &serde_yaml::Error) -> Self {
        let location = error.location().map(|l| TextLocation {
            line: l.line(),
            column: l.column(),
        });
        let mut message = error.to_string();
        // serde_yaml appends " at line L column C"; we show the location first.
        if let Some(l) = location {
            let suffix = format!(" at line {} column {}", l.line, l.column);
            if let Some(stripped) = message.strip_suffix(&suffix) {
                message = stripped.to_string();
            }
        }
        ConfigError::Syntax { location, message }
    }

    /// Every field error, or an empty slice for read/syntax errors.
    pub fn field_errors(&self) -> &[FieldError] {
        match self {
            ConfigError::Invalid(errors) => errors,
            _ => &[],
        }
    }
}

fn location_prefix(location: &Option<TextLocation>) -> String {
    match location {
        Some(l) => format!("line {}, column {}: ", l.line, l.column),
        None => String::new(),
    }
}

fn list(errors: &[FieldError]) -> String {
    let count = errors.len();
    let mut text = format!(
        "{count} error{} in config:",
        if count == 1 { "" } else { "s" }
    );
    for error in errors {
        text.push_str(&format!("\n  {error}"));
    }
    text
}

/// Gathers field errors during validation so all of them are reported.
#[derive(Debug, Default)]
pub(crate) struct Errors(Vec<FieldError>);

impl Errors {
    pub(crate) fn add(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError {
            path: path.into(),
            message: message.into(),
        });
    }

    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(crate) fn into_vec(self) -> Vec<FieldError> {
        self.0
    }
}
