//! `linux.seccomp` → classic BPF, with no I/O.
//!
//! # Program layout
//!
//! ```text
//!   A = arch
//!   if A == AUDIT_ARCH_X86_64 goto x86_64
//!   if A == AUDIT_ARCH_I386   goto i386        (only if SCMP_ARCH_X86 is listed)
//!   return KILL_PROCESS                         (any other ABI)
//! x86_64:
//!   A = nr
//!   if A >= __X32_SYSCALL_BIT goto x32 (if listed) or bad_arch
//!   <rules for x86_64 numbers>
//!   <ENOSYS stub>
//!   return default
//! x32:  <rules for x32 numbers>; <ENOSYS stub>; return default
//! i386: A = nr; <rules for i386 numbers>; <ENOSYS stub>; return default
//! ```
//!
//! Inside one ABI, syscalls whose only rule is unconditional are tested with
//! one `JEQ` each, in runs sharing one `RET` per action; a syscall with
//! argument rules is followed by a body that tries its rules in precedence
//! order and ends with the default action.
//!
//! The ENOSYS stub (as runc's): unless the default action lets calls
//! through (`SCMP_ACT_ALLOW`, `SCMP_ACT_LOG`) or already is
//! `ERRNO(ENOSYS)`, a number above the largest one the ABI's table knows
//! returns `ERRNO(ENOSYS)` instead of the default: `if A > max goto
//! enosys` and one shared `RET` per ABI section. For x32 "above" leaves out
//! the x32-specific block 512..=547, which lies above the common numbers
//! new syscalls are given (two more compares). Only calls no rule matched
//! reach it, so it costs the listed syscalls nothing.

use std::collections::BTreeMap;

use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompFilterFlag, LinuxSeccompOperator,
};

use crate::bpf::{self, Asm, Cond, Label, SeccompData, OFF_ARCH, OFF_NR};
use crate::syscalls::{Abi, X32_SPECIFIC_FIRST, X32_SYSCALL_BIT};
use crate::Error;

/// What a filter returns for an ABI that is not in `architectures`.
///
/// libseccomp's default "bad arch" action is `KILL` (the thread); we kill
/// the whole process so a multi-threaded program is never left with a
/// vanished thread. For a single-threaded caller the two look the same.
pub const BAD_ARCH_ACTION: u32 = libc::SECCOMP_RET_KILL_PROCESS;

/// What the ENOSYS stub returns.
const ENOSYS_RET: u32 = libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32;

/// Syscall arguments a rule may test (`seccomp_data.args` has six).
const MAX_ARGS: usize = 6;
/// Simple syscalls tested before their shared `RET`, kept under the 255
/// reach of a conditional jump.
const RUN_LEN: usize = 200;

/// A compiled seccomp filter: a classic BPF program plus the flags for
/// `seccomp(SECCOMP_SET_MODE_FILTER, flags, prog)`.
#[derive(Clone)]
pub struct Filter {
    program: Vec<libc::sock_filter>,
    flags: libc::c_ulong,
    warnings: Vec<String>,
}

impl Filter {
    /// The BPF instructions, ready for a `sock_fprog`.
    pub fn program(&self) -> &[libc::sock_filter] {
        &self.program
    }

    /// `SECCOMP_FILTER_FLAG_*` bits to install with. Includes
    /// `SECCOMP_FILTER_FLAG_NEW_LISTENER` when a rule uses `SCMP_ACT_NOTIFY`.
    pub fn flags(&self) -> libc::c_ulong {
        self.flags
    }

    /// Whether installing returns a notify listener fd.
    pub fn uses_notify(&self) -> bool {
        self.flags & libc::SECCOMP_FILTER_FLAG_NEW_LISTENER != 0
    }

