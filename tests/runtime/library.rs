//! berth-runtime used as a library (as a shim links it): verbs from several threads of one
//! process, with no side effects on the process. berth only: this is its API.

use std::io::{BufRead, BufReader, Read};
use std::os::fd::OwnedFd;

use berth_runtime::{CreateOptions, ExecOptions, Overrides, Runtime, Status, Stdio};

use super::harness::Ctx;

fn pipe() -> (std::fs::File, OwnedFd) {
    let (r, w) = nix::unistd::pipe().unwrap();
    (std::fs::File::from(r), w)
}

fn caller_view() -> (Vec<u64>, std::path::PathBuf, usize) {
    let ns: Vec<u64> = ["mnt", "pid", "net", "user", "uts", "ipc", "cgroup", "time"]
        .iter()
        .map(|n| {
            std::os::unix::fs::MetadataExt::ino(
                &std::fs::metadata(format!("/proc/self/ns/{n}")).unwrap(),
            )
        })
        .collect();
    (
        ns,
        std::env::current_dir().unwrap(),
        std::env::vars().count(),
    )
}

/// One container's whole life through the library, from the calling thread.
fn lifecycle(n: usize) -> Result<(), String> {
    let mut c = Ctx::new();
    c.sh("echo started; sleep 60");
    c.write_config();
    let rt = Runtime::new(&c.root).init_binary(env!("CARGO_BIN_EXE_berth"));
    let id = c.id();
    let (out, w) = pipe();
    let mut out = BufReader::new(out);
    let created = rt
        .create(CreateOptions {
            id: id.clone(),
            bundle: c.bundle.clone(),
            stdio: Stdio {
                stdin: None,
                stdout: Some(w.try_clone().unwrap()),
                stderr: Some(w),
            },
            ..Default::default()
        })
        .map_err(|e| format!("create {n}: {e}"))?;
    let container = created.container;
    if container.status() != Status::Created {
        return Err(format!("{n}: created but {}", container.status()));
    }
    container.start().map_err(|e| format!("start {n}: {e}"))?;
    // start returns at the init's execve; the shell's first line may come later (a loaded CI
    // machine), so wait for it before the exec and the kill.
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    if first.trim() != "started" {
        return Err(format!("{n}: the container printed {first:?}"));
    }
    let (mut eout, ew) = pipe();
    let e = container
        .exec(ExecOptions {
            overrides: Overrides {
                args: vec!["sh".into(), "-c".into(), format!("echo exec-{n}")],
                ..Default::default()
            },
            stdio: Stdio {
                stdin: None,
                stdout: Some(ew),
                stderr: None,
            },
            ..Default::default()
        })
        .map_err(|e| format!("exec {n}: {e}"))?;
    // Both the init and the exec'd process are children of this process.
    nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(e.pid), None)
        .map_err(|err| format!("wait for exec {n}: {err}"))?;
    let mut got = String::new();
    eout.read_to_string(&mut got).unwrap();
    if got.trim() != format!("exec-{n}") {
        return Err(format!("exec {n} printed {got:?}"));
    }
    container
        .kill(Some(nix::sys::signal::Signal::SIGKILL), false)
        .map_err(|e| format!("kill {n}: {e}"))?;
    let pid = container.pid().unwrap();
    nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None)
        .map_err(|err| format!("wait for init {n}: {err}"))?;
    container
        .delete(false)
        .map_err(|e| format!("delete {n}: {e}"))?;
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    if !rest.is_empty() {
        return Err(format!(
            "{n}: the container printed {rest:?} after its first line"
        ));
    }
    if rt.load(&id).is_ok() {
        return Err(format!("{n}: still there after delete"));
    }
    Ok(())
}

#[test]
fn berth_only_library_verbs_from_several_threads_leave_the_caller_alone() {
    let before = caller_view();
    let errors: Vec<String> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..4)
            .map(|n| s.spawn(move || (0..3).map(|_| lifecycle(n)).collect::<Vec<_>>()))
            .collect();
        hs.into_iter()
            .flat_map(|h| h.join().unwrap())
            .filter_map(Result::err)
            .collect()
    });
    assert!(errors.is_empty(), "{}", errors.join("\n"));
    assert_eq!(caller_view(), before, "the library changed its caller");
}
