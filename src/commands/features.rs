//! `berth features`.

pub fn run() -> anyhow::Result<i32> {
    let doc = berth_runtime::features::document(
        berth_runtime::cgroups::features(),
        berth_runtime::features::seccomp(),
    );
    println!("{}", serde_json::to_string_pretty(&doc)?);
    Ok(0)
}
