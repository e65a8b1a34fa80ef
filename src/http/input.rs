//! The one check every text from a client passes before a handler sees it: no NUL character.
//! PostgreSQL cannot store U+0000 in `text` (SQLite can, so the backends would differ), and no name,
//! message, query or setting needs one. Request bodies ([`super::json::Json`]), query strings and path
//! parameters ([`super::params`]) are all deserialized through [`deserialize`], which refuses any string
//! holding one — a value or a key, at any depth — and tracks the field it was in for the error.
//! It also refuses a struct written as a JSON array (serde would fill fields by position, so `[null]`
//! would pass for `{}`): a client's record is an object.
//! `clippy.toml` forbids actix's own extractors, so a new handler cannot go around it.

use std::cell::Cell;
use std::fmt;

use serde::de::{self, Deserialize, DeserializeSeed, Deserializer, Visitor};

/// What the error says after the field's name.
pub const NUL_REFUSED: &str = "must not contain the NUL character (\\u0000)";

/// A value that did not deserialize.
pub struct Refused<E> {
    /// Where: `site_name`, `user_ids[2]`, `.` for the whole value.
    pub path: serde_path_to_error::Path,
    pub error: E,
    /// The value held a NUL character (then `error` says only [`NUL_REFUSED`]).
    pub nul: bool,
}

impl<E: fmt::Display> Refused<E> {
    /// `field: what is wrong`, as the error answer says it. A key is named by where it is (its own
    /// text may be what is wrong with it).
    pub fn message(&self) -> String {
        let what = if self.nul { NUL_REFUSED.to_string() } else { self.error.to_string() };
        let path = self.path.to_string();
        match path.strip_suffix('?') {
            _ if path == "." => what,
            Some("") => format!("key: {what}"),
            Some(parent) => format!("{} key: {what}", parent.trim_end_matches('.')),
            None => format!("{path}: {what}"),
        }
    }
}

/// Deserializes a `T` from `de`, refusing every string that holds a NUL character.
pub fn deserialize<'de, T, D>(de: D) -> Result<T, Refused<D::Error>>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    let found = Cell::new(false);
    let mut track = serde_path_to_error::Track::new();
    let result = T::deserialize(serde_path_to_error::Deserializer::new(Guard { inner: de, found: &found }, &mut track));
    result.map_err(|error| Refused { path: track.path(), error, nul: found.get() })
}

/// A deserializer that hands every visitor a [`GuardVisitor`], and so sees every string.
struct Guard<'f, D> {
    inner: D,
    found: &'f Cell<bool>,
}

/// A visitor that refuses NUL in strings and keeps guarding what it is handed to walk into.
struct GuardVisitor<'f, V> {
    inner: V,
    found: &'f Cell<bool>,
    /// Visiting a struct: fields come by name only.
    object: bool,
}

struct GuardSeed<'f, S> {
    inner: S,
    found: &'f Cell<bool>,
}

struct GuardAccess<'f, A> {
    inner: A,
    found: &'f Cell<bool>,
}

impl<'f, V> GuardVisitor<'f, V> {
    fn refuse<E: de::Error>(&self) -> E {
        self.found.set(true);
        E::custom(NUL_REFUSED)
    }
}

