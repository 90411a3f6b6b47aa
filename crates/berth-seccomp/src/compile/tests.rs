//! Runs compiled programs through the userspace interpreter.

use super::*;
use crate::syscalls::{AUDIT_ARCH_I386, AUDIT_ARCH_X86_64};

const ALLOW: u32 = libc::SECCOMP_RET_ALLOW;
const KILL_PROCESS: u32 = libc::SECCOMP_RET_KILL_PROCESS;
const AUDIT_ARCH_AARCH64: u32 = 0xC000_00B7;

fn errno(e: i32) -> u32 {
    libc::SECCOMP_RET_ERRNO | e as u32
}

fn spec(json: &str) -> LinuxSeccomp {
    crate::parse_str(json).unwrap()
}

fn build(json: &str) -> Filter {
    compile(&spec(json)).unwrap()
}

fn fail(json: &str) -> String {
    compile(&spec(json)).unwrap_err().to_string()
}

fn call(arch: u32, nr: u32, args: [u64; 6]) -> SeccompData {
    SeccompData {
        nr: nr as i32,
        arch,
        instruction_pointer: 0x7fff_0000_1234,
        args,
    }
}

fn x64(name: &str, args: [u64; 6]) -> SeccompData {
    call(
        AUDIT_ARCH_X86_64,
        Abi::X86_64.syscall_number(name).unwrap(),
        args,
    )
}

fn nr(name: &str) -> SeccompData {
    x64(name, [0; 6])
}

#[test]
fn every_action_returns_its_kernel_value() {
    let f = build(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","listenerPath":"/run/agent.sock","syscalls":[
        {"names":["mkdir"],"action":"SCMP_ACT_KILL"},
        {"names":["rmdir"],"action":"SCMP_ACT_KILL_THREAD"},
        {"names":["unlink"],"action":"SCMP_ACT_KILL_PROCESS"},
        {"names":["chmod"],"action":"SCMP_ACT_TRAP"},
        {"names":["chown"],"action":"SCMP_ACT_ERRNO"},
        {"names":["fchown"],"action":"SCMP_ACT_ERRNO","errnoRet":38},
        {"names":["link"],"action":"SCMP_ACT_TRACE"},
        {"names":["symlink"],"action":"SCMP_ACT_TRACE","errnoRet":4660},
        {"names":["rename"],"action":"SCMP_ACT_LOG"},
        {"names":["mknod"],"action":"SCMP_ACT_NOTIFY"},
        {"names":["getpid"],"action":"SCMP_ACT_ALLOW"}]}"#,
    );
    let cases = [
        ("mkdir", libc::SECCOMP_RET_KILL_THREAD),
        ("rmdir", libc::SECCOMP_RET_KILL_THREAD),
        ("unlink", KILL_PROCESS),
        ("chmod", libc::SECCOMP_RET_TRAP),
        ("chown", errno(libc::EPERM)),
        ("fchown", errno(libc::ENOSYS)),
        ("link", libc::SECCOMP_RET_TRACE | libc::EPERM as u32),
        ("symlink", libc::SECCOMP_RET_TRACE | 4660),
        ("rename", libc::SECCOMP_RET_LOG),
        ("mknod", libc::SECCOMP_RET_USER_NOTIF),
        ("getpid", ALLOW),
        ("read", ALLOW),
    ];
    for (name, want) in cases {
        assert_eq!(f.evaluate(&nr(name)), want, "{name}");
    }
    assert!(f.uses_notify());
    assert!(f.warnings().is_empty(), "{:?}", f.warnings());
}

