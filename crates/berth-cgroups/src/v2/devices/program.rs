//! Builds the `BPF_PROG_TYPE_CGROUP_DEVICE` program for a device rule list.
//! A pure function of the rules, so it is unit-tested on the instructions
//! and with a tiny interpreter, without loading anything into a kernel.
//!
//! The program sees `struct bpf_cgroup_dev_ctx { u32 access_type; u32 major;
//! u32 minor; }` in r1, where `access_type = access << 16 | type`, and returns
//! 1 to allow or 0 to deny. Rules are checked from the last to the first, so
//! the last matching rule decides; if none matches the access is denied.

use crate::devices::{DeviceKind, DeviceRule, ACCESS_ALL};

/// One eBPF instruction (`struct bpf_insn`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    /// Opcode.
    pub code: u8,
    /// Destination register.
    pub dst: u8,
    /// Source register.
    pub src: u8,
    /// Offset (memory offset or jump distance).
    pub off: i16,
    /// Immediate.
    pub imm: i32,
}

impl Insn {
    /// The 8-byte wire form (little-endian hosts; x86_64 and aarch64).
    pub fn to_bytes(self) -> [u8; 8] {
        let mut b = [0u8; 8];
        b[0] = self.code;
        b[1] = (self.src << 4) | (self.dst & 0x0f);
        b[2..4].copy_from_slice(&self.off.to_le_bytes());
        b[4..8].copy_from_slice(&self.imm.to_le_bytes());
        b
    }
}

// Opcodes used (class | op | source), from linux/bpf.h.
pub(crate) const LDX_MEM_W: u8 = 0x61;
pub(crate) const ALU32_AND_K: u8 = 0x54;
pub(crate) const ALU32_RSH_K: u8 = 0x74;
pub(crate) const ALU32_MOV_X: u8 = 0xbc;
pub(crate) const ALU64_MOV_K: u8 = 0xb7;
pub(crate) const JMP32_JNE_K: u8 = 0x56;
pub(crate) const JMP32_JEQ_K: u8 = 0x16;
pub(crate) const EXIT: u8 = 0x95;

const R0: u8 = 0;
const R1: u8 = 1;
const R_TYPE: u8 = 2;
const R_ACCESS: u8 = 3;
const R_MAJOR: u8 = 4;
const R_MINOR: u8 = 5;

/// `BPF_DEVCG_DEV_BLOCK` / `BPF_DEVCG_DEV_CHAR`.
const DEV_BLOCK: i32 = 1;
const DEV_CHAR: i32 = 2;

fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        dst,
        src,
        off,
        imm,
    }
}

/// Builds the program enforcing `rules` (deny-all, then rules in order).
pub fn build_program(rules: &[DeviceRule]) -> Vec<Insn> {
    let mut prog = vec![
        insn(LDX_MEM_W, R_TYPE, R1, 0, 0),
        insn(ALU32_AND_K, R_TYPE, 0, 0, 0xffff),
        insn(LDX_MEM_W, R_ACCESS, R1, 0, 0),
        insn(ALU32_RSH_K, R_ACCESS, 0, 0, 16),
        insn(LDX_MEM_W, R_MAJOR, R1, 4, 0),
        insn(LDX_MEM_W, R_MINOR, R1, 8, 0),
    ];
    for rule in rules.iter().rev() {
        let (block, unconditional) = rule_block(rule);
        prog.extend(block);
        if unconditional {
            // Earlier rules can never be reached.
            return prog;
        }
    }
    prog.push(insn(ALU64_MOV_K, R0, 0, 0, 0));
    prog.push(insn(EXIT, 0, 0, 0, 0));
    prog
}

