//! `berth features`.

pub fn run() -> anyhow::Result<i32> {
    let doc = berth_runtime::features::document(
        berth_runtime::cgroups::features(),
        serde_json::json!({ "enabled": false }),
    );
    println!("{}", serde_json::to_string_pretty(&doc)?);
    Ok(0)
}
