//! Classic BPF as seccomp uses it: a small assembler with labels, a checker
//! mirroring the kernel's, and an interpreter so tests can run a program
//! against synthetic `seccomp_data` without installing it.

use std::fmt;

// Opcode parts from <linux/bpf_common.h>.
const BPF_LD: u16 = 0x00;
const BPF_ALU: u16 = 0x04;
const BPF_JMP: u16 = 0x05;
const BPF_RET: u16 = 0x06;
const BPF_W: u16 = 0x00;
const BPF_ABS: u16 = 0x20;
const BPF_AND: u16 = 0x50;
const BPF_JA: u16 = 0x00;
const BPF_K: u16 = 0x00;

/// Conditional jump kinds, all comparing the accumulator with a constant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cond {
    Eq = 0x10,
    Gt = 0x20,
    Ge = 0x30,
}

/// Size of `struct seccomp_data`: the only memory a seccomp filter may load.
pub const SECCOMP_DATA_SIZE: u32 = 64;
/// Offset of `seccomp_data.nr`.
pub(crate) const OFF_NR: u32 = 0;
/// Offset of `seccomp_data.arch`.
pub(crate) const OFF_ARCH: u32 = 4;

/// Offset of the low (`hi == false`) or high 32-bit half of argument `idx`
/// on a little-endian machine.
pub(crate) fn off_arg(idx: usize, hi: bool) -> u32 {
    16 + 8 * idx as u32 + if hi { 4 } else { 0 }
}

/// A forward jump target, bound to a position with [`Asm::bind`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Label(usize);

enum Item {
    Insn(libc::sock_filter),
    Jump {
        cond: Cond,
        k: u32,
        jt: Label,
        jf: Label,
    },
    Ja(Label),
    Bind(Label),
}

/// Assembler: instructions with symbolic forward targets. `finish` turns
/// conditional jumps whose 8-bit offsets cannot reach into a short jump over
/// two unconditional (32-bit offset) jumps, so callers need not care about
/// distances.
#[derive(Default)]
pub(crate) struct Asm {
    items: Vec<Item>,
    labels: usize,
}