/// The checks for one rule; every check jumps past the block on mismatch.
fn rule_block(rule: &DeviceRule) -> (Vec<Insn>, bool) {
    // Checks hold a placeholder offset, fixed once the block length is known.
    let mut checks: Vec<Insn> = Vec::new();
    match rule.kind {
        DeviceKind::All => {}
        DeviceKind::Block => checks.push(insn(JMP32_JNE_K, R_TYPE, 0, 0, DEV_BLOCK)),
        DeviceKind::Char => checks.push(insn(JMP32_JNE_K, R_TYPE, 0, 0, DEV_CHAR)),
    }
    if rule.access != ACCESS_ALL {
        checks.push(insn(ALU32_MOV_X, R0, R_ACCESS, 0, 0));
        if rule.allow {
            // An allow rule matches when it covers every requested bit.
            checks.push(insn(
                ALU32_AND_K,
                R0,
                0,
                0,
                i32::from(!rule.access & ACCESS_ALL),
            ));
            checks.push(insn(JMP32_JNE_K, R0, 0, 0, 0));
        } else {
            // A deny rule matches when it covers any requested bit.
            checks.push(insn(ALU32_AND_K, R0, 0, 0, i32::from(rule.access)));
            checks.push(insn(JMP32_JEQ_K, R0, 0, 0, 0));
        }
    }
    if let Some(major) = rule.major {
        checks.push(insn(JMP32_JNE_K, R_MAJOR, 0, 0, major as i32));
    }
    if let Some(minor) = rule.minor {
        checks.push(insn(JMP32_JNE_K, R_MINOR, 0, 0, minor as i32));
    }
    let unconditional = checks.is_empty();
    let len = checks.len() + 2;
    for (i, c) in checks.iter_mut().enumerate() {
        if c.code == JMP32_JNE_K || c.code == JMP32_JEQ_K {
            // Jump to the first instruction after this block.
            c.off = (len - 1 - i) as i16;
        }
    }
    checks.push(insn(ALU64_MOV_K, R0, 0, 0, i32::from(rule.allow)));
    checks.push(insn(EXIT, 0, 0, 0, 0));
    (checks, unconditional)
}

