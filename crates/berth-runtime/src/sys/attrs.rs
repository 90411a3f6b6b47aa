//! Process attributes without `nix` wrappers: personality, scheduler, memory policy, I/O
//! priority, rlimits, capabilities, domain name.

use nix::errno::Errno;

use super::SysResult;

/// `struct sched_attr` (the 56-byte version with utilization clamps).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SchedAttr {
    pub size: u32,
    pub policy: u32,
    pub flags: u64,
    pub nice: i32,
    pub priority: u32,
    pub runtime: u64,
    pub deadline: u64,
    pub period: u64,
    pub util_min: u32,
    pub util_max: u32,
}

fn check(r: libc::c_long) -> SysResult<()> {
    if r < 0 {
        return Err(Errno::last());
    }
    Ok(())
}

/// `personality(persona)`.
pub fn personality(persona: libc::c_ulong) -> SysResult<()> {
    // SAFETY: personality takes a plain integer.
    check(unsafe { libc::personality(persona) } as libc::c_long)
}

/// `sched_setattr(0, attr, 0)` for the calling thread.
pub fn sched_setattr(attr: &SchedAttr) -> SysResult<()> {
    // SAFETY: a pointer to a live sched_attr whose size field matches its layout.
    check(unsafe { libc::syscall(libc::SYS_sched_setattr, 0, attr as *const SchedAttr, 0) })
}

/// `set_mempolicy(mode, nodemask, maxnode)`; `mask` holds `mask.len() * 64` bits.
pub fn set_mempolicy(mode: i32, mask: &[u64]) -> SysResult<()> {
    // SAFETY: the mask holds mask.len()*64 bits; maxnode counts them plus one, as the kernel
    // expects.
    check(unsafe {
        libc::syscall(
            libc::SYS_set_mempolicy,
            mode,
            mask.as_ptr(),
            mask.len() * 64 + 1,
        )
    })
}

/// `ioprio_set(IOPRIO_WHO_PROCESS, 0, value)`.
pub fn ioprio_set(value: i32) -> SysResult<()> {
    // SAFETY: ioprio_set with integer arguments.
    check(unsafe { libc::syscall(libc::SYS_ioprio_set, 1, 0, value) })
}

/// `prlimit(0, resource, {soft, hard}, NULL)`.
pub fn set_rlimit(resource: libc::__rlimit_resource_t, soft: u64, hard: u64) -> SysResult<()> {
    let lim = libc::rlimit {
        rlim_cur: soft,
        rlim_max: hard,
    };
    // SAFETY: `lim` is a valid rlimit; a null old-limit pointer is allowed.
    check(unsafe { libc::prlimit(0, resource, &lim, std::ptr::null_mut()) } as libc::c_long)
}

/// `capset(2)` of the calling thread with 64-bit masks (`_LINUX_CAPABILITY_VERSION_3`).
pub fn capset(permitted: u64, effective: u64, inheritable: u64) -> SysResult<()> {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    let mut hdr = Header {
        version: 0x2008_0522,
        pid: 0,
    };
    let data = [
        Data {
            effective: effective as u32,
            permitted: permitted as u32,
            inheritable: inheritable as u32,
        },
        Data {
            effective: (effective >> 32) as u32,
            permitted: (permitted >> 32) as u32,
            inheritable: (inheritable >> 32) as u32,
        },
    ];
    // SAFETY: a header and a two-element data array in the layout of version 3.
    check(unsafe { libc::syscall(libc::SYS_capset, &mut hdr as *mut Header, data.as_ptr()) })
}

/// The calling thread's capability bounding set as a mask, one `PR_CAPBSET_READ` per
/// capability up to the first the kernel does not know.
pub fn bounding_set() -> u64 {
    let mut mask = 0u64;
    for cap in 0..64u64 {
        // SAFETY: plain prctl with integer arguments.
        match unsafe { libc::prctl(libc::PR_CAPBSET_READ, cap as libc::c_ulong, 0, 0, 0) } {
            1 => mask |= 1 << cap,
            0 => {}
            _ => break,
        }
    }
    mask
}

/// `PR_CAPBSET_DROP` of capability number `cap` (dropping one not in the set succeeds).
pub fn bounding_drop(cap: u32) -> SysResult<()> {
    // SAFETY: plain prctl with integer arguments.
    check(
        unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) }
            as libc::c_long,
    )
}

/// `setdomainname(name)`.
pub fn set_domainname(name: &str) -> SysResult<()> {
    // SAFETY: pointer and length describe the string's bytes.
    check(unsafe { libc::setdomainname(name.as_ptr().cast(), name.len()) } as libc::c_long)
}
