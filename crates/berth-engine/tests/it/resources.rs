//! Volumes, `--read-only`, tmpfs and resource limits.

use crate::harness::*;

#[test]
fn a_volume_written_by_one_container_is_read_by_the_next() {
    let w = World::new();
    let image = w.import();
    w.ok(&["volume", "create", "data"]);
    w.ok(&[
        "run",
        "--rm",
        "-v",
        "data:/data",
        image,
        "sh",
        "-c",
        "echo kept > /data/f",
    ]);
    // A volume named on the command line is made on first use, and kept after --rm.
    w.ok(&[
        "run",
        "--rm",
        "--mount",
        "type=volume,src=auto,dst=/a",
        image,
        "sh",
        "-c",
        "echo made > /a/g",
    ]);
    let out = w.ok(&[
        "run",
        "--rm",
        "-v",
        "data:/data:ro",
        "-v",
        "auto:/a",
        image,
        "sh",
        "-c",
        "cat /data/f /a/g; echo x > /data/f || echo read-only",
    ]);
    assert_eq!(out, "kept\nmade\nread-only\n");
    let vols = w.ok(&["volume", "ls", "-q"]);
    assert_eq!(
        vols.split_whitespace().collect::<Vec<_>>(),
        ["auto", "data"]
    );
    // An anonymous volume (-v /dst, and the image's VOLUME /cache) goes with its --rm
    // container.
    let out = w.ok(&[
        "run",
        "--rm",
        "-v",
        "/scratch",
        image,
        "sh",
        "-c",
        "touch /scratch/x /cache/y && grep -c -e ' /scratch ' -e ' /cache ' /proc/mounts",
    ]);
    assert_eq!(out, "2\n");
    assert_eq!(w.ok(&["volume", "ls", "-q"]).lines().count(), 2);
    // Without --rm it stays until rm -v.
    w.ok(&["run", "--name", "anon", image, "true"]);
    assert_eq!(w.ok(&["volume", "ls", "-q"]).lines().count(), 3);
    w.ok(&["rm", "-v", "anon"]);
    assert_eq!(w.ok(&["volume", "ls", "-q"]).lines().count(), 2);
    // A volume in use is not removed.
    w.ok(&[
        "run",
        "-d",
        "--name",
        "user",
        "-v",
        "data:/data",
        image,
        "sleep",
        "100",
    ]);
    let o = w.out(&["volume", "rm", "data"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("volume `data`: in use by container user"));
    w.ok(&["rm", "-f", "-v", "user"]);
    w.ok(&["volume", "rm", "data", "auto"]);
    assert_eq!(w.ok(&["volume", "ls", "-q"]), "");
    w.assert_clean();
}

#[test]
fn read_only_refuses_writes_outside_volumes_and_tmpfs() {
    let w = World::new();
    let image = w.import();
    let host = w.dir.path().join("bind");
    std::fs::create_dir_all(&host).unwrap();
    let bind = format!("{}:/bind", host.display());
    let out = w.ok(&[
        "run", "--rm", "--read-only", "--tmpfs", "/tmp:size=1m", "-v", "vol:/vol", "-v", &bind, image, "sh",
        "-c",
        "for p in /etc/x /root/x /tmp/x /vol/x /bind/x; do touch $p 2>/dev/null && echo $p ok || echo $p refused; done; \
         grep ' /tmp ' /proc/mounts | grep -c size=1024k",
    ]);
    assert_eq!(
        out,
        "/etc/x refused\n/root/x refused\n/tmp/x ok\n/vol/x ok\n/bind/x ok\n1\n"
    );
    assert!(
        host.join("x").exists(),
        "the bind mount is the host's directory"
    );
    // /etc/hosts stays writable, as with docker.
    let out = w.ok(&[
        "run",
        "--rm",
        "--read-only",
        image,
        "sh",
        "-c",
        "echo 1.2.3.4 x >> /etc/hosts && echo ok",
    ]);
    assert_eq!(out, "ok\n");
    w.ok(&["volume", "rm", "vol"]);
    w.assert_clean();
}

#[test]
fn memory_is_enforced_and_an_oom_kill_is_137() {
    let w = World::new();
    let image = w.import();
    // dd's 64 MiB buffer cannot fit in 16 MiB: the OOM killer ends it.
    let o = w.out(&[
        "run",
        "--name",
        "oom",
        "--memory",
        "16m",
        image,
        "dd",
        "if=/dev/zero",
        "of=/dev/null",
        "bs=64M",
        "count=1",
    ]);
    assert_eq!(
        o.status.code(),
        Some(137),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let rows: serde_json::Value =
        serde_json::from_str(&w.ok(&["ps", "-a", "--format", "json"])).unwrap();
    assert_eq!(rows[0]["ExitCode"], 137);
    assert_eq!(rows[0]["OOMKilled"], true);
    assert!(w.ok(&["ps", "-a"]).contains("Exited (137, OOM killed)"));
    w.ok(&["rm", "oom"]);
    // Within the limit it runs; --pids-limit and --cpus are applied to its cgroup.
    let out = w.ok(&[
        "run", "--rm", "--memory", "64m", "--pids-limit", "20", "--cpus", "0.5", image, "sh", "-c",
        "dd if=/dev/zero of=/dev/null bs=8M count=1 2>/dev/null && echo fits; \
         cat /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/cpu/cpu.cfs_quota_us 2>/dev/null || cat /sys/fs/cgroup/pids.max /sys/fs/cgroup/cpu.max",
    ]);
    let f: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(f[0], "fits", "{out}");
    assert_eq!(f[1], "20", "{out}");
    assert_eq!(f[2], "50000", "{out}");
    w.assert_clean();
}