/// Runs `prog` on one device access, as the kernel would; test helper.
#[cfg(test)]
pub(crate) fn interpret(
    prog: &[Insn],
    kind: DeviceKind,
    major: u32,
    minor: u32,
    access: u8,
) -> u64 {
    let ty = match kind {
        DeviceKind::Block => DEV_BLOCK as u32,
        DeviceKind::Char => DEV_CHAR as u32,
        DeviceKind::All => panic!("an access is to a block or a char device"),
    };
    let ctx = [(u32::from(access) << 16) | ty, major, minor];
    let mut r = [0u64; 11];
    let mut pc = 0usize;
    loop {
        let i = prog[pc];
        let (d, s) = (usize::from(i.dst), usize::from(i.src));
        pc += 1;
        match i.code {
            LDX_MEM_W => {
                assert_eq!(s, 1, "loads only from ctx");
                r[d] = u64::from(ctx[(i.off / 4) as usize]);
            }
            ALU32_AND_K => r[d] = u64::from((r[d] as u32) & (i.imm as u32)),
            ALU32_RSH_K => r[d] = u64::from((r[d] as u32) >> i.imm),
            ALU32_MOV_X => r[d] = u64::from(r[s] as u32),
            ALU64_MOV_K => r[d] = i.imm as i64 as u64,
            JMP32_JNE_K if (r[d] as u32) != (i.imm as u32) => pc += i.off as usize,
            JMP32_JEQ_K if (r[d] as u32) == (i.imm as u32) => pc += i.off as usize,
            JMP32_JNE_K | JMP32_JEQ_K => {}
            EXIT => return r[0],
            c => panic!("unexpected opcode {c:#x}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devices::{ACCESS_MKNOD, ACCESS_READ, ACCESS_WRITE};

    const RW: u8 = ACCESS_READ | ACCESS_WRITE;

    fn rule(
        allow: bool,
        kind: DeviceKind,
        major: Option<u32>,
        minor: Option<u32>,
        access: u8,
    ) -> DeviceRule {
        DeviceRule {
            allow,
            kind,
            major,
            minor,
            access,
        }
    }

    #[test]
    fn empty_rule_list_denies_everything() {
        let p = build_program(&[]);
        assert_eq!(p.len(), 8);
        assert_eq!(p[6], insn(ALU64_MOV_K, 0, 0, 0, 0));
        assert_eq!(p[7].code, EXIT);
        assert_eq!(interpret(&p, DeviceKind::Char, 1, 3, ACCESS_READ), 0);
    }

    #[test]
    fn exact_instructions_for_one_char_rule() {
        let p = build_program(&[rule(true, DeviceKind::Char, Some(1), Some(3), RW)]);
        let block = &p[6..];
        assert_eq!(
            block,
            &[
                // A jump lands at pc + 1 + off: all go to the default deny.
                insn(JMP32_JNE_K, 2, 0, 7, DEV_CHAR),
                insn(ALU32_MOV_X, 0, 3, 0, 0),
                insn(ALU32_AND_K, 0, 0, 0, i32::from(ACCESS_MKNOD)),
                insn(JMP32_JNE_K, 0, 0, 4, 0),
                insn(JMP32_JNE_K, 4, 0, 3, 1),
                insn(JMP32_JNE_K, 5, 0, 2, 3),
                insn(ALU64_MOV_K, 0, 0, 0, 1),
                insn(EXIT, 0, 0, 0, 0),
                insn(ALU64_MOV_K, 0, 0, 0, 0),
                insn(EXIT, 0, 0, 0, 0),
            ]
        );
    }

    #[test]
    fn allow_all_rule_is_unconditional_and_stops() {
        let p = build_program(&[
            rule(false, DeviceKind::Char, Some(1), Some(3), ACCESS_ALL),
            rule(true, DeviceKind::All, None, None, ACCESS_ALL),
        ]);
        // prologue + "r0 = 1; exit", the earlier rule is unreachable.
        assert_eq!(p.len(), 8);
        assert_eq!(interpret(&p, DeviceKind::Char, 1, 3, ACCESS_READ), 1);
    }

    #[test]
    fn last_matching_rule_wins() {
        let rules = [
            rule(true, DeviceKind::Char, Some(1), None, ACCESS_ALL),
            rule(false, DeviceKind::Char, Some(1), Some(5), ACCESS_WRITE),
        ];
        let p = build_program(&rules);
        assert_eq!(interpret(&p, DeviceKind::Char, 1, 3, RW), 1);
        assert_eq!(interpret(&p, DeviceKind::Char, 1, 5, ACCESS_READ), 1);
        assert_eq!(interpret(&p, DeviceKind::Char, 1, 5, ACCESS_WRITE), 0);
        assert_eq!(
            interpret(&p, DeviceKind::Char, 1, 5, RW),
            0,
            "deny matches any denied bit"
        );
        assert_eq!(
            interpret(&p, DeviceKind::Block, 1, 3, ACCESS_READ),
            0,
            "type is checked"
        );
        assert_eq!(
            interpret(&p, DeviceKind::Char, 2, 3, ACCESS_READ),
            0,
            "default deny"
        );
    }

    #[test]
    fn allow_needs_every_requested_bit() {
        let p = build_program(&[rule(true, DeviceKind::Block, Some(8), Some(0), ACCESS_READ)]);
        assert_eq!(interpret(&p, DeviceKind::Block, 8, 0, ACCESS_READ), 1);
        assert_eq!(interpret(&p, DeviceKind::Block, 8, 0, RW), 0);
        assert_eq!(interpret(&p, DeviceKind::Block, 8, 0, ACCESS_MKNOD), 0);
    }

    #[test]
    fn wildcard_type_matches_block_and_char() {
        let p = build_program(&[rule(true, DeviceKind::All, None, None, ACCESS_MKNOD)]);
        assert_eq!(interpret(&p, DeviceKind::Block, 7, 7, ACCESS_MKNOD), 1);
        assert_eq!(interpret(&p, DeviceKind::Char, 7, 7, ACCESS_MKNOD), 1);
        assert_eq!(interpret(&p, DeviceKind::Char, 7, 7, ACCESS_READ), 0);
    }

    #[test]
    fn large_numbers_compare_as_u32() {
        let p = build_program(&[rule(
            true,
            DeviceKind::Char,
            Some(0xffff_fff0),
            None,
            ACCESS_ALL,
        )]);
        assert_eq!(
            interpret(&p, DeviceKind::Char, 0xffff_fff0, 1, ACCESS_READ),
            1
        );
        assert_eq!(
            interpret(&p, DeviceKind::Char, 0x7fff_fff0, 1, ACCESS_READ),
            0
        );
    }

    #[test]
    fn wire_encoding_packs_registers() {
        let b = insn(LDX_MEM_W, 4, 1, 4, 0).to_bytes();
        assert_eq!(b, [0x61, 0x14, 4, 0, 0, 0, 0, 0]);
    }
}
