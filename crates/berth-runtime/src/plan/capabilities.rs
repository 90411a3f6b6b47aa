//! The five capability sets of `process.capabilities`, as bit masks.

use std::str::FromStr;

use caps::Capability;
use oci_spec::runtime::{Capabilities, LinuxCapabilities};

use crate::{Error, Result};

/// The capability sets the process gets, as masks of `1 << CAP_*`; `None` leaves a set as
/// inherited.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CapsPlan {
    pub bounding: Option<u64>,
    pub effective: Option<u64>,
    pub inheritable: Option<u64>,
    pub permitted: Option<u64>,
    pub ambient: Option<u64>,
}

fn convert(field: &str, set: &Option<Capabilities>) -> Result<Option<u64>> {
    let Some(set) = set else { return Ok(None) };
    let mut mask = 0u64;
    for c in set {
        let name = format!("CAP_{c}");
        let cap = Capability::from_str(&name)
            .map_err(|_| Error::config(field, format!("unknown capability {name}")))?;
        mask |= cap.bitmask();
    }
    Ok(Some(mask))
}

/// Translates the spec's sets; `field` is the JSON path of the capabilities object.
pub fn plan(field: &str, c: Option<&LinuxCapabilities>) -> Result<CapsPlan> {
    let Some(c) = c else {
        return Ok(CapsPlan::default());
    };
    Ok(CapsPlan {
        bounding: convert(&format!("{field}.bounding"), c.bounding())?,
        effective: convert(&format!("{field}.effective"), c.effective())?,
        inheritable: convert(&format!("{field}.inheritable"), c.inheritable())?,
        permitted: convert(&format!("{field}.permitted"), c.permitted())?,
        ambient: convert(&format!("{field}.ambient"), c.ambient())?,
    })
}

/// The names of the capabilities in `mask`, in capability order (`CAP_KILL, CAP_SETUID`).
pub fn names(mask: u64) -> String {
    let mut all: Vec<Capability> = caps::all()
        .into_iter()
        .filter(|c| mask & c.bitmask() != 0)
        .collect();
    all.sort_by_key(|c| c.index());
    all.iter()
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

impl CapsPlan {
    /// Capabilities asked for that the `bounding` set (a mask) lacks: they cannot be granted.
    pub fn beyond(&self, bounding: u64) -> u64 {
        [self.bounding, self.permitted, self.effective]
            .into_iter()
            .flatten()
            .fold(0, |m, s| m | (s & !bounding))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn translates_and_reports_caps_beyond_bounding() {
        let c: LinuxCapabilities = serde_json::from_str(
            r#"{"bounding":["CAP_KILL","CAP_SYS_RESOURCE"],"permitted":["CAP_KILL"],"effective":["CAP_CHOWN"]}"#,
        )
        .unwrap();
        let p = plan("process.capabilities", Some(&c)).unwrap();
        assert_ne!(
            p.bounding.unwrap() & Capability::CAP_SYS_RESOURCE.bitmask(),
            0
        );
        assert!(p.ambient.is_none());
        let host = Capability::CAP_KILL.bitmask() | Capability::CAP_CHOWN.bitmask();
        assert_eq!(names(p.beyond(host)), "CAP_SYS_RESOURCE");
    }
}
