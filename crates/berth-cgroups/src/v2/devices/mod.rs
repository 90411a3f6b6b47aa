//! `linux.resources.devices` on cgroup v2: there is no devices controller,
//! so an eBPF `BPF_PROG_TYPE_CGROUP_DEVICE` program built from the rules is
//! attached to the cgroup directory, replacing the one attached before.

pub mod program;

use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

use nix::errno::Errno;

use crate::devices::DeviceRule;
use crate::error::{CgroupError, Result};
use program::{build_program, Insn};

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_DETACH: libc::c_long = 9;
const BPF_PROG_GET_FD_BY_ID: libc::c_long = 13;
const BPF_PROG_QUERY: libc::c_long = 16;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;

// The parts of `union bpf_attr` each command uses; the kernel accepts a
// shorter attr as long as the size passed matches.
#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
}

#[repr(C)]
#[derive(Default)]
struct AttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
}

#[repr(C)]
#[derive(Default)]
struct QueryAttr {
    target_fd: u32,
    attach_type: u32,
    query_flags: u32,
    attach_flags: u32,
    prog_ids: u64,
    prog_cnt: u32,
    _pad: u32,
}

#[repr(C)]
#[derive(Default)]
struct GetFdByIdAttr {
    prog_id: u32,
    next_id: u32,
    open_flags: u32,
}

/// Calls bpf(2) with `attr`; returns the non-negative result.
fn bpf<T>(cmd: libc::c_long, attr: &mut T) -> std::result::Result<i64, Errno> {
    // SAFETY: `attr` is a live, initialised #[repr(C)] struct laid out as the
    // prefix of `union bpf_attr` for `cmd`, and its exact size is passed, so
    // the kernel reads and writes only within it. Pointers inside it point
    // to buffers that outlive the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut T as *mut libc::c_void,
            std::mem::size_of::<T>() as libc::c_uint,
        )
    };
    if r < 0 {
        Err(Errno::last())
    } else {
        Ok(r)
    }
}

/// Takes ownership of a descriptor just returned by bpf(2).
fn owned(fd: i64) -> OwnedFd {
    // SAFETY: bpf(2) returned this new descriptor to us; nothing else owns it.
    unsafe { OwnedFd::from_raw_fd(fd as RawFd) }
}

/// Loads the program for `rules` and attaches it to the cgroup `dir`, then
/// detaches any device program attached earlier (attach first so the cgroup
/// is never left without a filter). `replace` false skips the query for
/// earlier programs: the caller has just made the cgroup.
pub fn apply(dir: &Path, rules: &[DeviceRule], replace: bool) -> Result<()> {
    let insns = build_program(&crate::devices::effective(rules));
    let cgroup = File::open(dir).map_err(|e| CgroupError::io("open", dir, e))?;
    let old = if replace {
        query_attached(&cgroup, dir)?
    } else {
        Vec::new()
    };
    let prog = load(&insns, dir)?;
    let mut attach = AttachAttr {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
    };
    bpf(BPF_PROG_ATTACH, &mut attach)
        .map_err(|e| CgroupError::sys("bpf(BPF_PROG_ATTACH)", dir, e))?;
    for id in old {
        let mut get = GetFdByIdAttr {
            prog_id: id,
            ..Default::default()
        };
        let old_prog = match bpf(BPF_PROG_GET_FD_BY_ID, &mut get) {
            Ok(fd) => owned(fd),
            // Detached by someone else meanwhile.
            Err(Errno::ENOENT) => continue,
            Err(e) => return Err(CgroupError::sys("bpf(BPF_PROG_GET_FD_BY_ID)", dir, e)),
        };
        let mut detach = AttachAttr {
            target_fd: cgroup.as_raw_fd() as u32,
            attach_bpf_fd: old_prog.as_raw_fd() as u32,
            attach_type: BPF_CGROUP_DEVICE,
            attach_flags: 0,
        };
        match bpf(BPF_PROG_DETACH, &mut detach) {
            Ok(_) | Err(Errno::ENOENT) => {}
            Err(e) => return Err(CgroupError::sys("bpf(BPF_PROG_DETACH)", dir, e)),
        }
    }
    Ok(())
}

/// Ids of the device programs attached directly to the cgroup.
fn query_attached(cgroup: &File, dir: &Path) -> Result<Vec<u32>> {
    let mut ids = vec![0u32; 64];
    let mut q = QueryAttr {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        prog_ids: ids.as_mut_ptr() as u64,
        prog_cnt: ids.len() as u32,
        ..Default::default()
    };
    bpf(BPF_PROG_QUERY, &mut q).map_err(|e| CgroupError::sys("bpf(BPF_PROG_QUERY)", dir, e))?;
    ids.truncate(q.prog_cnt as usize);
    Ok(ids)
}

/// Number of device programs attached to the cgroup `dir`.
pub fn attached_count(dir: &Path) -> Result<usize> {
    let cgroup = File::open(dir).map_err(|e| CgroupError::io("open", dir, e))?;
    Ok(query_attached(&cgroup, dir)?.len())
}

fn load(insns: &[Insn], dir: &Path) -> Result<OwnedFd> {
    let bytes: Vec<u8> = insns.iter().flat_map(|i| i.to_bytes()).collect();
    let license = c"Apache-2.0";
    let mut log = vec![0u8; 16 * 1024];
    let mut attr = ProgLoadAttr {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: insns.len() as u32,
        insns: bytes.as_ptr() as u64,
        license: license.as_ptr() as u64,
        ..Default::default()
    };
    match bpf(BPF_PROG_LOAD, &mut attr) {
        Ok(fd) => Ok(owned(fd)),
        Err(_) => {
            // Load again with the verifier log, to say why it was refused.
            attr.log_level = 1;
            attr.log_size = log.len() as u32;
            attr.log_buf = log.as_mut_ptr() as u64;
            match bpf(BPF_PROG_LOAD, &mut attr) {
                Ok(fd) => Ok(owned(fd)),
                Err(e) => {
                    let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
                    let msg = String::from_utf8_lossy(&log[..end]).trim().to_string();
                    Err(CgroupError::BpfLoad {
                        path: dir.to_path_buf(),
                        errno: e,
                        log: msg,
                    })
                }
            }
        }
    }
}