#[test]
fn default_errno_is_eperm_unless_given() {
    let f = build(
        r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW"}]}"#,
    );
    assert_eq!(f.evaluate(&nr("read")), ALLOW);
    assert_eq!(f.evaluate(&nr("write")), errno(libc::EPERM));
    let f = build(r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":38}"#);
    assert_eq!(f.evaluate(&nr("write")), errno(libc::ENOSYS));
    // Numbers no table knows also get the default (here ENOSYS anyway).
    assert_eq!(f.evaluate(&call(AUDIT_ARCH_X86_64, 999, [0; 6])), errno(38));
}

const ENOSYS: u32 = libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32;

/// The largest number each table knows (x32: with the x32 bit).
fn max_nr(abi: Abi) -> u32 {
    abi.max_syscall_number_below(u32::MAX)
}

#[test]
fn syscalls_newer_than_the_table_get_enosys_under_a_restrictive_default() {
    let f = build(
        r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[
        {"names":["read","getpid"],"action":"SCMP_ACT_ALLOW"},
        {"names":["write"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":1,"op":"SCMP_CMP_EQ"}]}]}"#,
    );
    let x = |nr| f.evaluate(&call(AUDIT_ARCH_X86_64, nr, [0; 6]));
    let max = max_nr(Abi::X86_64);
    assert!(max >= Abi::X86_64.syscall_number("clone3").unwrap());
    assert_eq!(x(max + 1), ENOSYS);
    assert_eq!(x(1000), ENOSYS);
    assert_eq!(x(X32_SYSCALL_BIT - 1), ENOSYS);
    // Known to the table: the profile decides, stub or not.
    assert_eq!(x(max), errno(libc::EPERM));
    assert_eq!(f.evaluate(&nr("clone3")), errno(libc::EPERM));
    assert_eq!(f.evaluate(&nr("mount")), errno(libc::EPERM));
    assert_eq!(f.evaluate(&nr("read")), ALLOW);
    assert_eq!(f.evaluate(&nr("getpid")), ALLOW);
    // After an argument body the stub still compares the number.
    assert_eq!(f.evaluate(&x64("write", [1, 0, 0, 0, 0, 0])), ALLOW);
    assert_eq!(f.evaluate(&x64("write", [2, 0, 0, 0, 0, 0])), errno(1));
    // A hole below the maximum (x86_64 has none assigned 335..424) is not
    // "newer": the default.
    assert_eq!(x(400), errno(libc::EPERM));
}

#[test]
fn the_stub_applies_to_every_restrictive_default() {
    for (default, want) in [
        (r#""SCMP_ACT_KILL_PROCESS""#, KILL_PROCESS),
        (r#""SCMP_ACT_KILL""#, libc::SECCOMP_RET_KILL_THREAD),
        (r#""SCMP_ACT_TRAP""#, libc::SECCOMP_RET_TRAP),
        (
            r#""SCMP_ACT_ERRNO","defaultErrnoRet":13"#,
            errno(libc::EACCES),
        ),
    ] {
        let f = build(&format!(r#"{{"defaultAction":{default}}}"#));
        let x = |nr| f.evaluate(&call(AUDIT_ARCH_X86_64, nr, [0; 6]));
        assert_eq!(x(max_nr(Abi::X86_64) + 1), ENOSYS, "{default}");
        assert_eq!(x(0), want, "{default}");
    }
}

#[test]
fn no_stub_when_the_default_lets_calls_through_or_is_enosys() {
    for (default, want) in [
        (r#""SCMP_ACT_ALLOW""#, ALLOW),
        (r#""SCMP_ACT_LOG""#, libc::SECCOMP_RET_LOG),
        (
            r#""SCMP_ACT_TRACE""#,
            libc::SECCOMP_RET_TRACE | libc::EPERM as u32,
        ),
        (r#""SCMP_ACT_ERRNO","defaultErrnoRet":38"#, ENOSYS),
    ] {
        let f = build(&format!(
            r#"{{"defaultAction":{default},"architectures":["SCMP_ARCH_X86","SCMP_ARCH_X32"],
            "syscalls":[{{"names":["read"],"action":"SCMP_ACT_KILL_PROCESS"}}]}}"#
        ));
        for (arch, nr) in [
            (AUDIT_ARCH_X86_64, max_nr(Abi::X86_64) + 1),
            (AUDIT_ARCH_X86_64, 1000),
            (AUDIT_ARCH_X86_64, max_nr(Abi::X32) + 1),
            (AUDIT_ARCH_I386, max_nr(Abi::I386) + 1),
        ] {
            assert_eq!(
                f.evaluate(&call(arch, nr, [0; 6])),
                want,
                "{default} {arch:#x} {nr:#x}"
            );
        }
        assert_eq!(f.evaluate(&nr("read")), KILL_PROCESS, "{default}");
    }
    // The stub costs instructions only where it can change something.
    let len = |default: &str| {
        build(&format!(r#"{{"defaultAction":{default}}}"#))
            .program()
            .len()
    };
    assert_eq!(
        len(r#""SCMP_ACT_ALLOW""#),
        len(r#""SCMP_ACT_ERRNO","defaultErrnoRet":38"#)
    );
    assert_eq!(len(r#""SCMP_ACT_ERRNO""#), len(r#""SCMP_ACT_ALLOW""#) + 2);
}

#[test]
fn the_stub_leaves_x32_calls_to_bad_arch_when_x32_is_not_listed() {
    let f = build(
        r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW"}]}"#,
    );
    for nr in [
        X32_SYSCALL_BIT,
        Abi::X32.syscall_number("clone3").unwrap(),
        max_nr(Abi::X32),
        max_nr(Abi::X32) + 1,
        X32_SYSCALL_BIT | 1000,
        u32::MAX,
    ] {
        assert_eq!(
            f.evaluate(&call(AUDIT_ARCH_X86_64, nr, [0; 6])),
            BAD_ARCH_ACTION,
            "{nr:#x}"
        );
    }
}

#[test]
fn the_x32_stub_uses_x32_numbers_and_skips_the_x32_specific_block() {
    let f = build(
        r#"{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X32"],
        "syscalls":[{"names":["read","ioctl"],"action":"SCMP_ACT_ALLOW"}]}"#,
    );
    let x = |nr| f.evaluate(&call(AUDIT_ARCH_X86_64, nr, [0; 6]));
    let bit = X32_SYSCALL_BIT;
    let common_max = Abi::X32.max_syscall_number_below(512);
    assert_eq!(common_max, bit | max_nr(Abi::X86_64));
    // Listed and known-but-unlisted x32 calls: the profile.
    assert_eq!(x(bit), ALLOW);
    assert_eq!(x(bit | 514), ALLOW);
    assert_eq!(x(Abi::X32.syscall_number("clone3").unwrap()), errno(1));
    assert_eq!(x(common_max), errno(1));
    assert_eq!(x(max_nr(Abi::X32)), errno(1));
    // The x32-specific block 512..=547 is not newer, holes in it neither.
    for n in 512..=547 {
        assert_ne!(x(bit | n), ENOSYS, "{n}");
    }
    // Newer: between the common maximum and 512, and above the block.
    assert_eq!(x(common_max + 1), ENOSYS);
    assert_eq!(x(bit | 511), ENOSYS);
    assert_eq!(x(max_nr(Abi::X32) + 1), ENOSYS);
    assert_eq!(x(bit | 1000), ENOSYS);
    assert_eq!(x(u32::MAX), ENOSYS);
    // The x86_64 section keeps its own maximum.
    assert_eq!(x(max_nr(Abi::X86_64) + 1), ENOSYS);
    assert_eq!(x(max_nr(Abi::X86_64)), errno(1));
}

#[test]
fn the_i386_stub_uses_the_i386_maximum() {
    let f = build(
        r#"{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86"],
        "syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW"}]}"#,
    );
    let i = |nr| f.evaluate(&call(AUDIT_ARCH_I386, nr, [0; 6]));
    let max = max_nr(Abi::I386);
    assert_eq!(i(3), ALLOW);
    assert_eq!(i(Abi::I386.syscall_number("clone3").unwrap()), errno(1));
    assert_eq!(i(max), errno(1));
    assert_eq!(i(max + 1), ENOSYS);
    assert_eq!(i(1000), ENOSYS);
    assert_eq!(i(u32::MAX), ENOSYS);
    // Without SCMP_ARCH_X86, i386 is a bad arch whatever the number.
    let f = build(r#"{"defaultAction":"SCMP_ACT_ERRNO"}"#);
    assert_eq!(
        f.evaluate(&call(AUDIT_ARCH_I386, max + 1, [0; 6])),
        BAD_ARCH_ACTION
    );
}

#[test]
fn unlisted_architectures_are_killed() {
    let f = build(r#"{"defaultAction":"SCMP_ACT_ALLOW"}"#);
    assert_eq!(f.evaluate(&call(AUDIT_ARCH_X86_64, 0, [0; 6])), ALLOW);
    assert_eq!(
        f.evaluate(&call(AUDIT_ARCH_I386, 3, [0; 6])),
        BAD_ARCH_ACTION
    );
    assert_eq!(
        f.evaluate(&call(AUDIT_ARCH_AARCH64, 63, [0; 6])),
        BAD_ARCH_ACTION
    );
    // x32 shares the x86_64 audit arch; its numbers carry the x32 bit.
    assert_eq!(
        f.evaluate(&call(AUDIT_ARCH_X86_64, X32_SYSCALL_BIT, [0; 6])),
        BAD_ARCH_ACTION
    );
}

#[test]
fn each_listed_abi_uses_its_own_numbers() {
    let f = build(
        r#"{"defaultAction":"SCMP_ACT_ALLOW",
        "architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86","SCMP_ARCH_X32","SCMP_ARCH_AARCH64"],
        "syscalls":[{"names":["read","socketcall","ioctl"],"action":"SCMP_ACT_ERRNO"}]}"#,
    );
    let e = errno(libc::EPERM);
    // read: x86_64 0, i386 3, x32 0|bit. ioctl: x86_64 16, i386 54, x32 514|bit.
    assert_eq!(f.evaluate(&call(AUDIT_ARCH_X86_64, 0, [0; 6])), e);
    assert_eq!(f.evaluate(&call(AUDIT_ARCH_X86_64, 16, [0; 6])), e);
    assert_eq!(f.evaluate(&call(AUDIT_ARCH_I386, 3, [0; 6])), e);
    assert_eq!(f.evaluate(&call(AUDIT_ARCH_I386, 54, [0; 6])), e);
    assert_eq!(f.evaluate(&call(AUDIT_ARCH_I386, 102, [0; 6])), e);
    assert_eq!(
        f.evaluate(&call(AUDIT_ARCH_X86_64, X32_SYSCALL_BIT, [0; 6])),
        e
    );
    assert_eq!(
        f.evaluate(&call(AUDIT_ARCH_X86_64, X32_SYSCALL_BIT | 514, [0; 6])),
        e
    );
    // i386's 0 is restart_syscall, x32's 16 is the x86_64-only ioctl slot.
    assert_eq!(f.evaluate(&call(AUDIT_ARCH_I386, 0, [0; 6])), ALLOW);
    assert_eq!(
        f.evaluate(&call(AUDIT_ARCH_X86_64, X32_SYSCALL_BIT | 16, [0; 6])),
        ALLOW
    );
    assert_eq!(
        f.evaluate(&call(AUDIT_ARCH_AARCH64, 63, [0; 6])),
        BAD_ARCH_ACTION
    );
    assert_eq!(f.warnings().len(), 1, "{:?}", f.warnings());
    assert!(f.warnings()[0].starts_with("linux.seccomp.architectures[3]: SCMP_ARCH_AARCH64"));
}

/// What libseccomp's comparison means, for 64-bit arguments.
fn reference(op: LinuxSeccompOperator, arg: u64, value: u64, value_two: u64) -> bool {
    use LinuxSeccompOperator as Op;
    match op {
        Op::ScmpCmpNe => arg != value,
        Op::ScmpCmpLt => arg < value,
        Op::ScmpCmpLe => arg <= value,
        Op::ScmpCmpEq => arg == value,
        Op::ScmpCmpGe => arg >= value,
        Op::ScmpCmpGt => arg > value,
        Op::ScmpCmpMaskedEq => arg & value == value_two,
    }
}

const OPS: [(&str, LinuxSeccompOperator); 7] = [
    ("SCMP_CMP_NE", LinuxSeccompOperator::ScmpCmpNe),
    ("SCMP_CMP_LT", LinuxSeccompOperator::ScmpCmpLt),
    ("SCMP_CMP_LE", LinuxSeccompOperator::ScmpCmpLe),
    ("SCMP_CMP_EQ", LinuxSeccompOperator::ScmpCmpEq),
    ("SCMP_CMP_GE", LinuxSeccompOperator::ScmpCmpGe),
    ("SCMP_CMP_GT", LinuxSeccompOperator::ScmpCmpGt),
    ("SCMP_CMP_MASKED_EQ", LinuxSeccompOperator::ScmpCmpMaskedEq),
];

/// Values where a wrong split into 32-bit halves or a signed compare shows.
const EDGES: [u64; 14] = [
    0,
    1,
    2,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_fffe,
    0xffff_ffff,
    0x1_0000_0000,
    0x1_0000_0001,
    0x1_ffff_ffff,
    0x7fff_ffff_ffff_ffff,
    0x8000_0000_0000_0000,
    0xffff_ffff_ffff_fffe,
    u64::MAX,
];

#[test]
fn comparisons_are_unsigned_64_bit_on_both_halves() {
    for (name, op) in OPS {
        for value in EDGES {
            for arg_idx in [0, 5] {
                let value_two = value & 0xffff_0000_0000_ffff;
                let f = build(&format!(
                    r#"{{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86","SCMP_ARCH_X32"],
                    "syscalls":[{{"names":["read"],"action":"SCMP_ACT_ERRNO","args":[
                    {{"index":{arg_idx},"value":{value},"valueTwo":{value_two},"op":"{name}"}}]}}]}}"#
                ));
                for arg in EDGES {
                    let mut args = [0x5555_5555_5555_5555; 6];
                    args[arg_idx] = arg;
                    let want = |hit| if hit { errno(1) } else { ALLOW };
                    let w64 = want(reference(op, arg, value, value_two));
                    let ctx = format!("{name} arg{arg_idx}={arg:#x} value={value:#x}");
                    assert_eq!(
                        f.evaluate(&call(AUDIT_ARCH_X86_64, 0, args)),
                        w64,
                        "x86_64 {ctx}"
                    );
                    assert_eq!(
                        f.evaluate(&call(AUDIT_ARCH_X86_64, X32_SYSCALL_BIT, args)),
                        w64,
                        "x32 {ctx}"
                    );
                    // i386 arguments are 32 bits: whatever is in the high
                    // half of the register is not part of the argument.
                    let w32 = want(reference(op, arg & 0xffff_ffff, value, value_two));
                    assert_eq!(
                        f.evaluate(&call(AUDIT_ARCH_I386, 3, args)),
                        w32,
                        "i386 {ctx}"
                    );
                }
            }
        }
    }
}

#[test]
fn conditions_in_one_rule_are_anded_and_rules_are_ored() {
    let f = build(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
        {"names":["socket"],"action":"SCMP_ACT_ERRNO","args":[
            {"index":0,"value":16,"op":"SCMP_CMP_EQ"},{"index":2,"value":9,"op":"SCMP_CMP_EQ"}]},
        {"names":["socket"],"action":"SCMP_ACT_ERRNO","args":[{"index":1,"value":3,"op":"SCMP_CMP_EQ"}]}]}"#,
    );
    let s = |a, b, c| f.evaluate(&x64("socket", [a, b, c, 0, 0, 0]));
    assert_eq!(s(16, 0, 9), errno(1));
    assert_eq!(s(16, 0, 0), ALLOW);
    assert_eq!(s(2, 0, 9), ALLOW);
    assert_eq!(s(2, 3, 0), errno(1));
}

#[test]
fn repeated_argument_index_makes_each_condition_its_own_rule() {
    // runc's reading of old Docker profiles: personality(0) OR personality(8).
    let f = build(
        r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["personality"],"action":"SCMP_ACT_ALLOW","args":[
        {"index":0,"value":0,"op":"SCMP_CMP_EQ"},{"index":0,"value":8,"op":"SCMP_CMP_EQ"}]}]}"#,
    );
    let p = |v| f.evaluate(&x64("personality", [v, 0, 0, 0, 0, 0]));
    assert_eq!(p(0), ALLOW);
    assert_eq!(p(8), ALLOW);
    assert_eq!(p(1), errno(1));
}

#[test]
fn the_stronger_action_wins_a_conflict_whatever_the_order() {
    for rules in [
        r#"{"names":["mount"],"action":"SCMP_ACT_ALLOW"},{"names":["mount"],"action":"SCMP_ACT_ERRNO"}"#,
        r#"{"names":["mount"],"action":"SCMP_ACT_ERRNO"},{"names":["mount"],"action":"SCMP_ACT_ALLOW"}"#,
    ] {
        let f = build(&format!(
            r#"{{"defaultAction":"SCMP_ACT_LOG","syscalls":[{rules}]}}"#
        ));
        assert_eq!(f.evaluate(&nr("mount")), errno(1), "{rules}");
    }
    // A conditional kill beats an unconditional allow where it matches.
    let f = build(
        r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[
        {"names":["kill"],"action":"SCMP_ACT_ALLOW"},
        {"names":["kill"],"action":"SCMP_ACT_KILL_PROCESS","args":[{"index":1,"value":9,"op":"SCMP_CMP_EQ"}]}]}"#,
    );
    assert_eq!(f.evaluate(&x64("kill", [1, 15, 0, 0, 0, 0])), ALLOW);
    assert_eq!(f.evaluate(&x64("kill", [1, 9, 0, 0, 0, 0])), KILL_PROCESS);
    // Same kind: the earlier entry wins.
    let f = build(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
        {"names":["open"],"action":"SCMP_ACT_ERRNO","errnoRet":13},
        {"names":["open"],"action":"SCMP_ACT_ERRNO","errnoRet":2}]}"#,
    );
    assert_eq!(f.evaluate(&nr("open")), errno(13));
}

#[test]
fn rules_equal_to_the_default_are_dropped_like_runc() {
    // Without dropping, the unconditional ERRNO would shadow the allow.
    let f = build(
        r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[
        {"names":["clone"],"action":"SCMP_ACT_ERRNO"},
        {"names":["clone"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":2080505856,"valueTwo":0,"op":"SCMP_CMP_MASKED_EQ"}]}]}"#,
    );
    assert_eq!(f.evaluate(&x64("clone", [0x11, 0, 0, 0, 0, 0])), ALLOW);
    assert_eq!(
        f.evaluate(&x64("clone", [0x1000_0000, 0, 0, 0, 0, 0])),
        errno(1)
    );
    // A different errno is a different action and stays.
    let f = build(
        r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["bpf"],"action":"SCMP_ACT_ERRNO","errnoRet":38}]}"#,
    );
    assert_eq!(f.evaluate(&nr("bpf")), errno(38));
}

#[test]
fn unknown_names_are_skipped_with_a_warning() {
    let f = build(
        r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[
        {"names":["read"],"action":"SCMP_ACT_ALLOW"},
        {"names":["write","no_such_call","socketcall"],"action":"SCMP_ACT_ALLOW"}]}"#,
    );
    assert_eq!(
        f.warnings(),
        ["linux.seccomp.syscalls[1].names[1]: unknown syscall \"no_such_call\" ignored"]
    );
    assert_eq!(f.evaluate(&nr("write")), ALLOW);
}

#[test]
fn validation_errors_name_the_field() {
    let cases = [
        (
            r#"{"defaultAction":"SCMP_ACT_NOTIFY","listenerPath":"/a"}"#,
            "linux.seccomp.defaultAction: SCMP_ACT_NOTIFY cannot be the default action",
        ),
        (
            r#"{"defaultAction":"SCMP_ACT_KILL","defaultErrnoRet":1}"#,
            "linux.seccomp.defaultErrnoRet: only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE, not SCMP_ACT_KILL",
        ),
        (
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["a"],"action":"SCMP_ACT_ERRNO"},{"names":["read"],"action":"SCMP_ACT_LOG","errnoRet":1}]}"#,
            "linux.seccomp.syscalls[1].errnoRet: only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE, not SCMP_ACT_LOG",
        ),
        (
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_ERRNO","errnoRet":65536}]}"#,
            "linux.seccomp.syscalls[0].errnoRet: errno 65536 does not fit the 16 data bits of a seccomp return",
        ),
        (
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_NOTIFY"}]}"#,
            "linux.seccomp.listenerPath: required because linux.seccomp.syscalls[0] uses SCMP_ACT_NOTIFY",
        ),
        (
            r#"{"defaultAction":"SCMP_ACT_ALLOW","listenerMetadata":"x"}"#,
            "linux.seccomp.listenerMetadata: must not be set without listenerPath",
        ),
        (
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":[],"action":"SCMP_ACT_ERRNO"}]}"#,
            "linux.seccomp.syscalls[0].names: must contain at least one entry",
        ),
        (
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_ERRNO","args":[{"index":1,"value":0,"op":"SCMP_CMP_EQ"},{"index":6,"value":0,"op":"SCMP_CMP_EQ"}]}]}"#,
            "linux.seccomp.syscalls[0].args[1].index: 6 is out of range 0..=5",
        ),
    ];
    for (json, want) in cases {
        assert_eq!(fail(json), want);
    }
}

