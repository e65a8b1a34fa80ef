//! Reads one variable at a time by its table entry: the text set for it, or its typed default, checked
//! against the form and range the table gives. Errors are collected, none short-circuits, so one run
//! reports every bad variable; each names the variable and the form it expects.

use std::collections::BTreeMap;
use std::time::Duration;

use super::kind::{DefaultValue, Kind, PREFIX, Variable};
use super::{ConfigError, ConfigErrors, Sources};

/// Words a boolean variable accepts.
const BOOL_WORDS: [(&str, bool); 6] =
    [("true", true), ("1", true), ("yes", true), ("false", false), ("0", false), ("no", false)];

pub(super) struct Reader {
    /// Set, non-empty values by name without the prefix, lower-cased: `envy` binds them (so
    /// `RUSTCHAT_Server_Port` sets the port, as it did when envy bound a struct of fields).
    values: BTreeMap<String, String>,
    pub errors: Vec<ConfigError>,
}

impl Reader {
    pub fn new(sources: &Sources) -> Result<Self, ConfigErrors> {
        let set: Vec<(String, String)> = sources.pairs().filter(|(_, v)| !v.is_empty()).collect();
        // A flat struct of fields refused one variable set twice in different cases; a map keeps the
        // last, so that refusal is made here.
        let mut keys: Vec<String> = set.iter().map(|(k, _)| k.trim_start_matches(PREFIX).to_lowercase()).collect();
        keys.sort();
        if let Some(pair) = keys.windows(2).find(|pair| pair[0] == pair[1]) {
            let message = format!("duplicate field `{}`", pair[0]);
            return Err(ConfigErrors(vec![ConfigError { variable: "RUSTCHAT_*", message }]));
        }
        let values = envy::prefixed(PREFIX)
            .from_iter(set)
            .map_err(|e| ConfigErrors(vec![ConfigError { variable: "RUSTCHAT_*", message: e.to_string() }]))?;
        Ok(Self { values, errors: Vec::new() })
    }

    pub fn fail(&mut self, variable: &Variable, message: impl Into<String>) {
        self.errors.push(ConfigError { variable: variable.name, message: message.into() });
    }

    /// The text set for `variable`, if any.
    pub fn raw(&self, variable: &Variable) -> Option<&str> {
        self.values.get(&variable.name[PREFIX.len()..].to_lowercase()).map(String::as_str)
    }

    /// The text set, or the table's default written out.
    pub fn text(&self, variable: &Variable) -> String {
        self.raw(variable).map_or_else(|| variable.default_text(), str::to_string)
    }

    /// A `Kind::Name`, checked against its length and character set.
    pub fn name_or(&mut self, variable: &Variable, default: impl FnOnce() -> String) -> String {
        let value = self.raw(variable).map_or_else(default, str::to_string);
        if let Kind::Name { max_len, chars, allowed } = variable.kind
            && (value.is_empty() || value.len() > max_len || !value.chars().all(allowed))
        {
            self.fail(variable, format!("expected 1-{max_len} characters of {chars}, got '{value}'"));
        }
        value
    }

    pub fn name(&mut self, variable: &Variable) -> String {
        self.name_or(variable, || variable.default_text())
    }

    /// A `Kind::Integer` within its range, converted to the setting's type.
    pub fn integer<T: TryFrom<i64> + Default>(&mut self, variable: &Variable) -> T {
        let default = match variable.default {
            DefaultValue::Integer(n) => n,
            _ => integer_range(variable).0,
        };
        let n = self.integer_in_range(variable, default);
        self.convert(variable, n)
    }

    /// A `Kind::Integer` whose default is worked out at start.
    pub fn integer_or<T: TryFrom<i64> + TryInto<i64> + Default>(&mut self, variable: &Variable, default: T) -> T {
        let Ok(default) = default.try_into() else { return T::default() };
        let n = self.integer_in_range(variable, default);
        self.convert(variable, n)
    }

    pub fn port(&mut self, variable: &Variable) -> u16 {
        let default = match variable.default {
            DefaultValue::Integer(n) => u16::try_from(n).unwrap_or_default(),
            _ => 0,
        };
        match self.trimmed(variable) {
            None => default,
            Some(text) => text.parse().unwrap_or_else(|_| {
                let message = format!("expected a port number from 0 to {}, got '{text}'", u16::MAX);
                self.fail(variable, message);
                default
            }),
        }
    }

    /// A `Kind::Duration`: a whole number of its unit, within its range.
    pub fn duration(&mut self, variable: &Variable) -> Duration {
        let DefaultValue::Duration(default) = variable.default else { return Duration::ZERO };
        let Kind::Duration { unit, .. } = variable.kind else { return default };
        let count = self.integer_in_range(variable, i64::try_from(unit.count(default)).unwrap_or(i64::MAX));
        unit.duration(u64::try_from(count).unwrap_or_default())
    }

