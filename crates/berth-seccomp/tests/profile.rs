//! Docker's and podman's default profiles, compiled and queried.
//!
//! Those files are not OCI `linux.seccomp` objects: they carry `archMap` and
//! per-rule `includes`/`excludes` (capabilities, arches, kernel versions)
//! that the engine resolves before writing config.json. oci-spec's
//! `LinuxSeccomp` ignores those unknown fields and parses them anyway, which
//! would apply capability-gated rules unconditionally, so the tests first
//! resolve them the way an engine does for a container without extra caps.

use std::path::Path;

use berth_seccomp::{Abi, SeccompData, AUDIT_ARCH_I386, AUDIT_ARCH_X86_64, X32_SYSCALL_BIT};
use serde_json::Value;

const PODMAN: &str = "/usr/share/containers/seccomp.json";
const DOCKER: &str = "/usr/share/gocode/src/github.com/docker/docker/profiles/seccomp/default.json";

/// Capabilities of a default Docker/podman container.
const DEFAULT_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// The engine's profile; `None` (a failure in strict mode) when it is not installed.
fn load(path: &str) -> Option<Value> {
    if !Path::new(path).exists() {
        crate::strict::cannot_run(&format!("{path} not installed (`make setup` installs it)"));
        return None;
    }
    Some(serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap())
}

/// Resolves an engine profile with the crate's resolver.
fn to_oci(profile: &Value, caps: &[&str]) -> Value {
    berth_seccomp::engine::resolve(profile, caps).expect("an engine profile")
}

fn verdict(filter: &berth_seccomp::Filter, abi: Abi, name: &str, args: [u64; 6]) -> u32 {
    let nr = abi
        .syscall_number(name)
        .unwrap_or_else(|| panic!("{name} on {abi:?}"));
    filter.evaluate(&SeccompData {
        nr: nr as i32,
        arch: abi.audit_arch(),
        instruction_pointer: 0,
        args,
    })
}

const ALLOW: u32 = libc::SECCOMP_RET_ALLOW;
fn errno(e: i32) -> u32 {
    libc::SECCOMP_RET_ERRNO | e as u32
}

#[test]
fn docker_default_profile() {
    let Some(profile) = load(DOCKER) else { return };
    let spec = berth_seccomp::parse(&to_oci(&profile, DEFAULT_CAPS)).unwrap();
    let f = berth_seccomp::compile(&spec).unwrap();
    eprintln!("docker profile: {f:?}");
    let eperm = errno(libc::EPERM);
    for abi in [Abi::X86_64, Abi::X32, Abi::I386] {
        for name in ["read", "write", "openat", "execve", "exit_group"] {
            assert_eq!(verdict(&f, abi, name, [0; 6]), ALLOW, "{abi:?} {name}");
        }
        for name in [
            "unshare",
            "mount",
            "keyctl",
            "setns",
            "bpf",
            "kexec_load",
            "init_module",
        ] {
            assert_eq!(verdict(&f, abi, name, [0; 6]), eperm, "{abi:?} {name}");
        }
        // personality: a few exact values only; 0xffffffff queries.
        assert_eq!(
            verdict(&f, abi, "personality", [0xffff_ffff, 0, 0, 0, 0, 0]),
            ALLOW
        );
        assert_eq!(verdict(&f, abi, "personality", [8, 0, 0, 0, 0, 0]), ALLOW);
        assert_eq!(
            verdict(&f, abi, "personality", [0x0040_0000, 0, 0, 0, 0, 0]),
            eperm
        );
    }
    // clone: no namespace flags without CAP_SYS_ADMIN.
    let clone = |flags| verdict(&f, Abi::X86_64, "clone", [flags, 0, 0, 0, 0, 0]);
    assert_eq!(clone(libc::SIGCHLD as u64 | libc::CLONE_VM as u64), ALLOW);
    assert_eq!(clone(libc::CLONE_NEWUSER as u64), eperm);
    assert_eq!(
        clone(libc::CLONE_NEWNS as u64 | libc::SIGCHLD as u64),
        eperm
    );
    // Foreign ABIs are killed.
    let arm = SeccompData {
        nr: 63,
        arch: 0xC000_00B7,
        ..Default::default()
    };
    assert_eq!(f.evaluate(&arm), berth_seccomp::BAD_ARCH_ACTION);

    // With CAP_SYS_ADMIN, mount and namespace clones are allowed.
    let mut caps = DEFAULT_CAPS.to_vec();
    caps.push("CAP_SYS_ADMIN");
    let spec = berth_seccomp::parse(&to_oci(&profile, &caps)).unwrap();
    let f = berth_seccomp::compile(&spec).unwrap();
    assert_eq!(verdict(&f, Abi::X86_64, "mount", [0; 6]), ALLOW);
    assert_eq!(
        verdict(
            &f,
            Abi::X86_64,
            "clone",
            [libc::CLONE_NEWUSER as u64, 0, 0, 0, 0, 0]
        ),
        ALLOW
    );
}

