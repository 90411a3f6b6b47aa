//! Process attributes of runtime-spec 1.2/1.3: personality, scheduler, I/O priority,
//! execCPUAffinity and the memory policy, parsed into plain values (applied in `setup`).

use oci_spec::runtime::{
    IOPriorityClass, LinuxMemoryPolicy, LinuxPersonality, LinuxPersonalityDomain,
    LinuxSchedulerFlag, LinuxSchedulerPolicy, MemoryPolicyFlagType, MemoryPolicyModeType, Process,
};

use crate::{Error, Result};

pub use crate::sys::attrs::SchedAttr;

/// The attributes to apply; all optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Attributes {
    pub personality: Option<u64>,
    pub sched: Option<SchedAttr>,
    /// `ioprio_set` value: class << 13 | level.
    pub ioprio: Option<i32>,
    pub cpus_initial: Option<Vec<usize>>,
    pub cpus_final: Option<Vec<usize>>,
    /// `linux.memoryPolicy`: mode (with flags) and node mask for `set_mempolicy`.
    pub mempolicy: Option<(i32, Vec<u64>)>,
}

/// Node masks are passed with room for this many nodes.
pub const MAX_NODES: usize = 1024;

fn memory_policy(p: &LinuxMemoryPolicy) -> Result<(i32, Vec<u64>)> {
    let field = "linux.memoryPolicy";
    let mode = match p.mode() {
        MemoryPolicyModeType::MpolDefault => 0,
        MemoryPolicyModeType::MpolPreferred => 1,
        MemoryPolicyModeType::MpolBind => 2,
        MemoryPolicyModeType::MpolInterleave => 3,
        MemoryPolicyModeType::MpolLocal => 4,
        MemoryPolicyModeType::MpolPreferredMany => 5,
        MemoryPolicyModeType::MpolWeightedInterleave => 6,
    };
    let mut flags = 0;
    for f in p.flags().as_deref().unwrap_or_default() {
        flags |= match f {
            MemoryPolicyFlagType::MpolFNumaBalancing => 1 << 13,
            MemoryPolicyFlagType::MpolFRelativeNodes => 1 << 14,
            MemoryPolicyFlagType::MpolFStaticNodes => 1 << 15,
        };
    }
    let nodes = match p.nodes().as_deref().filter(|n| !n.is_empty()) {
        Some(n) => parse_cpu_list(&format!("{field}.nodes"), n)?,
        None => Vec::new(),
    };
    if (mode == 0 || mode == 4) && !nodes.is_empty() {
        return Err(Error::config(
            format!("{field}.nodes"),
            "must be empty for MPOL_DEFAULT and MPOL_LOCAL",
        ));
    }
    if matches!(mode, 2 | 3 | 5 | 6) && nodes.is_empty() {
        return Err(Error::config(
            format!("{field}.nodes"),
            "this mode needs nodes",
        ));
    }
    let mut mask = vec![0u64; MAX_NODES / 64];
    for n in nodes {
        if n >= MAX_NODES {
            return Err(Error::config(
                format!("{field}.nodes"),
                format!("node {n} is out of range"),
            ));
        }
        mask[n / 64] |= 1 << (n % 64);
    }
    Ok((mode | flags, mask))
}

/// Parses a cpu list such as `0-3,7`.
pub fn parse_cpu_list(field: &str, s: &str) -> Result<Vec<usize>> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let bad = || Error::config(field, format!("invalid cpu list {s:?}"));
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (usize, usize) =
                    (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
                if a > b || b >= 8192 {
                    return Err(bad());
                }
                out.extend(a..=b);
            }
            None => {
                let c: usize = part.parse().map_err(|_| bad())?;
                if c >= 8192 {
                    return Err(bad());
                }
                out.push(c);
            }
        }
    }
    if out.is_empty() {
        return Err(Error::config(field, "empty cpu list"));
    }
    Ok(out)
}

fn personality(field: &str, p: &LinuxPersonality) -> Result<u64> {
    if p.flags().as_ref().is_some_and(|f| !f.is_empty()) {
        return Err(Error::config(
            format!("{field}.flags"),
            "no personality flags are supported",
        ));
    }
    Ok(match p.domain() {
        LinuxPersonalityDomain::PerLinux => 0x0000,
        LinuxPersonalityDomain::PerLinux32 => 0x0008,
    })
}