fn stmt(code: u16, k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

impl Asm {
    pub(crate) fn label(&mut self) -> Label {
        self.labels += 1;
        Label(self.labels - 1)
    }

    pub(crate) fn bind(&mut self, l: Label) {
        self.items.push(Item::Bind(l));
    }

    /// `A = *(u32 *)(seccomp_data + off)`
    pub(crate) fn load(&mut self, off: u32) {
        self.items
            .push(Item::Insn(stmt(BPF_LD | BPF_W | BPF_ABS, off)));
    }

    /// `A &= k`
    pub(crate) fn and(&mut self, k: u32) {
        self.items
            .push(Item::Insn(stmt(BPF_ALU | BPF_AND | BPF_K, k)));
    }

    /// `return k`
    pub(crate) fn ret(&mut self, k: u32) {
        self.items.push(Item::Insn(stmt(BPF_RET | BPF_K, k)));
    }

    /// `goto (A <cond> k) ? jt : jf`
    pub(crate) fn jump(&mut self, cond: Cond, k: u32, jt: Label, jf: Label) {
        self.items.push(Item::Jump { cond, k, jt, jf });
    }

    /// `if (A <cond> k) goto target;` otherwise fall through.
    pub(crate) fn jump_if(&mut self, cond: Cond, k: u32, target: Label) {
        let next = self.label();
        self.jump(cond, k, target, next);
        self.bind(next);
    }

    /// `if !(A <cond> k) goto target;` otherwise fall through.
    pub(crate) fn jump_unless(&mut self, cond: Cond, k: u32, target: Label) {
        let next = self.label();
        self.jump(cond, k, next, target);
        self.bind(next);
    }

    /// `goto l`
    pub(crate) fn ja(&mut self, l: Label) {
        self.items.push(Item::Ja(l));
    }

    /// Lays out the program. Panics on a backward or unbound label, which
    /// would be a bug in the code generator, not in the input.
    pub(crate) fn finish(self) -> Vec<libc::sock_filter> {
        // long[i]: conditional jump i is emitted in its 3-instruction form.
        let mut long = vec![false; self.items.len()];
        loop {
            let (pos, bound) = self.layout(&long);
            let mut changed = false;
            for (i, item) in self.items.iter().enumerate() {
                if let Item::Jump { jt, jf, .. } = item {
                    if !long[i] {
                        let here = pos[i] + 1;
                        let fits = |l: &Label| {
                            bound[l.0]
                                .checked_sub(here)
                                .is_some_and(|d| d <= u8::MAX as usize)
                        };
                        if !(fits(jt) && fits(jf)) {
                            long[i] = true;
                            changed = true;
                        }
                    }
                }
            }
            if !changed {
                return self.emit(&long, &pos, &bound);
            }
        }
    }

    fn layout(&self, long: &[bool]) -> (Vec<usize>, Vec<usize>) {
        let mut pos = Vec::with_capacity(self.items.len());
        let mut bound = vec![usize::MAX; self.labels];
        let mut at = 0;
        for (i, item) in self.items.iter().enumerate() {
            pos.push(at);
            at += match item {
                Item::Bind(l) => {
                    bound[l.0] = at;
                    0
                }
                Item::Jump { .. } if long[i] => 3,
                _ => 1,
            };
        }
        (pos, bound)
    }

    fn emit(&self, long: &[bool], pos: &[usize], bound: &[usize]) -> Vec<libc::sock_filter> {
        let mut out = Vec::new();
        let dist = |from: usize, l: &Label| {
            let to = bound[l.0];
            assert!(
                to != usize::MAX && to >= from,
                "BPF label {l:?} unbound or backward"
            );
            to - from
        };
        for (i, item) in self.items.iter().enumerate() {
            match item {
                Item::Insn(f) => out.push(*f),
                Item::Bind(_) => {}
                Item::Ja(l) => out.push(stmt(
                    BPF_JMP | BPF_JA,
                    u32::try_from(dist(pos[i] + 1, l)).expect("jump fits u32"),
                )),
                Item::Jump { cond, k, jt, jf } => {
                    let code = BPF_JMP | *cond as u16 | BPF_K;
                    if long[i] {
                        // if (A cond k) goto +0 (JA jt) else goto +1 (JA jf)
                        out.push(libc::sock_filter {
                            code,
                            jt: 0,
                            jf: 1,
                            k: *k,
                        });
                        let to_t = dist(pos[i] + 2, jt) as u32;
                        let to_f = dist(pos[i] + 3, jf) as u32;
                        out.push(stmt(BPF_JMP | BPF_JA, to_t));
                        out.push(stmt(BPF_JMP | BPF_JA, to_f));
                    } else {
                        let here = pos[i] + 1;
                        out.push(libc::sock_filter {
                            code,
                            jt: dist(here, jt) as u8,
                            jf: dist(here, jf) as u8,
                            k: *k,
                        });
                    }
                }
            }
        }
        out
    }
}

/// The input of a seccomp filter, as the kernel's `struct seccomp_data`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SeccompData {
    /// Syscall number (x32 calls include `__X32_SYSCALL_BIT`).
    pub nr: i32,
    /// `AUDIT_ARCH_*` of the calling ABI.
    pub arch: u32,
    /// Instruction pointer at the time of the call.
    pub instruction_pointer: u64,
    /// The six syscall arguments.
    pub args: [u64; 6],
}

impl SeccompData {
    fn word(&self, off: u32) -> u32 {
        let half = |v: u64, hi: bool| if hi { (v >> 32) as u32 } else { v as u32 };
        match off {
            0 => self.nr as u32,
            4 => self.arch,
            8 | 12 => half(self.instruction_pointer, off == 12),
            _ => {
                let i = (off as usize - 16) / 8;
                half(self.args[i], off % 8 == 4)
            }
        }
    }
}

/// Why a program is not one the kernel would accept or run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BadProgram {
    /// Empty or longer than `BPF_MAXINSNS`.
    Length(usize),
    /// Instruction `at` uses an opcode seccomp does not allow (or this
    /// interpreter does not implement).
    Opcode {
        /// Index of the instruction.
        at: usize,
        /// Its opcode.
        code: u16,
    },
    /// Instruction `at` jumps past the end.
    JumpOutOfRange {
        /// Index of the instruction.
        at: usize,
    },
    /// Instruction `at` loads outside `seccomp_data` or unaligned.
    BadLoad {
        /// Index of the instruction.
        at: usize,
    },
    /// The last instruction is not a return.
    NoFinalReturn,
}

