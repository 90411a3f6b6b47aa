//! The process's own attributes, applied in the init or the exec'd process: rlimits,
//! `oomScoreAdj`, scheduler and friends, the working directory, and the identity (user,
//! groups, capabilities, no_new_privs).

use std::path::Path;

use caps::CapSet;
use nix::errno::Errno;

use crate::plan::attributes::Attributes;
use crate::plan::capabilities::{self, CapsPlan};
use crate::plan::ProcessPlan;
use crate::procfs::Proc;
use crate::sys::attrs;
use crate::{Error, Result};

/// Sets the rlimits (before the uid change: raising a hard limit needs privilege).
pub fn rlimits(p: &ProcessPlan) -> Result<()> {
    for r in &p.rlimits {
        attrs::set_rlimit(r.resource, r.soft, r.hard).map_err(|e| {
            Error::call("setrlimit", e).in_field(format!("process.rlimits ({})", r.name))
        })?;
    }
    Ok(())
}

/// Writes `oomScoreAdj` for the calling process.
pub fn oom_score_adj(p: &ProcessPlan, proc: &Proc) -> Result<()> {
    if let Some(adj) = p.oom_score_adj {
        proc.write("self/oom_score_adj", adj.to_string().as_bytes())
            .map_err(|e| e.in_field("process.oomScoreAdj"))?;
    }
    Ok(())
}

/// Personality, scheduler, memory policy and I/O priority (before the identity change:
/// real-time policies need privilege), then the initial CPU affinity.
pub fn attributes(a: &Attributes) -> Result<()> {
    if let Some(p) = a.personality {
        attrs::personality(p as libc::c_ulong)
            .map_err(|e| Error::call("personality", e).in_field("linux.personality"))?;
    }
    if let Some(s) = &a.sched {
        attrs::sched_setattr(s)
            .map_err(|e| Error::call("sched_setattr", e).in_field("process.scheduler"))?;
    }
    if let Some((mode, mask)) = &a.mempolicy {
        attrs::set_mempolicy(*mode, mask)
            .map_err(|e| Error::call("set_mempolicy", e).in_field("linux.memoryPolicy"))?;
    }
    if let Some(v) = a.ioprio {
        attrs::ioprio_set(v)
            .map_err(|e| Error::call("ioprio_set", e).in_field("process.ioPriority"))?;
    }
    if let Some(cpus) = &a.cpus_initial {
        set_affinity(cpus).map_err(|e| e.in_field("process.execCPUAffinity.initial"))?;
    }
    Ok(())
}

/// Sets the CPU affinity of the calling process.
pub fn set_affinity(cpus: &[usize]) -> Result<()> {
    let mut set = nix::sched::CpuSet::new();
    for c in cpus {
        set.set(*c).map_err(|e| Error::call("cpu set", e))?;
    }
    nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set)
        .map_err(|e| Error::call("sched_setaffinity", e))
}

/// Changes into `process.cwd` (made if missing, inside the root, as runc does) and checks
/// that it is inside the root: a cwd reached through a leaked fd would not be
/// (CVE-2024-21626), and `getcwd` says so.
pub fn cwd(cwd: &Path, field: &str) -> Result<()> {
    let f = || format!("{field}.cwd");
    if let Err(e) = nix::unistd::chdir(cwd) {
        if e != Errno::ENOENT {
            return Err(Error::sys("chdir", cwd, e).in_field(f()));
        }
        std::fs::create_dir_all(cwd).map_err(|e| Error::io("create", cwd, e).in_field(f()))?;
        nix::unistd::chdir(cwd).map_err(|e| Error::sys("chdir", cwd, e).in_field(f()))?;
    }
    match nix::unistd::getcwd() {
        Ok(p) if p.is_absolute() => Ok(()),
        _ => Err(Error::config(f(), "is outside the container's root")),
    }
}