#[test]
fn podman_default_profile() {
    let Some(profile) = load(PODMAN) else { return };
    let spec = berth_seccomp::parse(&to_oci(&profile, DEFAULT_CAPS)).unwrap();
    let f = berth_seccomp::compile(&spec).unwrap();
    eprintln!("podman profile: {f:?}");
    // podman's default is ENOSYS and it leaves namespace/mount calls to
    // the capability checks, so they are allowed here.
    for name in ["read", "write", "unshare", "mount", "keyctl"] {
        assert_eq!(verdict(&f, Abi::X86_64, name, [0; 6]), ALLOW, "{name}");
    }
    for name in [
        "kexec_load",
        "vmsplice",
        "userfaultfd",
        "bpf",
        "setns",
        "init_module",
    ] {
        assert_eq!(
            verdict(&f, Abi::X86_64, name, [0; 6]),
            errno(libc::EPERM),
            "{name}"
        );
    }
    // Not named anywhere: the default, ENOSYS.
    let unknown = SeccompData {
        nr: 1000,
        arch: AUDIT_ARCH_X86_64,
        ..Default::default()
    };
    assert_eq!(f.evaluate(&unknown), errno(libc::ENOSYS));
    assert_eq!(
        verdict(&f, Abi::X86_64, "socket", [16, 3, 9, 0, 0, 0]),
        ALLOW
    );
    // i386 and x32 calls are filtered with their own numbers.
    let i386_read = SeccompData {
        nr: 3,
        arch: AUDIT_ARCH_I386,
        ..Default::default()
    };
    assert_eq!(f.evaluate(&i386_read), ALLOW);
    let x32_vmsplice = Abi::X32.syscall_number("vmsplice").unwrap();
    assert!(x32_vmsplice & X32_SYSCALL_BIT != 0);
    assert_eq!(
        verdict(&f, Abi::X32, "vmsplice", [0; 6]),
        errno(libc::EPERM)
    );

    // Without CAP_AUDIT_WRITE, socket(AF_NETLINK, _, NETLINK_AUDIT) is
    // refused with EINVAL: an ERRNO rule and three conditional ALLOWs.
    let caps: Vec<&str> = DEFAULT_CAPS
        .iter()
        .copied()
        .filter(|c| *c != "CAP_AUDIT_WRITE")
        .collect();
    let f =
        berth_seccomp::compile(&berth_seccomp::parse(&to_oci(&profile, &caps)).unwrap()).unwrap();
    assert_eq!(
        verdict(&f, Abi::X86_64, "socket", [16, 3, 9, 0, 0, 0]),
        errno(libc::EINVAL)
    );
    assert_eq!(
        verdict(&f, Abi::X86_64, "socket", [16, 3, 0, 0, 0, 0]),
        ALLOW
    );
    assert_eq!(
        verdict(&f, Abi::X86_64, "socket", [2, 1, 9, 0, 0, 0]),
        ALLOW
    );
}

#[test]
fn engine_profiles_parse_as_linux_seccomp_but_ignore_conditions() {
    // The runtime only ever sees resolved config.json; this pins what happens
    // if an engine profile is pasted in as is.
    for path in [PODMAN, DOCKER] {
        let Some(profile) = load(path) else { continue };
        let spec = berth_seccomp::parse(&profile).unwrap();
        assert!(
            spec.architectures().is_none(),
            "archMap is not architectures"
        );
        let f = berth_seccomp::compile(&spec).unwrap();
        assert!(f.program().len() < libc::BPF_MAXINSNS as usize);
    }
}