/// Translates `process` (scheduler, ioPriority, execCPUAffinity), `linux.personality` and
/// `linux.memoryPolicy`.
pub fn plan(
    field: &str,
    p: &Process,
    pers: Option<&LinuxPersonality>,
    mempolicy: Option<&LinuxMemoryPolicy>,
) -> Result<Attributes> {
    let mut a = Attributes::default();
    if let Some(m) = mempolicy {
        a.mempolicy = Some(memory_policy(m)?);
    }
    if let Some(pe) = pers {
        a.personality = Some(personality("linux.personality", pe)?);
    }
    if let Some(s) = p.scheduler() {
        let f = format!("{field}.scheduler");
        let policy = match s.policy() {
            LinuxSchedulerPolicy::SchedOther => libc::SCHED_OTHER,
            LinuxSchedulerPolicy::SchedFifo => libc::SCHED_FIFO,
            LinuxSchedulerPolicy::SchedRr => libc::SCHED_RR,
            LinuxSchedulerPolicy::SchedBatch => libc::SCHED_BATCH,
            LinuxSchedulerPolicy::SchedIdle => libc::SCHED_IDLE,
            LinuxSchedulerPolicy::SchedDeadline => 6,
            LinuxSchedulerPolicy::SchedIso => {
                return Err(Error::config(
                    format!("{f}.policy"),
                    "SCHED_ISO is not implemented by Linux",
                ))
            }
        } as u32;
        let mut flags = 0u64;
        for fl in s.flags().as_deref().unwrap_or_default() {
            flags |= match fl {
                LinuxSchedulerFlag::SchedResetOnFork => 0x01,
                LinuxSchedulerFlag::SchedFlagReclaim => 0x02,
                LinuxSchedulerFlag::SchedFlagDLOverrun => 0x04,
                LinuxSchedulerFlag::SchedFlagKeepPolicy => 0x08,
                LinuxSchedulerFlag::SchedFlagKeepParams => 0x10,
                LinuxSchedulerFlag::SchedFlagUtilClampMin => 0x20,
                LinuxSchedulerFlag::SchedFlagUtilClampMax => 0x40,
            };
        }
        let nice = s.nice().unwrap_or(0);
        if !(-20..=19).contains(&nice) {
            return Err(Error::config(
                format!("{f}.nice"),
                format!("{nice} is outside -20..19"),
            ));
        }
        let priority = s.priority().unwrap_or(0);
        let rt = policy == libc::SCHED_FIFO as u32 || policy == libc::SCHED_RR as u32;
        if rt && !(1..=99).contains(&priority) || !rt && priority != 0 {
            return Err(Error::config(
                format!("{f}.priority"),
                format!("{priority} does not fit the policy"),
            ));
        }
        a.sched = Some(SchedAttr {
            size: std::mem::size_of::<SchedAttr>() as u32,
            policy,
            flags,
            nice,
            priority: priority as u32,
            runtime: s.runtime().unwrap_or(0),
            deadline: s.deadline().unwrap_or(0),
            period: s.period().unwrap_or(0),
            util_min: 0,
            util_max: 0,
        });
    }
    if let Some(io) = p.io_priority() {
        let class = match io.class() {
            IOPriorityClass::IoprioClassRt => 1,
            IOPriorityClass::IoprioClassBe => 2,
            IOPriorityClass::IoprioClassIdle => 3,
        };
        let level = io.priority();
        if !(0..=7).contains(&level) {
            return Err(Error::config(
                format!("{field}.ioPriority.priority"),
                format!("{level} is outside 0..7"),
            ));
        }
        a.ioprio = Some(class << 13 | level as i32);
    }
    if let Some(aff) = p.exec_cpu_affinity() {
        if let Some(i) = aff.initial() {
            a.cpus_initial = Some(parse_cpu_list(
                &format!("{field}.execCPUAffinity.initial"),
                i,
            )?);
        }
        if let Some(f) = aff.cpu_affinity_final() {
            a.cpus_final = Some(parse_cpu_list(
                &format!("{field}.execCPUAffinity.final"),
                f,
            )?);
        }
    }
    Ok(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpu_list("f", "0-2,5").unwrap(), vec![0, 1, 2, 5]);
        assert_eq!(parse_cpu_list("f", "1").unwrap(), vec![1]);
        assert!(parse_cpu_list("f", "3-1").is_err());
        assert!(parse_cpu_list("f", "x").is_err());
        assert!(parse_cpu_list("f", "").is_err());
    }

    #[test]
    fn scheduler_and_ioprio() {
        let p: Process = serde_json::from_str(
            r#"{"user":{"uid":0,"gid":0},"cwd":"/","args":["sh"],
                "scheduler":{"policy":"SCHED_BATCH","nice":5},
                "ioPriority":{"class":"IOPRIO_CLASS_IDLE","priority":7},
                "execCPUAffinity":{"initial":"0","final":"0-1"}}"#,
        )
        .unwrap();
        let a = plan("process", &p, None, None).unwrap();
        let s = a.sched.unwrap();
        assert_eq!(
            (s.policy, s.nice, s.size),
            (libc::SCHED_BATCH as u32, 5, 56)
        );
        assert_eq!(a.ioprio, Some(3 << 13 | 7));
        assert_eq!(a.cpus_final, Some(vec![0, 1]));
        let bad: Process = serde_json::from_str(
            r#"{"user":{"uid":0,"gid":0},"cwd":"/","args":["sh"],"scheduler":{"policy":"SCHED_FIFO","priority":0}}"#,
        )
        .unwrap();
        assert!(plan("process", &bad, None, None)
            .unwrap_err()
            .to_string()
            .contains("process.scheduler.priority"));
    }
}