/// Drops the bounding set, switches to the configured user and group while keeping
/// capabilities, then sets the remaining capability sets and `no_new_privs`.
pub fn identity(p: &ProcessPlan) -> Result<()> {
    let field = "process.capabilities";
    apply_bounding(&p.caps).map_err(|e| e.in_field(field))?;
    prctl::set_keep_capabilities(true)
        .map_err(|e| Error::call("prctl(PR_SET_KEEPCAPS)", Errno::from_raw(e)))?;
    let gids: Vec<nix::unistd::Gid> = p.additional_gids.iter().map(|g| (*g).into()).collect();
    // setgroups is refused in a user namespace whose gid map was written without privilege
    // ("deny"); that is only an error if groups were asked for.
    if let Err(e) = nix::unistd::setgroups(&gids) {
        if !(e == Errno::EPERM && gids.is_empty()) {
            return Err(Error::call("setgroups", e).in_field("process.user.additionalGids"));
        }
    }
    let gid = nix::unistd::Gid::from_raw(p.gid);
    nix::unistd::setresgid(gid, gid, gid)
        .map_err(|e| Error::call("setresgid", e).in_field("process.user.gid"))?;
    let uid = nix::unistd::Uid::from_raw(p.uid);
    nix::unistd::setresuid(uid, uid, uid)
        .map_err(|e| Error::call("setresuid", e).in_field("process.user.uid"))?;
    prctl::set_keep_capabilities(false)
        .map_err(|e| Error::call("prctl(PR_SET_KEEPCAPS)", Errno::from_raw(e)))?;
    apply_sets(&p.caps).map_err(|e| e.in_field(field))?;
    if let Some(mask) = p.umask {
        nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(mask));
    }
    if p.no_new_privileges {
        prctl::set_no_new_privileges(true)
            .map_err(|e| Error::call("prctl(PR_SET_NO_NEW_PRIVS)", Errno::from_raw(e)))?;
    }
    Ok(())
}

fn mask_of(set: CapSet) -> u64 {
    caps::read(None, set)
        .map(|s| s.iter().fold(0u64, |m, c| m | c.bitmask()))
        .unwrap_or(0)
}

/// Drops everything outside the bounding set. Needs CAP_SETPCAP, so it runs while the
/// process still has its full sets, before the uid change.
fn apply_bounding(c: &CapsPlan) -> Result<()> {
    let Some(keep) = c.bounding else {
        return Ok(());
    };
    // Each capability outside `keep` is dropped without reading the set first (a drop of one
    // not held succeeds), up to the first number the kernel does not know. Without
    // CAP_SETPCAP every drop fails: then the set is read once, and only one that is held is
    // an error.
    let mut held = None;
    for cap in 0..64u32 {
        let bit = 1u64 << cap;
        if keep & bit != 0 {
            continue;
        }
        match attrs::bounding_drop(cap) {
            Ok(()) => {}
            Err(Errno::EINVAL) => break,
            // Without CAP_SETPCAP: fine for one that is not held anyway.
            Err(_) if *held.get_or_insert_with(attrs::bounding_set) & bit == 0 => {}
            Err(e) => {
                return Err(Error::Invalid {
                    what: "drop from the bounding set",
                    msg: format!("{}: {e}", capabilities::names(bit)),
                })
            }
        }
    }
    Ok(())
}

/// Sets permitted, effective and inheritable in one `capset` (no intermediate state has to
/// be valid on its own), then the ambient set; called after the uid change (keep-caps on).
fn apply_sets(c: &CapsPlan) -> Result<()> {
    let permitted = c.permitted.unwrap_or_else(|| mask_of(CapSet::Permitted));
    let effective = c.effective.unwrap_or_else(|| mask_of(CapSet::Effective));
    let inheritable = c
        .inheritable
        .unwrap_or_else(|| mask_of(CapSet::Inheritable));
    if let Err(e) = attrs::capset(permitted, effective, inheritable) {
        // Name what could not be had: what is asked beyond what the process holds.
        let held = mask_of(CapSet::Permitted) | mask_of(CapSet::Bounding);
        let missing = (permitted | effective | inheritable) & !held;
        let what = if missing == 0 {
            format!(
                "permitted {}; effective {}; inheritable {}",
                capabilities::names(permitted),
                capabilities::names(effective),
                capabilities::names(inheritable)
            )
        } else {
            capabilities::names(missing)
        };
        return Err(Error::Invalid {
            what: "set capabilities",
            msg: format!("{what}: {e}"),
        });
    }
    if let Some(a) = c.ambient {
        caps::clear(None, CapSet::Ambient).map_err(|e| Error::Invalid {
            what: "clear the ambient capabilities",
            msg: e.to_string(),
        })?;
        for cap in caps::all() {
            // Raising an ambient capability that is not both permitted and inheritable fails;
            // runc ignores those, and so does berth.
            if a & cap.bitmask() != 0 {
                let _ = caps::raise(None, CapSet::Ambient, cap);
            }
        }
    }
    Ok(())
}
