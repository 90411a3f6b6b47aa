//! `berth spec`: write a default config.json.

use std::path::Path;

pub fn run(bundle: &Path, rootless: bool) -> anyhow::Result<i32> {
    let path = bundle.join("config.json");
    if path.exists() {
        anyhow::bail!("File {} exists. Remove it first", path.display());
    }
    let spec = berth_runtime::plan::spec::default_spec(rootless);
    std::fs::write(&path, serde_json::to_string_pretty(&spec)?)?;
    Ok(0)
}