#[test]
fn flags_map_to_the_kernel_bits() {
    let f = build(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","flags":["SECCOMP_FILTER_FLAG_TSYNC","SECCOMP_FILTER_FLAG_LOG","SECCOMP_FILTER_FLAG_SPEC_ALLOW","SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]}"#,
    );
    assert_eq!(
        f.flags(),
        libc::SECCOMP_FILTER_FLAG_TSYNC
            | libc::SECCOMP_FILTER_FLAG_LOG
            | libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW
    );
    assert!(f.warnings()[0]
        .starts_with("linux.seccomp.flags[3]: SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"));
    assert!(!f.uses_notify());

    let f = build(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","listenerPath":"/a","flags":["SECCOMP_FILTER_FLAG_TSYNC","SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
        "syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_NOTIFY"}]}"#,
    );
    assert_eq!(
        f.flags(),
        libc::SECCOMP_FILTER_FLAG_TSYNC
            | libc::SECCOMP_FILTER_FLAG_TSYNC_ESRCH
            | libc::SECCOMP_FILTER_FLAG_NEW_LISTENER
            | libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
    );
    assert!(f.uses_notify());
}

#[test]
fn every_syscall_with_an_argument_rule_stays_correct() {
    // Hundreds of bodies far from their dispatch jumps: exercises the
    // assembler's long-jump relaxation.
    let names: Vec<&str> = crate::syscalls::table_names().collect();
    let list = names
        .iter()
        .map(|n| format!("\"{n}\""))
        .collect::<Vec<_>>()
        .join(",");
    let f = build(&format!(
        r#"{{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[
        {{"names":[{list}],"action":"SCMP_ACT_ALLOW","args":[{{"index":3,"value":7,"op":"SCMP_CMP_EQ"}}]}},
        {{"names":["read","write"],"action":"SCMP_ACT_TRAP","args":[{{"index":3,"value":8,"op":"SCMP_CMP_GE"}}]}}]}}"#
    ));
    assert!(f.program().len() > 2000, "{}", f.program().len());
    for abi in [Abi::X86_64] {
        for n in &names {
            let Some(nr) = abi.syscall_number(n) else {
                continue;
            };
            let d = |a3| call(abi.audit_arch(), nr, [0, 0, 0, a3, 0, 0]);
            assert_eq!(f.evaluate(&d(7)), ALLOW, "{abi:?} {n}");
            let high = if ["read", "write"].contains(n) {
                libc::SECCOMP_RET_TRAP
            } else {
                errno(1)
            };
            assert_eq!(f.evaluate(&d(9)), high, "{abi:?} {n}");
            assert_eq!(f.evaluate(&d(1)), errno(1), "{abi:?} {n}");
        }
    }
}

