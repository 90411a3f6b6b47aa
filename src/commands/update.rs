//! `berth update`: runc's flags, or a LinuxResources JSON with `--resources` (as podman
//! sends it).

use std::io::Read;

use anyhow::Context;
use berth_runtime::Runtime;
use oci_spec::runtime::LinuxResources;

use crate::cli::UpdateArgs;

pub fn run(rt: &Runtime, a: UpdateArgs) -> anyhow::Result<i32> {
    let resources: LinuxResources = match &a.resources {
        Some(src) => {
            let mut raw = Vec::new();
            if src == "-" {
                std::io::stdin().read_to_end(&mut raw)?;
            } else {
                raw = std::fs::read(src).with_context(|| format!("read --resources {src}"))?;
            }
            serde_json::from_slice(&raw).with_context(|| format!("parse --resources {src}"))?
        }
        None => a.resources_from_flags()?,
    };
    rt.load_locked(&a.id)?.update(resources)?;
    Ok(0)
}
