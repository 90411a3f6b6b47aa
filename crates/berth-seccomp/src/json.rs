//! Parsing `linux.seccomp` from JSON with errors that name the field.
//!
//! oci-spec parses the enums itself, but its message for an unknown value is
//! serde's (`unknown variant ..., expected one of ... at line 1 column 80`).
//! [`parse`] first walks the raw JSON and reports the exact path, then lets
//! oci-spec build the struct.

use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompFilterFlag, LinuxSeccompOperator,
};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::Error;

const ROOT: &str = "linux.seccomp";

/// Parses the JSON value of `linux.seccomp` (the object, not the whole
/// config), checking every enum-valued field first so that an unknown value
/// is reported as e.g. `linux.seccomp.syscalls[3].args[0].op: unknown
/// operator "SCMP_CMP_FOO"`. Does not compile; pass the result to
/// [`crate::compile`].
pub fn parse(value: &Value) -> Result<LinuxSeccomp, Error> {
    check_enums(value)?;
    serde_json::from_value(value.clone()).map_err(|source| Error::Json {
        field: ROOT.to_string(),
        source,
    })
}

/// [`parse`] from a string holding the `linux.seccomp` object.
pub fn parse_str(json: &str) -> Result<LinuxSeccomp, Error> {
    let value: Value = serde_json::from_str(json).map_err(|source| Error::Json {
        field: ROOT.to_string(),
        source,
    })?;
    parse(&value)
}

fn check_enums(v: &Value) -> Result<(), Error> {
    check_one::<LinuxSeccompAction>(v.get("defaultAction"), "defaultAction".into(), "action")?;
    for_each(v.get("architectures"), "architectures", |item, f| {
        check_one::<Arch>(Some(item), f, "architecture")
    })?;
    for_each(v.get("flags"), "flags", |item, f| {
        check_one::<LinuxSeccompFilterFlag>(Some(item), f, "flag")
    })?;
    for_each(v.get("syscalls"), "syscalls", |sc, f| {
        check_one::<LinuxSeccompAction>(sc.get("action"), format!("{f}.action"), "action")?;
        for_each(sc.get("args"), &format!("{f}.args"), |arg, f| {
            check_one::<LinuxSeccompOperator>(arg.get("op"), format!("{f}.op"), "operator")
        })
    })
}

/// Calls `check` on each element of an array field (path relative to ROOT
/// for the top level, absolute below).
fn for_each(
    v: Option<&Value>,
    field: &str,
    mut check: impl FnMut(&Value, String) -> Result<(), Error>,
) -> Result<(), Error> {
    let field = if field.starts_with(ROOT) {
        field.to_string()
    } else {
        format!("{ROOT}.{field}")
    };
    if let Some(Value::Array(items)) = v {
        for (i, item) in items.iter().enumerate() {
            check(item, format!("{field}[{i}]"))?;
        }
    }
    Ok(())
}

/// A string that must name a variant of `T`. Missing or non-string values
/// are left to oci-spec's parser.
fn check_one<T: DeserializeOwned>(
    v: Option<&Value>,
    field: String,
    kind: &'static str,
) -> Result<(), Error> {
    let field = if field.starts_with(ROOT) {
        field
    } else {
        format!("{ROOT}.{field}")
    };
    match v {
        Some(Value::String(s))
            if serde_json::from_value::<T>(Value::String(s.clone())).is_err() =>
        {
            Err(Error::UnknownValue {
                field,
                kind,
                value: s.clone(),
            })
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(json: &str) -> String {
        parse_str(json).unwrap_err().to_string()
    }

    #[test]
    fn unknown_values_name_their_field() {
        assert_eq!(
            err(r#"{"defaultAction":"SCMP_ACT_NOPE"}"#),
            r#"linux.seccomp.defaultAction: unknown action "SCMP_ACT_NOPE""#
        );
        assert_eq!(
            err(
                r#"{"defaultAction":"SCMP_ACT_ALLOW","flags":["SECCOMP_FILTER_FLAG_LOG","SECCOMP_FILTER_FLAG_BOGUS"]}"#
            ),
            r#"linux.seccomp.flags[1]: unknown flag "SECCOMP_FILTER_FLAG_BOGUS""#
        );
        assert_eq!(
            err(r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_VAX"]}"#),
            r#"linux.seccomp.architectures[0]: unknown architecture "SCMP_ARCH_VAX""#
        );
        let sc = r#"{"names":["read"],"action":"SCMP_ACT_ERRNO"}"#;
        let bad = r#"{"names":["read"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"value":1,"op":"SCMP_CMP_FOO"}]}"#;
        assert_eq!(
            err(&format!(
                r#"{{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{sc},{sc},{sc},{bad}]}}"#
            )),
            r#"linux.seccomp.syscalls[3].args[0].op: unknown operator "SCMP_CMP_FOO""#
        );
        assert_eq!(
            err(
                r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["x"],"action":"SCMP_ACT_FOO"}]}"#
            ),
            r#"linux.seccomp.syscalls[0].action: unknown action "SCMP_ACT_FOO""#
        );
    }

    #[test]
    fn shape_errors_come_from_oci_spec() {
        let e = parse_str(r#"{"syscalls":[]}"#).unwrap_err();
        assert!(matches!(e, Error::Json { .. }), "{e}");
        assert!(e.to_string().contains("defaultAction"), "{e}");
    }

    #[test]
    fn every_spec_constant_parses() {
        let spec = parse_str(
            r#"{"defaultAction":"SCMP_ACT_KILL_PROCESS",
                "architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86","SCMP_ARCH_X32"],
                "flags":["SECCOMP_FILTER_FLAG_TSYNC","SECCOMP_FILTER_FLAG_LOG",
                         "SECCOMP_FILTER_FLAG_SPEC_ALLOW","SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
                "syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW","args":[
                    {"index":0,"value":1,"op":"SCMP_CMP_NE"},{"index":1,"value":1,"op":"SCMP_CMP_LT"},
                    {"index":2,"value":1,"op":"SCMP_CMP_LE"},{"index":3,"value":1,"op":"SCMP_CMP_EQ"},
                    {"index":4,"value":1,"op":"SCMP_CMP_GE"},{"index":5,"value":1,"op":"SCMP_CMP_GT"}]},
                  {"names":["write"],"action":"SCMP_ACT_LOG","args":[
                    {"index":0,"value":1,"valueTwo":1,"op":"SCMP_CMP_MASKED_EQ"}]}]}"#,
        )
        .unwrap();
        assert_eq!(spec.flags().as_ref().unwrap().len(), 4);
    }
}
