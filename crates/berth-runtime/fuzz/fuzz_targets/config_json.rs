//! Arbitrary bytes as config.json: parsing and planning must return a value or an error,
//! never panic, whatever the numbers, paths and combinations.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

fn bundle() -> &'static PathBuf {
    static B: OnceLock<PathBuf> = OnceLock::new();
    B.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("berth-fuzz-bundle-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("rootfs")).expect("bundle");
        dir
    })
}

fuzz_target!(|data: &[u8]| {
    if let Ok((spec, _unknown)) = berth_runtime::plan::spec::parse_reporting(data) {
        let host = berth_runtime::plan::HostFacts::probe();
        let inputs = berth_runtime::plan::PlanInputs {
            id: "fuzz",
            bundle: bundle(),
            no_pivot: false,
            no_new_keyring: false,
            preserve_fds: 0,
            systemd_cgroup: false,
            host: &host,
        };
        let _ = berth_runtime::plan::build(spec, inputs);
    }
});