    /// Things skipped while compiling (unknown syscall names, foreign
    /// architectures, flags that do not apply), one line each, for the
    /// caller to log.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// The program and flags as bytes, for handing the compiled filter to another process
    /// (the container's init): the flags, then each instruction, little-endian.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + self.program.len() * 8);
        out.extend_from_slice(&{ self.flags }.to_le_bytes());
        for i in &self.program {
            out.extend_from_slice(&i.code.to_le_bytes());
            out.push(i.jt);
            out.push(i.jf);
            out.extend_from_slice(&i.k.to_le_bytes());
        }
        out
    }

    /// The filter [`Filter::to_bytes`] wrote (its warnings are not carried); `None` if the
    /// bytes are not such a filter.
    pub fn from_bytes(b: &[u8]) -> Option<Filter> {
        if b.len() < 8 || !(b.len() - 8).is_multiple_of(8) {
            return None;
        }
        let flags: libc::c_ulong = u64::from_le_bytes(b[..8].try_into().ok()?);
        let program = b[8..]
            .chunks_exact(8)
            .map(|c| libc::sock_filter {
                code: u16::from_le_bytes([c[0], c[1]]),
                jt: c[2],
                jf: c[3],
                k: u32::from_le_bytes([c[4], c[5], c[6], c[7]]),
            })
            .collect();
        Some(Filter {
            program,
            flags,
            warnings: Vec::new(),
        })
    }

    /// Runs the program on `data` in userspace, as the kernel would, and
    /// returns the `SECCOMP_RET_*` value. For tests and debugging.
    pub fn evaluate(&self, data: &SeccompData) -> u32 {
        bpf::run(&self.program, data).expect("compile() emits only valid programs")
    }
}

impl std::fmt::Debug for Filter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Filter")
            .field("instructions", &self.program.len())
            .field("flags", &format_args!("{:#x}", self.flags))
            .field("warnings", &self.warnings)
            .finish()
    }
}

/// A rule's action, resolved with its errno/trace data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Action {
    KillProcess,
    KillThread,
    Trap,
    Errno(u16),
    Notify,
    Trace(u16),
    Log,
    Allow,
}

impl Action {
    fn ret(self) -> u32 {
        match self {
            Action::KillProcess => libc::SECCOMP_RET_KILL_PROCESS,
            Action::KillThread => libc::SECCOMP_RET_KILL_THREAD,
            Action::Trap => libc::SECCOMP_RET_TRAP,
            Action::Errno(e) => libc::SECCOMP_RET_ERRNO | u32::from(e),
            Action::Notify => libc::SECCOMP_RET_USER_NOTIF,
            Action::Trace(d) => libc::SECCOMP_RET_TRACE | u32::from(d),
            Action::Log => libc::SECCOMP_RET_LOG,
            Action::Allow => libc::SECCOMP_RET_ALLOW,
        }
    }

    /// Lower wins. The kernel's own order between stacked filters:
    /// KILL_PROCESS, KILL_THREAD, TRAP, ERRNO, USER_NOTIF, TRACE, LOG, ALLOW.
    fn rank(self) -> i32 {
        (self.ret() & libc::SECCOMP_RET_ACTION_FULL) as i32
    }
}

/// Resolves `action` plus its optional errno field at path `field`.
fn resolve_action(
    action: LinuxSeccompAction,
    errno_ret: Option<u32>,
    errno_field: &str,
) -> Result<Action, Error> {
    use LinuxSeccompAction as A;
    let data = |what: &str| -> Result<u16, Error> {
        match errno_ret {
            None => Ok(libc::EPERM as u16),
            Some(v) => u16::try_from(v).map_err(|_| {
                Error::invalid(
                    errno_field,
                    format!("{what} {v} does not fit the 16 data bits of a seccomp return"),
                )
            }),
        }
    };
    Ok(match action {
        A::ScmpActErrno => Action::Errno(data("errno")?),
        A::ScmpActTrace => Action::Trace(data("trace value")?),
        other => {
            if errno_ret.is_some() {
                return Err(Error::invalid(
                    errno_field,
                    format!("only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE, not {other}"),
                ));
            }
            match other {
                A::ScmpActKill | A::ScmpActKillThread => Action::KillThread,
                A::ScmpActKillProcess => Action::KillProcess,
                A::ScmpActTrap => Action::Trap,
                A::ScmpActNotify => Action::Notify,
                A::ScmpActLog => Action::Log,
                _ => Action::Allow,
            }
        }
    })
}

/// One argument comparison, as libseccomp defines it: unsigned 64-bit,
/// `MASKED_EQ` meaning `(arg & value) == valueTwo`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Cmp {
    arg: usize,
    op: LinuxSeccompOperator,
    value: u64,
    value_two: u64,
}

#[derive(Clone, Debug)]
struct Rule {
    action: Action,
    /// All must hold (AND). Empty: the rule matches every call.
    cmps: Vec<Cmp>,
    /// Position in the spec, for a stable order between equal ranks.
    order: usize,
}

