//! The five capability sets of `process.capabilities`, and applying them.

use std::str::FromStr;

use caps::{CapSet, Capability, CapsHashSet};
use oci_spec::runtime::{Capabilities, LinuxCapabilities};

use crate::{Error, Result};

/// The capability sets the process gets; `None` leaves a set as inherited.
#[derive(Debug, Clone, Default)]
pub struct CapsPlan {
    pub bounding: Option<CapsHashSet>,
    pub effective: Option<CapsHashSet>,
    pub inheritable: Option<CapsHashSet>,
    pub permitted: Option<CapsHashSet>,
    pub ambient: Option<CapsHashSet>,
}

fn convert(field: &str, set: &Option<Capabilities>) -> Result<Option<CapsHashSet>> {
    let Some(set) = set else { return Ok(None) };
    let mut out = CapsHashSet::new();
    for c in set {
        let name = format!("CAP_{c}");
        let cap = Capability::from_str(&name)
            .map_err(|_| Error::config(field, format!("unknown capability {name}")))?;
        out.insert(cap);
    }
    Ok(Some(out))
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

impl CapsPlan {
    /// Capabilities asked for that the current bounding set lacks: they cannot be granted.
    pub fn beyond(&self, bounding: &CapsHashSet) -> Vec<Capability> {
        let mut out: Vec<Capability> = [&self.bounding, &self.permitted, &self.effective]
            .into_iter()
            .flatten()
            .flat_map(|s| s.iter().copied())
            .filter(|c| !bounding.contains(c))
            .collect();
        out.sort_by_key(|c| c.index());
        out.dedup();
        out
    }

    /// Drops everything outside the bounding set. Needs CAP_SETPCAP, so it runs while the
    /// process still has its full sets, before the uid change.
    pub fn apply_bounding(&self) -> Result<()> {
        if let Some(b) = &self.bounding {
            let current = caps::read(None, CapSet::Bounding).unwrap_or_default();
            for c in current.difference(b) {
                caps::drop(None, CapSet::Bounding, *c)
                    .map_err(|e| Error::Other(format!("drop {c} from the bounding set: {e}")))?;
            }
        }
        Ok(())
    }

    /// Sets the other four sets; called after the uid change (with keep-caps on).
    /// Permitted, effective and inheritable go in one `capset`, so no intermediate state
    /// has to be valid on its own.
    pub fn apply_sets(&self) -> Result<()> {
        let read = |which| caps::read(None, which).unwrap_or_default();
        let mask = |s: &CapsHashSet| s.iter().fold(0u64, |m, c| m | c.bitmask());
        let permitted = mask(self.permitted.as_ref().unwrap_or(&read(CapSet::Permitted)));
        let effective = mask(self.effective.as_ref().unwrap_or(&read(CapSet::Effective)));
        let inheritable = mask(
            self.inheritable
                .as_ref()
                .unwrap_or(&read(CapSet::Inheritable)),
        );
        capset(permitted, effective, inheritable)?;
        if let Some(a) = &self.ambient {
            caps::clear(None, CapSet::Ambient)
                .map_err(|e| Error::Other(format!("clear the ambient capabilities: {e}")))?;
            for c in a {
                // Raising an ambient capability that is not both permitted and inheritable
                // fails; runc ignores those, and so does berth.
                let _ = caps::raise(None, CapSet::Ambient, *c);
            }
        }
        Ok(())
    }
}

/// `capset(2)` of the calling thread with 64-bit masks.
fn capset(permitted: u64, effective: u64, inheritable: u64) -> Result<()> {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    let mut hdr = Header {
        version: 0x20080522,
        pid: 0,
    };
    let data = [
        Data {
            effective: effective as u32,
            permitted: permitted as u32,
            inheritable: inheritable as u32,
        },
        Data {
            effective: (effective >> 32) as u32,
            permitted: (permitted >> 32) as u32,
            inheritable: (inheritable >> 32) as u32,
        },
    ];
    // SAFETY: header and a two-element data array in the layout of _LINUX_CAPABILITY_VERSION_3.
    let r = unsafe { libc::syscall(libc::SYS_capset, &mut hdr as *mut Header, data.as_ptr()) };
    if r != 0 {
        let e = nix::errno::Errno::last();
        return Err(Error::Other(format!(
            "set capabilities (permitted {permitted:#x}, effective {effective:#x}, inheritable {inheritable:#x}): {e}"
        )));
    }
    Ok(())
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
        assert!(p
            .bounding
            .as_ref()
            .unwrap()
            .contains(&Capability::CAP_SYS_RESOURCE));
        assert!(p.ambient.is_none());
        let host: CapsHashSet = [Capability::CAP_KILL, Capability::CAP_CHOWN]
            .into_iter()
            .collect();
        assert_eq!(p.beyond(&host), vec![Capability::CAP_SYS_RESOURCE]);
    }
}