impl fmt::Display for BadProgram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid seccomp BPF program: {self:?}")
    }
}

impl std::error::Error for BadProgram {}

/// Checks `prog` the way the kernel's `bpf_check_classic` and
/// `seccomp_check_filter` do, for the instructions this crate emits.
pub fn check(prog: &[libc::sock_filter]) -> Result<(), BadProgram> {
    if prog.is_empty() || prog.len() > libc::BPF_MAXINSNS as usize {
        return Err(BadProgram::Length(prog.len()));
    }
    for (at, f) in prog.iter().enumerate() {
        let next = at + 1;
        match f.code {
            c if c == BPF_LD | BPF_W | BPF_ABS => {
                if f.k % 4 != 0 || f.k >= SECCOMP_DATA_SIZE {
                    return Err(BadProgram::BadLoad { at });
                }
            }
            c if c == BPF_ALU | BPF_AND | BPF_K || c == BPF_RET | BPF_K => {}
            c if c == BPF_JMP | BPF_JA => {
                if next as u64 + f.k as u64 >= prog.len() as u64 {
                    return Err(BadProgram::JumpOutOfRange { at });
                }
            }
            c if [Cond::Eq, Cond::Gt, Cond::Ge]
                .iter()
                .any(|cd| c == BPF_JMP | *cd as u16 | BPF_K) =>
            {
                if next + f.jt.max(f.jf) as usize >= prog.len() {
                    return Err(BadProgram::JumpOutOfRange { at });
                }
            }
            code => return Err(BadProgram::Opcode { at, code }),
        }
    }
    if prog[prog.len() - 1].code != BPF_RET | BPF_K {
        return Err(BadProgram::NoFinalReturn);
    }
    Ok(())
}

/// Runs `prog` on `data` and returns the `SECCOMP_RET_*` value it yields,
/// after checking it with [`check`]. Only forward jumps exist in classic
/// BPF, so this always terminates.
pub fn run(prog: &[libc::sock_filter], data: &SeccompData) -> Result<u32, BadProgram> {
    check(prog)?;
    let mut a: u32 = 0;
    let mut pc = 0;
    loop {
        let f = &prog[pc];
        pc += 1;
        match f.code {
            c if c == BPF_LD | BPF_W | BPF_ABS => a = data.word(f.k),
            c if c == BPF_ALU | BPF_AND | BPF_K => a &= f.k,
            c if c == BPF_RET | BPF_K => return Ok(f.k),
            c if c == BPF_JMP | BPF_JA => pc += f.k as usize,
            c => {
                let taken = match c & 0xf0 {
                    0x10 => a == f.k,
                    0x20 => a > f.k,
                    _ => a >= f.k,
                };
                pc += if taken { f.jt } else { f.jf } as usize;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn far_conditional_jumps_are_relaxed() {
        let mut asm = Asm::default();
        let far = asm.label();
        let near = asm.label();
        asm.load(OFF_NR);
        asm.jump(Cond::Eq, 7, far, near);
        asm.bind(near);
        for _ in 0..300 {
            asm.ret(1);
        }
        asm.bind(far);
        asm.ret(2);
        let prog = asm.finish();
        check(&prog).unwrap();
        let d = |nr| SeccompData {
            nr,
            ..Default::default()
        };
        assert_eq!(run(&prog, &d(7)), Ok(2));
        assert_eq!(run(&prog, &d(8)), Ok(1));
    }

    #[test]
    fn checker_rejects_what_the_kernel_rejects() {
        assert_eq!(check(&[]), Err(BadProgram::Length(0)));
        let ld = |k| stmt(BPF_LD | BPF_W | BPF_ABS, k);
        assert_eq!(
            check(&[ld(64), stmt(BPF_RET, 0)]),
            Err(BadProgram::BadLoad { at: 0 })
        );
        assert_eq!(
            check(&[ld(2), stmt(BPF_RET, 0)]),
            Err(BadProgram::BadLoad { at: 0 })
        );
        assert_eq!(check(&[ld(0)]), Err(BadProgram::NoFinalReturn));
        assert_eq!(
            check(&[stmt(BPF_JMP | BPF_JA, 1), stmt(BPF_RET, 0)]),
            Err(BadProgram::JumpOutOfRange { at: 0 })
        );
    }
}