/// Compiles `linux.seccomp` into a filter for an x86_64 kernel.
///
/// Decisions, where the spec leaves room:
///
/// * **Architectures.** The native ABI (x86_64) is always filtered, as
///   libseccomp does. `SCMP_ARCH_X86` adds the i386 ABI with its own
///   numbers, `SCMP_ARCH_X32` the x32 ABI (x86_64 audit arch, numbers with
///   `__X32_SYSCALL_BIT`). A call from an ABI that is not listed gets
///   [`BAD_ARCH_ACTION`] (kill the process) regardless of `defaultAction`.
///   Other architectures in the list cannot occur on this kernel and are
///   ignored with a warning.
/// * **Several rules for one syscall.** A rule whose action equals the
///   default action is dropped, as runc does. Of the remaining rules, the
///   first that matches in the kernel's action order wins (KILL_PROCESS,
///   KILL_THREAD, TRAP, ERRNO, NOTIFY, TRACE, LOG, ALLOW), so when two
///   rules match the more restrictive one applies; between rules of the
///   same kind, the earlier entry in `syscalls` wins.
/// * **Several conditions in one rule** are ANDed, except that when one
///   entry names the same argument index twice each condition becomes a
///   rule of its own (ORed), as runc does for old Docker profiles.
/// * **Unknown syscall names** (known to none of x86_64, i386, x32) are
///   skipped with a warning. A name known to some ABIs only is applied to
///   those, silently.
/// * **Syscalls newer than berth's tables** return `ENOSYS` rather than a
///   restrictive default action (see the module documentation), so that
///   libc falls back to an older call as it would on an older kernel: a
///   number above the largest the ABI's table knows gets `ERRNO(ENOSYS)`
///   unless the default is `SCMP_ACT_ALLOW` or `SCMP_ACT_LOG`. Unassigned
///   numbers below that maximum still get the default action, and calls
///   from an unlisted ABI (x32 numbers too, when `SCMP_ARCH_X32` is not
///   listed) still get [`BAD_ARCH_ACTION`].
/// * On i386 the arguments are 32 bits wide: the comparison is made
///   against the argument zero-extended to 64 bits.
/// * With `SCMP_ACT_NOTIFY` anywhere, `SECCOMP_FILTER_FLAG_NEW_LISTENER` is
///   added, and with `SECCOMP_FILTER_FLAG_TSYNC` also `TSYNC_ESRCH` (the
///   kernel refuses TSYNC with a listener otherwise).
///   `SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV` without a notify rule is
///   dropped with a warning, since the kernel rejects it.
pub fn compile(spec: &LinuxSeccomp) -> Result<Filter, Error> {
    let mut warnings = Vec::new();

    let default = resolve_action(
        spec.default_action(),
        spec.default_errno_ret(),
        "linux.seccomp.defaultErrnoRet",
    )?;
    if default == Action::Notify {
        // The process could not even make the call that hands the listener
        // fd to its agent.
        return Err(Error::invalid(
            "linux.seccomp.defaultAction",
            "SCMP_ACT_NOTIFY cannot be the default action",
        ));
    }

    let abis = resolve_arches(
        spec.architectures().as_deref().unwrap_or(&[]),
        &mut warnings,
    );

    let mut rules: BTreeMap<Abi, BTreeMap<u32, Vec<Rule>>> = BTreeMap::new();
    let mut first_notify = None;
    let mut order = 0;
    for (i, sc) in spec.syscalls().iter().flatten().enumerate() {
        let field = format!("linux.seccomp.syscalls[{i}]");
        if sc.names().is_empty() {
            return Err(Error::invalid(
                format!("{field}.names"),
                "must contain at least one entry",
            ));
        }
        let action = resolve_action(sc.action(), sc.errno_ret(), &format!("{field}.errnoRet"))?;
        let mut cmps = Vec::new();
        let mut seen = [0usize; MAX_ARGS];
        for (j, a) in sc.args().iter().flatten().enumerate() {
            if a.index() >= MAX_ARGS {
                return Err(Error::invalid(
                    format!("{field}.args[{j}].index"),
                    format!("{} is out of range 0..=5", a.index()),
                ));
            }
            seen[a.index()] += 1;
            cmps.push(Cmp {
                arg: a.index(),
                op: a.op(),
                value: a.value(),
                value_two: a.value_two().unwrap_or(0),
            });
        }
        if action == Action::Notify && first_notify.is_none() {
            first_notify = Some(i);
        }
        if action == default {
            continue;
        }
        let chains: Vec<Vec<Cmp>> = if seen.iter().any(|&n| n > 1) {
            cmps.iter().map(|c| vec![*c]).collect()
        } else {
            vec![cmps]
        };

        for (j, name) in sc.names().iter().enumerate() {
            let known = [Abi::X86_64, Abi::I386, Abi::X32]
                .iter()
                .any(|abi| abi.syscall_number(name).is_some());
            if !known {
                warnings.push(format!(
                    "{field}.names[{j}]: unknown syscall \"{name}\" ignored"
                ));
                continue;
            }
            for &abi in &abis {
                let Some(nr) = abi.syscall_number(name) else {
                    continue;
                };
                let list = rules.entry(abi).or_default().entry(nr).or_default();
                for chain in &chains {
                    order += 1;
                    list.push(Rule {
                        action,
                        cmps: chain.clone(),
                        order,
                    });
                }
            }
        }
    }

    let flags = resolve_flags(spec, first_notify.is_some(), &mut warnings);

    match (spec.listener_path(), first_notify) {
        (None, Some(i)) => {
            return Err(Error::invalid(
                "linux.seccomp.listenerPath",
                format!("required because linux.seccomp.syscalls[{i}] uses SCMP_ACT_NOTIFY"),
            ))
        }
        (None, None) if spec.listener_metadata().is_some() => {
            return Err(Error::invalid(
                "linux.seccomp.listenerMetadata",
                "must not be set without listenerPath",
            ))
        }
        _ => {}
    }

    // Newer syscalls must look absent (ENOSYS), not forbidden (EPERM, a
    // kill, ...): libc only falls back to an older call (clone3 → clone,
    // statx → fstatat, ...) on ENOSYS, so a profile older than the program
    // would otherwise break it. Pointless when the default lets calls
    // through or already says ENOSYS; left to the tracer under TRACE, as
    // runc does.
    let enosys_stub = !matches!(default, Action::Allow | Action::Log | Action::Trace(_))
        && default.ret() != ENOSYS_RET;
    let program = generate(default, enosys_stub, &abis, &rules);
    let max = libc::BPF_MAXINSNS as usize;
    if program.len() > max {
        return Err(Error::TooLarge {
            len: program.len(),
            max,
        });
    }
    Ok(Filter {
        program,
        flags,
        warnings,
    })
}

