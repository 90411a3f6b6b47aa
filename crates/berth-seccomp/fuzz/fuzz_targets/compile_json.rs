//! Arbitrary bytes as `linux.seccomp` JSON: parsing and compiling must never
//! panic, and whatever compiles must be a program the kernel would accept
//! and that returns for any input.
#![no_main]

use berth_seccomp::{bpf, SeccompData, AUDIT_ARCH_I386, AUDIT_ARCH_X86_64, X32_SYSCALL_BIT};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(spec) = berth_seccomp::parse_str(text) else {
        return;
    };
    let Ok(filter) = berth_seccomp::compile(&spec) else {
        return;
    };
    bpf::check(filter.program()).expect("compile() produced a program the kernel rejects");
    let probes = [
        (AUDIT_ARCH_X86_64, 0),
        (AUDIT_ARCH_X86_64, 59),
        (AUDIT_ARCH_X86_64, X32_SYSCALL_BIT | 1),
        (AUDIT_ARCH_I386, 3),
        (0xC000_00B7, 63),
    ];
    for (arch, nr) in probes {
        for arg in [0, 1, u32::MAX as u64, u64::MAX] {
            filter.evaluate(&SeccompData {
                nr: nr as i32,
                arch,
                instruction_pointer: 0,
                args: [arg; 6],
            });
        }
    }
});