#[test]
fn a_program_over_the_kernel_limit_is_refused() {
    let args = (0..6)
        .map(|i| format!(r#"{{"index":{i},"value":{i},"op":"SCMP_CMP_GT"}}"#))
        .collect::<Vec<_>>()
        .join(",");
    let rule = format!(r#"{{"names":["read","write"],"action":"SCMP_ACT_ALLOW","args":[{args}]}}"#);
    let rules = vec![rule; 100].join(",");
    let e = compile(&spec(&format!(
        r#"{{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{rules}]}}"#
    )))
    .unwrap_err();
    assert!(matches!(e, Error::TooLarge { max: 4096, .. }), "{e}");
}

#[test]
fn agrees_with_seccompiler_on_64_bit_comparisons() {
    use seccompiler::{
        SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
        SeccompRule, TargetArch,
    };
    let ops = [
        ("SCMP_CMP_EQ", SeccompCmpOp::Eq),
        ("SCMP_CMP_NE", SeccompCmpOp::Ne),
        ("SCMP_CMP_LT", SeccompCmpOp::Lt),
        ("SCMP_CMP_LE", SeccompCmpOp::Le),
        ("SCMP_CMP_GT", SeccompCmpOp::Gt),
        ("SCMP_CMP_GE", SeccompCmpOp::Ge),
    ];
    for (name, op) in ops {
        for value in EDGES {
            let theirs = SeccompFilter::new(
                [(
                    libc::SYS_read,
                    vec![SeccompRule::new(vec![SeccompCondition::new(
                        1,
                        SeccompCmpArgLen::Qword,
                        op.clone(),
                        value,
                    )
                    .unwrap()])
                    .unwrap()],
                )]
                .into_iter()
                .collect(),
                SeccompAction::Allow,
                SeccompAction::Errno(1),
                TargetArch::x86_64,
            )
            .unwrap();
            let theirs: seccompiler::BpfProgram = theirs.try_into().unwrap();
            let theirs: Vec<libc::sock_filter> = theirs
                .iter()
                .map(|i| libc::sock_filter {
                    code: i.code,
                    jt: i.jt,
                    jf: i.jf,
                    k: i.k,
                })
                .collect();
            let ours = build(&format!(
                r#"{{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{{"names":["read"],"action":"SCMP_ACT_ERRNO",
                "args":[{{"index":1,"value":{value},"op":"{name}"}}]}}]}}"#
            ));
            for arg in EDGES {
                let d = x64("read", [0, arg, 0, 0, 0, 0]);
                assert_eq!(
                    ours.evaluate(&d),
                    bpf::run(&theirs, &d).unwrap(),
                    "{name} {value:#x} arg={arg:#x}"
                );
            }
        }
    }
}

#[test]
fn a_filter_survives_its_byte_form() {
    let f = build(
        r#"{"defaultAction":"SCMP_ACT_ERRNO","flags":["SECCOMP_FILTER_FLAG_LOG"],
            "syscalls":[{"names":["read","write","exit_group"],"action":"SCMP_ACT_ALLOW"}]}"#,
    );
    let back = Filter::from_bytes(&f.to_bytes()).unwrap();
    assert_eq!(back.flags(), f.flags());
    assert_eq!(back.program().len(), f.program().len());
    for (a, b) in back.program().iter().zip(f.program()) {
        assert_eq!((a.code, a.jt, a.jf, a.k), (b.code, b.jt, b.jf, b.k));
    }
    assert!(Filter::from_bytes(&[1, 2, 3]).is_none());
}