/// The ABIs to filter: x86_64 always, plus i386 and x32 when listed.
fn resolve_arches(arches: &[Arch], warnings: &mut Vec<String>) -> Vec<Abi> {
    let mut abis = vec![Abi::X86_64];
    for (i, a) in arches.iter().enumerate() {
        let abi = match a {
            Arch::ScmpArchNative | Arch::ScmpArchX86_64 => Abi::X86_64,
            Arch::ScmpArchX86 => Abi::I386,
            Arch::ScmpArchX32 => Abi::X32,
            other => {
                warnings.push(format!(
                    "linux.seccomp.architectures[{i}]: {other} cannot occur on an x86_64 kernel; ignored"
                ));
                continue;
            }
        };
        if !abis.contains(&abi) {
            abis.push(abi);
        }
    }
    abis.sort();
    abis
}

fn resolve_flags(spec: &LinuxSeccomp, notify: bool, warnings: &mut Vec<String>) -> libc::c_ulong {
    let mut flags = 0;
    for (i, f) in spec.flags().iter().flatten().enumerate() {
        flags |= match f {
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => libc::SECCOMP_FILTER_FLAG_TSYNC,
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => libc::SECCOMP_FILTER_FLAG_LOG,
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => {
                libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW
            }
            LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv if !notify => {
                warnings.push(format!(
                    "linux.seccomp.flags[{i}]: SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV has no effect without an SCMP_ACT_NOTIFY rule; ignored"
                ));
                0
            }
            LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => {
                libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
            }
        };
    }
    if notify {
        flags |= libc::SECCOMP_FILTER_FLAG_NEW_LISTENER;
        if flags & libc::SECCOMP_FILTER_FLAG_TSYNC != 0 {
            flags |= libc::SECCOMP_FILTER_FLAG_TSYNC_ESRCH;
        }
    }
    flags
}

