//! Unit properties from the spec's `org.systemd.property.<Name>`
//! annotations, as runc takes them: the value is written in GVariant's text
//! form (`true`, `'text'`, `['a', 'b']`, `uint64 5`, `@t 5`, `42`), and a
//! `...Sec` name (`TimeoutStopSec`) becomes the `...USec` property with the
//! value in microseconds.

use std::collections::HashMap;

use super::properties::{Property, Value};
use crate::error::{CgroupError, Result};

const PREFIX: &str = "org.systemd.property.";

/// The unit properties the annotations ask for, sorted by name.
pub fn properties_from_annotations(annotations: &HashMap<String, String>) -> Result<Vec<Property>> {
    let mut keys: Vec<&String> = annotations
        .keys()
        .filter(|k| k.starts_with(PREFIX))
        .collect();
    keys.sort();
    let mut out = Vec::new();
    for key in keys {
        let field = format!("annotations.{key}");
        let name = &key[PREFIX.len()..];
        if name.len() < 3 || !name.chars().all(|c| c.is_ascii_alphabetic()) {
            return Err(CgroupError::invalid(
                field,
                "a systemd property name is at least 3 latin letters",
            ));
        }
        let value = parse(&annotations[key]).map_err(|why| CgroupError::invalid(&field, why))?;
        let (name, value) = match name.strip_suffix("Sec") {
            Some(stem) if stem.ends_with(|c: char| c.is_ascii_lowercase()) => {
                let usec = seconds_to_usec(&value).ok_or_else(|| {
                    CgroupError::invalid(&field, "a ...Sec property takes a number")
                })?;
                (format!("{stem}USec"), Value::U64(usec))
            }
            _ => (name.to_string(), value),
        };
        out.push(Property {
            name: name.into(),
            value,
        });
    }
    Ok(out)
}

fn seconds_to_usec(v: &Value) -> Option<u64> {
    const M: u64 = 1_000_000;
    let secs = match *v {
        Value::Byte(n) => u64::from(n),
        Value::I16(n) => u64::try_from(n).ok()?,
        Value::U16(n) => u64::from(n),
        Value::I32(n) => u64::try_from(n).ok()?,
        Value::U32(n) => u64::from(n),
        Value::I64(n) => u64::try_from(n).ok()?,
        Value::U64(n) => n,
        Value::F64(f) if f >= 0.0 => return Some((f * M as f64) as u64),
        _ => return None,
    };
    secs.checked_mul(M)
}

/// Parses one value of GVariant's text format (the subset unit properties use).
pub fn parse(text: &str) -> std::result::Result<Value, String> {
    let t = text.trim();
    let (ty, rest) = match t.split_once(char::is_whitespace) {
        Some((ty, rest)) if is_type_word(ty) => (Some(ty), rest.trim()),
        _ => (None, t),
    };
    let num_err = |e: std::num::ParseIntError| format!("`{text}`: {e}");
    Ok(match ty {
        Some("uint64" | "@t") => Value::U64(rest.parse().map_err(num_err)?),
        Some("int64" | "@x") => Value::I64(rest.parse().map_err(num_err)?),
        Some("uint32" | "@u") => Value::U32(rest.parse().map_err(num_err)?),
        Some("int32" | "@i") => Value::I32(rest.parse().map_err(num_err)?),
        Some("uint16" | "@q") => Value::U16(rest.parse().map_err(num_err)?),
        Some("int16" | "@n") => Value::I16(rest.parse().map_err(num_err)?),
        Some("byte" | "@y") => Value::Byte(rest.parse().map_err(num_err)?),
        Some("double" | "@d") => Value::F64(
            rest.parse()
                .map_err(|_| format!("`{text}` is not a number"))?,
        ),
        Some("boolean" | "@b") => match rest {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => return Err(format!("`{text}` is not true or false")),
        },
        Some("@s") => Value::Str(string(rest)?),
        Some("@as") => Value::Strs(strings(rest)?),
        Some(other) => return Err(format!("type `{other}` is not supported")),
        None => match rest {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            s if s.starts_with(['\'', '"']) => Value::Str(string(s)?),
            "[]" => return Err("an empty array needs its type: `@as []`".into()),
            s if s.starts_with('[') => Value::Strs(strings(s)?),
            s => {
                if let Ok(n) = s.parse::<i32>() {
                    Value::I32(n)
                } else if let Ok(n) = s.parse::<i64>() {
                    Value::I64(n)
                } else if let Ok(f) = s.parse::<f64>() {
                    Value::F64(f)
                } else {
                    return Err(format!(
                        "`{text}` is not a GVariant value (strings need quotes)"
                    ));
                }
            }
        },
    })
}

