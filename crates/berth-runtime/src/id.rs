//! Container id validation.

use crate::{Error, Result};

/// Longest id accepted: ids become file names under the state root.
const MAX_ID_LEN: usize = 1024;

/// Checks that `id` is usable as a single path component under the state root.
///
/// Accepts what runc accepts: letters, digits and `_ + - .`, but neither `.` nor `..` alone.
pub fn validate(id: &str) -> Result<()> {
    let bad = |msg| {
        Err(Error::InvalidId {
            id: id.to_string(),
            msg,
        })
    };
    if id.is_empty() {
        return bad("id must not be empty");
    }
    if id.len() > MAX_ID_LEN {
        return bad("id is too long");
    }
    if id == "." || id == ".." {
        return bad("id must not be `.` or `..`");
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'+' | b'-' | b'.'))
    {
        return bad("only letters, digits and `_ + - .` are allowed");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::validate;

    #[test]
    fn accepts_usual_ids() {
        for id in ["a", "abc-123", "x.y_z+1", "0123456789abcdef", "..a", "a.."] {
            validate(id).unwrap_or_else(|e| panic!("{id}: {e}"));
        }
    }

    #[test]
    fn rejects_path_like_and_empty_ids() {
        for id in [
            "", ".", "..", "a/b", "/x", "../x", "a b", "a\0b", "é", "a\nb",
        ] {
            assert!(validate(id).is_err(), "{id:?} accepted");
        }
        assert!(validate(&"a".repeat(1025)).is_err());
    }
}