fn generate(
    default: Action,
    enosys_stub: bool,
    abis: &[Abi],
    rules: &BTreeMap<Abi, BTreeMap<u32, Vec<Rule>>>,
) -> Vec<libc::sock_filter> {
    let empty = BTreeMap::new();
    let rules_of = |abi| rules.get(&abi).unwrap_or(&empty);
    let has = |abi| abis.contains(&abi);

    let mut asm = Asm::default();
    let x86_64 = asm.label();
    let x32 = asm.label();
    let i386 = asm.label();
    let bad_arch = asm.label();

    asm.load(OFF_ARCH);
    asm.jump_if(Cond::Eq, crate::syscalls::AUDIT_ARCH_X86_64, x86_64);
    if has(Abi::I386) {
        asm.jump_if(Cond::Eq, crate::syscalls::AUDIT_ARCH_I386, i386);
    }
    asm.ret(BAD_ARCH_ACTION);

    asm.bind(x86_64);
    asm.load(OFF_NR);
    asm.jump_if(
        Cond::Ge,
        X32_SYSCALL_BIT,
        if has(Abi::X32) { x32 } else { bad_arch },
    );
    let section = |asm: &mut Asm, abi| {
        emit_abi(asm, abi, rules_of(abi), default);
        if enosys_stub {
            let enosys = asm.label();
            let rest = asm.label();
            emit_enosys_stub(asm, abi, enosys, rest);
            asm.bind(rest);
            asm.ret(default.ret());
            asm.bind(enosys);
            asm.ret(ENOSYS_RET);
        } else {
            asm.ret(default.ret());
        }
    };
    section(&mut asm, Abi::X86_64);
    if has(Abi::X32) {
        asm.bind(x32);
        section(&mut asm, Abi::X32);
    }
    if has(Abi::I386) {
        asm.bind(i386);
        asm.load(OFF_NR);
        section(&mut asm, Abi::I386);
    }
    asm.bind(bad_arch);
    asm.ret(BAD_ARCH_ACTION);
    asm.finish()
}

/// Jumps to `enosys` when `A` (`seccomp_data.nr`) is a number newer than
/// `abi`'s table, to `rest` otherwise.
///
/// x86_64 and i386: `nr > max`. The x86_64 section only sees numbers below
/// `__X32_SYSCALL_BIT`, so x32 calls are never caught here. x32: `nr`
/// carries the bit, and comparing it whole with `max | bit` is comparing
/// `nr & !bit` with `max` (higher bits only make it larger). Its table ends
/// with the x32-specific block 512..=547, but new syscalls get common
/// numbers below 512, so the gap between the largest common number and 512
/// is new too.
fn emit_enosys_stub(asm: &mut Asm, abi: Abi, enosys: Label, rest: Label) {
    let max = abi.max_syscall_number_below(u32::MAX);
    if abi != Abi::X32 {
        asm.jump(Cond::Gt, max, enosys, rest);
        return;
    }
    let common_max = abi.max_syscall_number_below(X32_SPECIFIC_FIRST);
    asm.jump_if(Cond::Gt, max, enosys);
    asm.jump_if(Cond::Ge, X32_SYSCALL_BIT | X32_SPECIFIC_FIRST, rest);
    asm.jump(Cond::Gt, common_max, enosys, rest);
}

/// Emits the rules of one ABI; expects `A == seccomp_data.nr` and leaves
/// it so for the code after (when no rule returned).
fn emit_abi(asm: &mut Asm, abi: Abi, rules: &BTreeMap<u32, Vec<Rule>>, default: Action) {
    let mut simple: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    let mut complex: Vec<(u32, Vec<Rule>)> = Vec::new();
    for (&nr, list) in rules {
        let mut list = list.clone();
        list.sort_by_key(|r| (r.action.rank(), r.order));
        // Rules after the first unconditional one can never be reached.
        if let Some(p) = list.iter().position(|r| r.cmps.is_empty()) {
            list.truncate(p + 1);
        }
        match list.as_slice() {
            [only] if only.cmps.is_empty() => simple.entry(only.action.ret()).or_default().push(nr),
            _ => complex.push((nr, list)),
        }
    }

    for (ret, nrs) in &simple {
        for run in nrs.chunks(RUN_LEN) {
            let hit = asm.label();
            let miss = asm.label();
            for (i, &nr) in run.iter().enumerate() {
                if i + 1 == run.len() {
                    asm.jump(Cond::Eq, nr, hit, miss);
                } else {
                    asm.jump_if(Cond::Eq, nr, hit);
                }
            }
            asm.bind(hit);
            asm.ret(*ret);
            asm.bind(miss);
        }
    }

    // Bodies sit right after their test, so the skip over one stays short.
    for (nr, list) in &complex {
        let body = asm.label();
        let skip = asm.label();
        asm.jump(Cond::Eq, *nr, body, skip);
        asm.bind(body);
        for rule in list {
            let next = asm.label();
            for c in &rule.cmps {
                emit_cmp(asm, c, abi.has_64bit_args(), next);
            }
            asm.ret(rule.action.ret());
            asm.bind(next);
        }
        if list.last().is_some_and(|r| !r.cmps.is_empty()) {
            asm.ret(default.ret());
        }
        // Argument checks clobbered A, but the body always returns: only
        // the dispatch jump reaches `skip`, with A still nr.
        asm.bind(skip);
    }
}