fn is_type_word(w: &str) -> bool {
    matches!(
        w,
        "uint64"
            | "int64"
            | "uint32"
            | "int32"
            | "uint16"
            | "int16"
            | "byte"
            | "double"
            | "boolean"
    ) || (w.starts_with('@') && w.len() <= 3)
}

/// A quoted string, `'...'` or `"..."`, with backslash escapes.
fn string(s: &str) -> std::result::Result<String, String> {
    let (v, rest) = quoted(s)?;
    if !rest.trim().is_empty() {
        return Err(format!("unexpected `{rest}` after the string in `{s}`"));
    }
    Ok(v)
}

/// `['a', "b"]`
fn strings(s: &str) -> std::result::Result<Vec<String>, String> {
    let inner = s
        .strip_prefix('[')
        .and_then(|x| x.trim_end().strip_suffix(']'))
        .ok_or_else(|| format!("`{s}` is not an array"))?;
    let mut out = Vec::new();
    let mut rest = inner.trim();
    while !rest.is_empty() {
        let (v, after) = quoted(rest)?;
        out.push(v);
        rest = after.trim_start();
        rest = match rest.strip_prefix(',') {
            Some(r) => r.trim_start(),
            None if rest.is_empty() => rest,
            None => return Err(format!("expected `,` in `{s}`")),
        };
    }
    Ok(out)
}

/// The quoted string at the start of `s` and what follows it.
fn quoted(s: &str) -> std::result::Result<(String, &str), String> {
    let mut chars = s.char_indices();
    let q = match chars.next() {
        Some((_, c @ ('\'' | '"'))) => c,
        _ => return Err(format!("`{s}` is not a quoted string")),
    };
    let mut out = String::new();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, 'n')) => out.push('\n'),
                Some((_, 't')) => out.push('\t'),
                Some((_, e)) => out.push(e),
                None => break,
            },
            c if c == q => return Ok((out, &s[i + 1..])),
            c => out.push(c),
        }
    }
    Err(format!("unterminated string in `{s}`"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ann(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn gvariant_values() {
        assert_eq!(parse("true"), Ok(Value::Bool(true)));
        assert_eq!(
            parse("'inactive-or-failed'"),
            Ok(Value::Str("inactive-or-failed".into()))
        );
        assert_eq!(parse(r#""a \"b\"""#), Ok(Value::Str("a \"b\"".into())));
        assert_eq!(parse("uint64 123"), Ok(Value::U64(123)));
        assert_eq!(parse("@t 5"), Ok(Value::U64(5)));
        assert_eq!(parse("uint32 7"), Ok(Value::U32(7)));
        assert_eq!(parse("42"), Ok(Value::I32(42)));
        assert_eq!(parse("5000000000"), Ok(Value::I64(5_000_000_000)));
        assert_eq!(parse("1.5"), Ok(Value::F64(1.5)));
        assert_eq!(
            parse("['a.service', \"b.socket\"]"),
            Ok(Value::Strs(vec!["a.service".into(), "b.socket".into()]))
        );
        assert_eq!(parse("@as []"), Ok(Value::Strs(vec![])));
        for bad in [
            "",
            "bare",
            "[]",
            "['a' 'b']",
            "'open",
            "uint64 -1",
            "@v 1",
            "boolean yes",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sec_becomes_usec() {
        let p = properties_from_annotations(&ann(&[
            ("org.systemd.property.TimeoutStopSec", "uint64 5"),
            ("org.systemd.property.RuntimeMaxSec", "1.5"),
            ("org.systemd.property.CollectMode", "'inactive-or-failed'"),
            ("org.systemd.property.After", "['a.service']"),
            ("io.kubernetes.other", "ignored"),
        ]))
        .unwrap();
        let got: Vec<(&str, &Value)> = p.iter().map(|p| (p.name.as_ref(), &p.value)).collect();
        assert_eq!(
            got,
            [
                ("After", &Value::Strs(vec!["a.service".into()])),
                ("CollectMode", &Value::Str("inactive-or-failed".into())),
                ("RuntimeMaxUSec", &Value::U64(1_500_000)),
                ("TimeoutStopUSec", &Value::U64(5_000_000)),
            ]
        );
    }

    #[test]
    fn bad_annotations_name_the_key() {
        for (k, v) in [
            ("org.systemd.property.Ab", "1"),
            ("org.systemd.property.Memory_Max", "1"),
            ("org.systemd.property.TimeoutStopSec", "'x'"),
            ("org.systemd.property.Description", "unquoted"),
        ] {
            let e = properties_from_annotations(&ann(&[(k, v)])).unwrap_err();
            assert!(e.to_string().contains(k), "{e}");
        }
    }
}