    /// A `Kind::Choice`: the option named (in the table's spelling), or the table's default.
    pub fn choice(&mut self, variable: &Variable) -> &'static str {
        let default = match variable.default {
            DefaultValue::Text(text) => text,
            _ => "",
        };
        self.choice_or(variable, default)
    }

    /// A `Kind::Choice` whose default is worked out at start.
    pub fn choice_or(&mut self, variable: &Variable, default: &'static str) -> &'static str {
        let Kind::Choice(options) = variable.kind else { return default };
        let Some(text) = self.trimmed(variable) else { return default };
        match options.iter().find(|name| name.eq_ignore_ascii_case(&text)) {
            Some(name) => name,
            None => {
                self.fail(variable, format!("expected one of {}, got '{text}'", quoted(options.iter())));
                default
            }
        }
    }

    /// A `Kind::Bool` whose default is worked out at start.
    pub fn bool_or(&mut self, variable: &Variable, default: bool) -> bool {
        let Some(text) = self.trimmed(variable) else { return default };
        match BOOL_WORDS.iter().find(|(name, _)| name.eq_ignore_ascii_case(&text)) {
            Some((_, value)) => *value,
            None => {
                let message = format!("expected one of {}, got '{text}'", quoted(BOOL_WORDS.iter().map(|(n, _)| n)));
                self.fail(variable, message);
                default
            }
        }
    }

    fn trimmed(&self, variable: &Variable) -> Option<String> {
        self.raw(variable).map(|text| text.trim().to_string())
    }

    /// Parses the set text as an integer within the variable's range, or records the error the
    /// operator reads ("expected an integer from 1 to 256, got '0'") and keeps `default`.
    fn integer_in_range(&mut self, variable: &Variable, default: i64) -> i64 {
        let (min, max) = integer_range(variable);
        let Some(text) = self.trimmed(variable) else { return default };
        let expected = format!("an integer from {min} to {max}");
        match text.parse::<i64>() {
            Ok(n) if (min..=max).contains(&n) => n,
            Ok(n) => {
                self.fail(variable, format!("expected {expected}, got '{n}'"));
                default
            }
            Err(_) => {
                self.fail(variable, format!("expected {expected}, got '{text}'"));
                default
            }
        }
    }

    /// Converts an in-range value to the setting's type. Only a table whose range the type cannot
    /// hold fails here; that is reported like a value out of range rather than a panic at start.
    fn convert<T: TryFrom<i64> + Default>(&mut self, variable: &Variable, n: i64) -> T {
        T::try_from(n).unwrap_or_else(|_| {
            let (min, max) = integer_range(variable);
            self.fail(variable, format!("expected an integer from {min} to {max}, got '{n}'"));
            T::default()
        })
    }
}

/// The bounds of an integer or duration variable.
fn integer_range(variable: &Variable) -> (i64, i64) {
    match variable.kind {
        Kind::Integer { min, max } => (min, max),
        Kind::Duration { min, max, .. } => {
            (i64::try_from(min).unwrap_or(i64::MAX), i64::try_from(max).unwrap_or(i64::MAX))
        }
        _ => (i64::MIN, i64::MAX),
    }
}

fn quoted<'a>(names: impl Iterator<Item = &'a &'a str>) -> String {
    names.map(|n| format!("'{n}'")).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::super::variables::SERVER_PORT;
    use super::*;

    fn reader(vars: &[(&str, &str)]) -> Result<Reader, ConfigErrors> {
        let vars = vars.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        Reader::new(&Sources::collect(vars, None).unwrap())
    }

    #[test]
    fn a_name_binds_in_any_case_after_the_prefix_and_an_empty_value_is_unset() {
        let mut p = reader(&[("RUSTCHAT_Server_Port", "4000")]).unwrap();
        assert_eq!(p.port(&SERVER_PORT), 4000);
        let mut p = reader(&[("RUSTCHAT_SERVER_PORT", "")]).unwrap();
        assert_eq!(p.port(&SERVER_PORT), 3000);
        assert!(p.errors.is_empty());
    }

    #[test]
    fn one_variable_set_twice_in_different_cases_is_refused() {
        let Err(errors) = reader(&[("RUSTCHAT_SERVER_PORT", "1"), ("RUSTCHAT_server_port", "2")]) else {
            panic!("accepted")
        };
        assert_eq!(errors.0[0].message, "duplicate field `server_port`");
    }
}
