//! Where configuration values come from: the process environment and, when present, a `.env` file in
//! the working directory. A real environment variable wins over `.env`; each value remembers its
//! source so `--check-config` can say why a setting has the value it has.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use super::kind::PREFIX;

/// The origin of one effective value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Default,
    DotEnv,
    Environment,
    /// Generated and kept in the data directory (development secrets).
    Generated,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Source::Default => "default",
            Source::DotEnv => ".env",
            Source::Environment => "environment",
            Source::Generated => "generated",
        })
    }
}

/// All `RUSTCHAT_*` values found, by full name, with their source.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    values: BTreeMap<String, (String, Source)>,
}

impl Sources {
    /// Reads `.env` from `dotenv_path` (if it exists) and then `env`, which wins.
    pub fn collect(
        env: impl IntoIterator<Item = (String, String)>,
        dotenv_path: Option<&Path>,
    ) -> Result<Self, String> {
        let mut values = BTreeMap::new();
        if let Some(path) = dotenv_path.filter(|p| p.exists()) {
            let iter = dotenvy::from_path_iter(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            for item in iter {
                let (k, v) = item.map_err(|e| format!("{}: {e}", path.display()))?;
                if k.starts_with(PREFIX) {
                    values.insert(k, (v, Source::DotEnv));
                }
            }
        }
        for (k, v) in env {
            if k.starts_with(PREFIX) {
                values.insert(k, (v, Source::Environment));
            }
        }
        Ok(Self { values })
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(|(v, _)| v.as_str()).filter(|v| !v.is_empty())
    }

    pub fn source(&self, name: &str) -> Source {
        match self.values.get(name) {
            Some((_, Source::Generated)) => Source::Generated,
            Some((v, s)) if !v.is_empty() => *s,
            _ => Source::Default,
        }
    }

    /// Every name with its value, for binding.
    pub fn pairs(&self) -> impl Iterator<Item = (String, String)> + '_ {
        self.values.iter().map(|(k, (v, _))| (k.clone(), v.clone()))
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.values.keys().map(String::as_str)
    }
}

impl Sources {
    pub(super) fn set_generated(&mut self, name: &str) {
        self.values.insert(name.to_string(), (String::new(), Source::Generated));
    }
}
