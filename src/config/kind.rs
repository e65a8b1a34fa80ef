//! What a configuration variable accepts ([`Kind`]) and what it is when unset ([`DefaultValue`]), as
//! typed values the parser reads; and how an operator sees them: the README's "Default" and "Accepts"
//! cells, and the range `--check-config` prints.

use std::time::Duration;

/// What every variable's name starts with.
pub const PREFIX: &str = "RUSTCHAT_";

/// The form of a variable's value, with its bounds where it has any.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// One of these words, in any case.
    Choice(&'static [&'static str]),
    /// `true`/`false`, `1`/`0` or `yes`/`no`.
    Bool,
    Integer {
        min: i64,
        max: i64,
    },
    /// A TCP port; named apart from integers because its error says "a port number".
    Port,
    /// A whole number of `unit`s from `min` to `max`.
    Duration {
        unit: Unit,
        min: u64,
        max: u64,
    },
    /// A URL with one of these schemes (written with `://`).
    Url(&'static [&'static str]),
    /// One or more such URLs, separated by commas (a Redis Cluster's seed nodes).
    UrlList(&'static [&'static str]),
    /// Key material, base64 or raw, at least this many bytes once decoded.
    SecretBytes {
        min_bytes: usize,
    },
    /// 1 to `max_len` characters that pass `allowed`, the set `chars` describes (`[A-Za-z0-9-_.]`).
    Name {
        max_len: usize,
        chars: &'static str,
        allowed: fn(char) -> bool,
    },
    /// An IP address or `localhost`.
    Address,
    Text,
    /// Space-separated words.
    Words,
    /// Comma-separated IP addresses or CIDRs.
    Networks,
    Path,
    /// A `tracing` filter directive.
    LogFilter,
}

/// The unit a duration variable is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Milliseconds,
    Seconds,
}

impl Unit {
    pub fn duration(self, count: u64) -> Duration {
        match self {
            Unit::Milliseconds => Duration::from_millis(count),
            Unit::Seconds => Duration::from_secs(count),
        }
    }

    pub fn count(self, duration: Duration) -> u64 {
        match self {
            Unit::Milliseconds => u64::try_from(duration.as_millis()).unwrap_or(u64::MAX),
            Unit::Seconds => duration.as_secs(),
        }
    }

    fn symbol(self) -> &'static str {
        match self {
            Unit::Milliseconds => "ms",
            Unit::Seconds => "s",
        }
    }
}

/// A variable's value when it is unset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultValue {
    /// Unset means off.
    None,
    Integer(i64),
    Duration(Duration),
    Bool(bool),
    /// Text, a choice, a URL or a path, as it would be written.
    Text(&'static str),
    /// Worked out at start (from the machine, the environment or other variables); the words say how,
    /// in Markdown.
    Derived(&'static str),
}

/// One entry of the configuration table.
#[derive(Debug, Clone, Copy)]
pub struct Variable {
    /// Full name, e.g. `RUSTCHAT_SERVER_PORT`.
    pub name: &'static str,
    pub kind: Kind,
    pub default: DefaultValue,
    /// What it does, in Markdown (the README shows it as written).
    pub meaning: &'static str,
    /// Secrets are redacted in every output.
    pub secret: bool,
}

impl Variable {
    /// The default as a value would be written (`5000`, `rustchat`); empty when unset means off.
    pub fn default_text(&self) -> String {
        match self.default {
            DefaultValue::None => String::new(),
            DefaultValue::Integer(n) => n.to_string(),
            DefaultValue::Duration(d) => match self.kind {
                Kind::Duration { unit, .. } => unit.count(d).to_string(),
                _ => d.as_secs().to_string(),
            },
            DefaultValue::Bool(b) => b.to_string(),
            DefaultValue::Text(text) | DefaultValue::Derived(text) => text.to_string(),
        }
    }

    /// The README's "Default" cell.
    pub fn default_markdown(&self) -> String {
        match self.default {
            DefaultValue::None => "—".to_string(),
            DefaultValue::Derived(words) => words.to_string(),
            _ => format!("`{}`", self.default_text()),
        }
    }

    /// The numeric range, as `--check-config` prints it; `None` for kinds without one.
    pub fn range(&self) -> Option<String> {
        match self.kind {
            Kind::Integer { min, max } => Some(format!("{min} to {max}")),
            Kind::Port => Some(format!("0 to {}", u16::MAX)),
            Kind::Duration { unit, min, max } => Some(format!("{min} to {max} {}", unit.symbol())),
            _ => None,
        }
    }

    /// The README's "Accepts" cell.
    pub fn accepts_markdown(&self) -> String {
        let quoted = |words: &[&str], suffix: &str| -> String {
            words.iter().map(|w| format!("`{w}{suffix}`")).collect::<Vec<_>>().join(", ")
        };
        match self.kind {
            Kind::Choice(options) => quoted(options, ""),
            Kind::Bool => "`true`/`false`, `1`/`0`, `yes`/`no`".to_string(),
            Kind::Integer { .. } | Kind::Port | Kind::Duration { .. } => self.range().unwrap_or_default(),
            Kind::Url(schemes) => format!("{} URL", quoted(schemes, "://")),
            Kind::UrlList(schemes) => format!("{} URL, or several separated by commas", quoted(schemes, "://")),
            Kind::SecretBytes { min_bytes } => format!("base64 or raw, ≥ {min_bytes} bytes"),
            Kind::Name { max_len, chars, .. } => format!("1 to {max_len} of `{chars}`"),
            Kind::Address => "IP address or `localhost`".to_string(),
            Kind::Text => "text".to_string(),
            Kind::Words => "space-separated words".to_string(),
            Kind::Networks => "comma-separated IPs or CIDRs".to_string(),
            Kind::Path => "directory path".to_string(),
            Kind::LogFilter => "tracing filter".to_string(),
        }
    }
}

/// The README's configuration table, generated from `variables` (a test keeps the README equal to it).
pub fn markdown_table(variables: &[Variable]) -> String {
    let mut table = String::from("| Variable | Default | Accepts | Meaning |\n|---|---|---|---|\n");
    for v in variables {
        table.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            v.name,
            v.default_markdown(),
            v.accepts_markdown(),
            v.meaning
        ));
    }
    table
}