/// Emits code that falls through when `c` holds and jumps to `fail`
/// otherwise. `wide`: the argument has 64 bits; else it is a 32-bit value
/// whose high half is known to be zero.
fn emit_cmp(asm: &mut Asm, c: &Cmp, wide: bool, fail: Label) {
    use LinuxSeccompOperator as Op;
    let hi = |v: u64| (v >> 32) as u32;
    let dh = hi(c.value);

    if !wide {
        // High halves: the argument's is 0, decide statically.
        let hi_decides = match c.op {
            Op::ScmpCmpMaskedEq => (hi(c.value_two) != 0).then_some(false),
            _ if dh == 0 => None,
            // 0 < dh: the argument is below the datum.
            Op::ScmpCmpLt | Op::ScmpCmpLe | Op::ScmpCmpNe => Some(true),
            _ => Some(false),
        };
        match hi_decides {
            Some(true) => {}
            Some(false) => asm.ja(fail),
            None => emit_low(asm, c, fail),
        }
        return;
    }

    asm.load(bpf::off_arg(c.arg, true));
    match c.op {
        Op::ScmpCmpEq => asm.jump_unless(Cond::Eq, dh, fail),
        Op::ScmpCmpMaskedEq => {
            asm.and(dh);
            asm.jump_unless(Cond::Eq, hi(c.value_two), fail);
        }
        Op::ScmpCmpNe => {
            let ok = asm.label();
            asm.jump_unless(Cond::Eq, dh, ok);
            emit_low(asm, c, fail);
            asm.bind(ok);
            return;
        }
        Op::ScmpCmpGt | Op::ScmpCmpGe => {
            let ok = asm.label();
            asm.jump_if(Cond::Gt, dh, ok);
            asm.jump_unless(Cond::Eq, dh, fail);
            emit_low(asm, c, fail);
            asm.bind(ok);
            return;
        }
        Op::ScmpCmpLt | Op::ScmpCmpLe => {
            let ok = asm.label();
            asm.jump_if(Cond::Gt, dh, fail);
            asm.jump_unless(Cond::Eq, dh, ok);
            emit_low(asm, c, fail);
            asm.bind(ok);
            return;
        }
    }
    emit_low(asm, c, fail);
}

/// The low-half comparison, for when the high halves are equal (or, for
/// MASKED_EQ, already matched).
fn emit_low(asm: &mut Asm, c: &Cmp, fail: Label) {
    use LinuxSeccompOperator as Op;
    let dl = c.value as u32;
    asm.load(bpf::off_arg(c.arg, false));
    match c.op {
        Op::ScmpCmpEq => asm.jump_unless(Cond::Eq, dl, fail),
        Op::ScmpCmpNe => asm.jump_if(Cond::Eq, dl, fail),
        Op::ScmpCmpGt => asm.jump_unless(Cond::Gt, dl, fail),
        Op::ScmpCmpGe => asm.jump_unless(Cond::Ge, dl, fail),
        Op::ScmpCmpLt => asm.jump_if(Cond::Ge, dl, fail),
        Op::ScmpCmpLe => asm.jump_if(Cond::Gt, dl, fail),
        Op::ScmpCmpMaskedEq => {
            asm.and(dl);
            asm.jump_unless(Cond::Eq, c.value_two as u32, fail);
        }
    }
}

#[cfg(test)]
mod tests;