macro_rules! forward_deserialize {
    ($($method:ident $(($($arg:ident: $ty:ty),*))?;)*) => {$(
        fn $method<V: Visitor<'de>>(self, $($($arg: $ty,)*)? visitor: V) -> Result<V::Value, D::Error> {
            self.inner.$method($($($arg,)*)? GuardVisitor { inner: visitor, found: self.found, object: false })
        }
    )*};
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Guard<'_, D> {
    type Error = D::Error;

    forward_deserialize! {
        deserialize_any; deserialize_bool; deserialize_i8; deserialize_i16; deserialize_i32; deserialize_i64;
        deserialize_i128; deserialize_u8; deserialize_u16; deserialize_u32; deserialize_u64; deserialize_u128;
        deserialize_f32; deserialize_f64; deserialize_char; deserialize_str; deserialize_string;
        deserialize_bytes; deserialize_byte_buf; deserialize_option; deserialize_unit;
        deserialize_unit_struct(name: &'static str);
        deserialize_newtype_struct(name: &'static str);
        deserialize_seq;
        deserialize_tuple(len: usize);
        deserialize_tuple_struct(name: &'static str, len: usize);
        deserialize_map;
        deserialize_enum(name: &'static str, variants: &'static [&'static str]);
        deserialize_identifier; deserialize_ignored_any;
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.inner.deserialize_struct(name, fields, GuardVisitor { inner: visitor, found: self.found, object: true })
    }

    fn is_human_readable(&self) -> bool {
        self.inner.is_human_readable()
    }
}

macro_rules! forward_visit {
    ($($method:ident($ty:ty);)*) => {$(
        fn $method<E: de::Error>(self, v: $ty) -> Result<Self::Value, E> {
            self.inner.$method(v)
        }
    )*};
}

impl<'de, V: Visitor<'de>> Visitor<'de> for GuardVisitor<'_, V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.expecting(f)
    }

    forward_visit! {
        visit_bool(bool); visit_i8(i8); visit_i16(i16); visit_i32(i32); visit_i64(i64); visit_i128(i128);
        visit_u8(u8); visit_u16(u16); visit_u32(u32); visit_u64(u64); visit_u128(u128);
        visit_f32(f32); visit_f64(f64);
    }

    fn visit_char<E: de::Error>(self, v: char) -> Result<V::Value, E> {
        if v == '\0' { Err(self.refuse()) } else { self.inner.visit_char(v) }
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<V::Value, E> {
        if v.contains('\0') { Err(self.refuse()) } else { self.inner.visit_str(v) }
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<V::Value, E> {
        if v.contains('\0') { Err(self.refuse()) } else { self.inner.visit_borrowed_str(v) }
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<V::Value, E> {
        if v.contains('\0') { Err(self.refuse()) } else { self.inner.visit_string(v) }
    }

    // A visitor may take bytes for a string (`String` accepts UTF-8 bytes).
    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<V::Value, E> {
        if v.contains(&0) { Err(self.refuse()) } else { self.inner.visit_bytes(v) }
    }

    fn visit_borrowed_bytes<E: de::Error>(self, v: &'de [u8]) -> Result<V::Value, E> {
        if v.contains(&0) { Err(self.refuse()) } else { self.inner.visit_borrowed_bytes(v) }
    }

    fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<V::Value, E> {
        if v.contains(&0) { Err(self.refuse()) } else { self.inner.visit_byte_buf(v) }
    }

    fn visit_none<E: de::Error>(self) -> Result<V::Value, E> {
        self.inner.visit_none()
    }

    fn visit_unit<E: de::Error>(self) -> Result<V::Value, E> {
        self.inner.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
        self.inner.visit_some(Guard { inner: d, found: self.found })
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
        self.inner.visit_newtype_struct(Guard { inner: d, found: self.found })
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
        if self.object {
            return Err(de::Error::invalid_type(de::Unexpected::Seq, &"an object"));
        }
        self.inner.visit_seq(GuardAccess { inner: seq, found: self.found })
    }

    fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        self.inner.visit_map(GuardAccess { inner: map, found: self.found })
    }

    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<V::Value, A::Error> {
        self.inner.visit_enum(GuardAccess { inner: data, found: self.found })
    }
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for GuardSeed<'_, S> {
    type Value = S::Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<S::Value, D::Error> {
        self.inner.deserialize(Guard { inner: d, found: self.found })
    }
}

impl<'de, A: de::SeqAccess<'de>> de::SeqAccess<'de> for GuardAccess<'_, A> {
    type Error = A::Error;

    fn next_element_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<Option<S::Value>, A::Error> {
        self.inner.next_element_seed(GuardSeed { inner: seed, found: self.found })
    }

    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint()
    }
}

impl<'de, A: de::MapAccess<'de>> de::MapAccess<'de> for GuardAccess<'_, A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, A::Error> {
        self.inner.next_key_seed(GuardSeed { inner: seed, found: self.found })
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, A::Error> {
        self.inner.next_value_seed(GuardSeed { inner: seed, found: self.found })
    }

    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint()
    }
}

impl<'de, 'f, A: de::EnumAccess<'de>> de::EnumAccess<'de> for GuardAccess<'f, A> {
    type Error = A::Error;
    type Variant = GuardAccess<'f, A::Variant>;

    fn variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<(S::Value, Self::Variant), A::Error> {
        let found = self.found;
        let (value, variant) = self.inner.variant_seed(GuardSeed { inner: seed, found })?;
        Ok((value, GuardAccess { inner: variant, found }))
    }
}

impl<'de, A: de::VariantAccess<'de>> de::VariantAccess<'de> for GuardAccess<'_, A> {
    type Error = A::Error;

    fn unit_variant(self) -> Result<(), A::Error> {
        self.inner.unit_variant()
    }

    fn newtype_variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<S::Value, A::Error> {
        self.inner.newtype_variant_seed(GuardSeed { inner: seed, found: self.found })
    }

    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, A::Error> {
        self.inner.tuple_variant(len, GuardVisitor { inner: visitor, found: self.found, object: false })
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, A::Error> {
        self.inner.struct_variant(fields, GuardVisitor { inner: visitor, found: self.found, object: true })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use serde_json::{Value, json};

    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Form {
        name: String,
        tags: Vec<String>,
        nested: Option<Inner>,
        kind: Option<Kind>,
        extra: HashMap<String, u32>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        note: String,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(rename_all = "snake_case")]
    #[allow(dead_code)]
    enum Kind {
        Plain,
        Named(String),
        Pair { left: String },
    }

    fn parse<T: for<'de> serde::Deserialize<'de>>(text: &str) -> Result<T, (String, String, bool)> {
        let mut de = serde_json::Deserializer::from_str(text);
        deserialize(&mut de).map_err(|r| (r.path.to_string(), r.error.to_string(), r.nul))
    }

    #[test]
    fn a_nul_anywhere_is_refused_with_the_field_it_was_in() {
        let ok = json!({"name": "n", "tags": [], "nested": null, "kind": null, "extra": {}});
        let cases = [
            ("name", json!("a\u{0}")),
            ("tags[1]", json!(["x", "\u{0}"])),
            ("nested.note", json!({"note": "\u{0}b"})),
            ("kind.named", json!({"named": "x\u{0}"})),
            ("kind.pair.left", json!({"pair": {"left": "\u{0}"}})),
        ];
        for (path, value) in cases {
            let mut body = ok.clone();
            let field = path.split(['.', '[']).next().unwrap();
            body[field] = value;
            let (at, message, nul) = parse::<Form>(&body.to_string()).expect_err(path);
            assert_eq!(at, path);
            assert!(nul, "{path}");
            assert!(message.starts_with(NUL_REFUSED), "{path}: {message}");
        }
        let mut keyed = ok.clone();
        keyed["extra"] = json!({"k\u{0}": 1});
        let text = keyed.to_string();
        let mut de = serde_json::Deserializer::from_str(&text);
        let refused = deserialize::<Form, _>(&mut de).unwrap_err();
        assert!(refused.nul);
        assert_eq!(refused.message(), format!("extra key: {NUL_REFUSED}"));
        assert!(parse::<Form>(&ok.to_string()).is_ok());
    }

    #[test]
    fn untyped_documents_are_guarded_too() {
        let (at, _, nul) = parse::<Value>(r#"{"a":{"b":["ok","x\u0000"]}}"#).unwrap_err();
        assert_eq!((at.as_str(), nul), ("a.b[1]", true));
        let (_, _, nul) = parse::<serde_json::Map<String, Value>>(r#"{"\u0000":1}"#).unwrap_err();
        assert!(nul);
    }

    #[test]
    fn a_struct_is_an_object_never_an_array() {
        let (at, message, nul) = parse::<Inner>(r#"["x"]"#).unwrap_err();
        assert_eq!((at.as_str(), nul), (".", false));
        assert!(message.contains("expected an object"), "{message}");
        let (at, _, _) = parse::<Form>(r#"{"name":"n","tags":[],"nested":[null],"extra":{}}"#).unwrap_err();
        assert_eq!(at, "nested");
        assert_eq!(parse::<Inner>(r#"{"note":"x"}"#).unwrap().note, "x");
        assert_eq!(parse::<(u8, String)>(r#"[1,"a"]"#).unwrap(), (1, "a".to_string()));
    }

    #[test]
    fn other_errors_are_not_taken_for_a_nul() {
        let (at, message, nul) = parse::<Form>(r#"{"name": 5}"#).unwrap_err();
        assert_eq!((at.as_str(), nul), ("name", false), "{message}");
        // An escaped backslash before "u0000" is six ordinary characters.
        let v: Value = parse(r#"{"a":"\\u0000"}"#).unwrap();
        assert_eq!(v["a"], "\\u0000");
    }
}
