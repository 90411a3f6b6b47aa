//! Root filesystem and mounts: options, binds, devices, masked and read-only paths.

use serde_json::json;

use super::harness::Ctx;

fn add_mount(c: &mut Ctx, m: serde_json::Value) {
    c.config["mounts"].as_array_mut().unwrap().push(m);
}

#[test]
fn tmpfs_options_reach_the_mount() {
    let mut c = Ctx::new();
    add_mount(
        &mut c,
        json!({"destination": "/data", "type": "tmpfs", "source": "tmpfs", "options": ["ro", "nosuid", "nodev", "noexec", "size=1m"]}),
    );
    c.sh("grep ' /data ' /proc/self/mountinfo");
    let out = c.run_ok();
    let opts = out.split_whitespace().nth(5).unwrap();
    for o in ["ro", "nosuid", "nodev", "noexec"] {
        assert!(opts.split(',').any(|x| x == o), "{o} missing in {out}");
    }
    assert!(out.contains("size=1024k"), "{out}");
}

#[test]
fn bind_mounts_ro_and_rw() {
    let mut c = Ctx::new();
    let host = c.dir.path().join("shared");
    std::fs::create_dir(&host).unwrap();
    std::fs::write(host.join("f"), "host data\n").unwrap();
    add_mount(
        &mut c,
        json!({"destination": "/ro", "type": "bind", "source": host, "options": ["rbind", "ro"]}),
    );
    add_mount(
        &mut c,
        json!({"destination": "/rw", "type": "bind", "source": host, "options": ["bind"]}),
    );
    c.sh("cat /ro/f; touch /ro/x 2>/dev/null && echo ro-writable; echo new > /rw/g; echo done");
    assert_eq!(c.run_ok(), "host data\ndone\n");
    assert_eq!(std::fs::read_to_string(host.join("g")).unwrap(), "new\n");
    assert!(!host.join("x").exists());
}

#[test]
fn bind_mount_of_a_file() {
    let mut c = Ctx::new();
    let f = c.dir.path().join("hosts");
    std::fs::write(&f, "127.0.0.1 berth\n").unwrap();
    add_mount(
        &mut c,
        json!({"destination": "/etc/hosts", "type": "bind", "source": f, "options": ["bind", "ro"]}),
    );
    c.sh("cat /etc/hosts");
    assert_eq!(c.run_ok(), "127.0.0.1 berth\n");
}

#[test]
fn recursive_read_only_bind() {
    let mut c = Ctx::new();
    let host = c.dir.path().join("tree");
    std::fs::create_dir_all(host.join("sub")).unwrap();
    // A submount inside the source: rro must make it read-only too.
    nix::mount::mount(
        Some("tmpfs"),
        &host.join("sub"),
        Some("tmpfs"),
        nix::mount::MsFlags::empty(),
        None::<&str>,
    )
    .unwrap();
    add_mount(
        &mut c,
        json!({"destination": "/t", "type": "bind", "source": host, "options": ["rbind", "rro"]}),
    );
    c.sh("touch /t/sub/x 2>/dev/null && echo writable; echo end");
    let out = c.run_ok();
    nix::mount::umount2(&host.join("sub"), nix::mount::MntFlags::MNT_DETACH).unwrap();
    assert_eq!(out, "end\n");
}

#[test]
fn readonly_root() {
    let mut c = Ctx::new();
    c.sh("touch /x 2>/dev/null && echo writable; touch /tmp/y && echo tmp-ok");
    assert_eq!(c.run_ok(), "tmp-ok\n");
}

#[test]
fn masked_and_readonly_paths() {
    let mut c = Ctx::new();
    // /proc/kcore is not on every kernel; /proc/keys and /proc/timer_list are on this one.
    let files: Vec<&str> = ["/proc/kcore", "/proc/keys", "/proc/timer_list"]
        .into_iter()
        .filter(|p| std::path::Path::new(p).exists())
        .collect();
    assert!(!files.is_empty());
    let script: String = files.iter().map(|f| format!("wc -c < {f}; ")).collect();
    c.sh(&format!("{script} ls /sys/firmware | wc -l; echo 1 > /proc/sys/kernel/ns_last_pid 2>/dev/null && echo writable; echo end"));
    let expected = "0\n".repeat(files.len()) + "0\nend\n";
    assert_eq!(c.run_ok(), expected);
}

#[test]
fn masked_paths_cannot_be_unmasked_from_inside() {
    let mut c = Ctx::new();
    // Default capabilities: no CAP_SYS_ADMIN, so no umount or remount.
    c.sh("umount /proc/kcore 2>/dev/null && echo unmasked; mount -o remount,rw /proc/sys 2>/dev/null && echo remounted; echo end");
    assert_eq!(c.run_ok(), "end\n");
}

#[test]
fn default_devices_and_symlinks() {
    let mut c = Ctx::new();
    c.config["linux"]["devices"] = json!([{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 438, "uid": 0, "gid": 0}]);
    c.sh("for d in null zero full random urandom tty fuse; do stat -c '%n %t:%T %a' /dev/$d; done; readlink /dev/fd; readlink /dev/stdin; readlink /dev/ptmx");
    let out = c.run_ok();
    let expected = "/dev/null 1:3 666\n/dev/zero 1:5 666\n/dev/full 1:7 666\n/dev/random 1:8 666\n/dev/urandom 1:9 666\n/dev/tty 5:0 666\n/dev/fuse a:e5 666\n/proc/self/fd\n/proc/self/fd/0\npts/ptmx\n";
    assert_eq!(out, expected);
}

#[test]
fn mount_propagation_option() {
    let mut c = Ctx::new();
    add_mount(
        &mut c,
        json!({"destination": "/p", "type": "tmpfs", "source": "tmpfs", "options": ["rprivate"]}),
    );
    c.config["linux"]["rootfsPropagation"] = json!("rslave");
    c.sh("grep ' /p ' /proc/self/mountinfo");
    let out = c.run_ok();
    assert!(!out.contains("shared:"), "{out}");
}

#[test]
fn mounts_are_made_in_order() {
    let mut c = Ctx::new();
    add_mount(
        &mut c,
        json!({"destination": "/a", "type": "tmpfs", "source": "tmpfs"}),
    );
    add_mount(
        &mut c,
        json!({"destination": "/a/b", "type": "tmpfs", "source": "tmpfs", "options": ["ro"]}),
    );
    c.sh("touch /a/x && echo a-rw; touch /a/b/x 2>/dev/null || echo b-ro");
    assert_eq!(c.run_ok(), "a-rw\nb-ro\n");
}

#[test]
fn sysctl_in_the_network_namespace() {
    let mut c = Ctx::new();
    let host = || std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap();
    let before = host();
    // The value the host does not have, so a write to the host's would show.
    let want = if before.trim() == "1" { "0" } else { "1" };
    c.config["linux"]["sysctl"] = json!({ "net.ipv4.ip_forward": want });
    c.sh("cat /proc/sys/net/ipv4/ip_forward");
    assert_eq!(c.run_ok(), format!("{want}\n"));
    assert_eq!(host(), before, "the host's sysctl changed");
}

#[test]
fn cgroup_mount_is_read_only() {
    let mut c = Ctx::new();
    add_mount(
        &mut c,
        json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}),
    );
    c.sh("grep -q ' /sys/fs/cgroup ' /proc/self/mountinfo && echo mounted; [ -n \"$(ls /sys/fs/cgroup)\" ] && echo populated; mkdir /sys/fs/cgroup/x 2>/dev/null && echo writable; echo end");
    assert_eq!(c.run_ok(), "mounted\npopulated\nend\n");
}

/// Idmapped bind mounts: with the container's user namespace (`idmap`), host files owned by
/// root show up owned by the container's root; with the mount's own mappings, as mapped.
/// runc 1.1 predates idmapped mounts (runtime-spec 1.1).
#[test]
fn berth_only_idmapped_bind_mounts() {
    let mut c = Ctx::new();
    let host = c.dir.path().join("idmapped");
    std::fs::create_dir(&host).unwrap();
    std::fs::write(host.join("f"), "x").unwrap();
    // The mapped root cannot create mount points in a rootfs owned by the host's root.
    for d in ["plain", "idm", "own"] {
        std::fs::create_dir(c.rootfs().join(d)).unwrap();
    }
    c.config["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "user"}));
    c.config["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    c.config["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    add_mount(
        &mut c,
        json!({"destination": "/plain", "type": "bind", "source": host, "options": ["bind"]}),
    );
    add_mount(
        &mut c,
        json!({"destination": "/idm", "type": "bind", "source": host, "options": ["bind", "idmap"]}),
    );
    add_mount(
        &mut c,
        json!({"destination": "/own", "type": "bind", "source": host, "options": ["bind", "idmap"],
        "uidMappings": [{"containerID": 0, "hostID": 100005, "size": 1}],
        "gidMappings": [{"containerID": 0, "hostID": 100007, "size": 1}]}),
    );
    c.sh("stat -c '%u:%g' /plain/f /idm/f /own/f");
    // tmpfs supports idmapped mounts from Linux 6.3 on (the cgroup v2 guest runs 6.1 with
    // its temp dirs on tmpfs): there the create must fail, naming the mount.
    if !idmap_supported_on(&host) {
        let (out, _) = c.run();
        let err = super::harness::text(&out.stderr);
        assert!(
            !out.status.success() && err.contains("(/idm): idmap"),
            "{err}"
        );
        eprintln!("idmapped mounts: tmpfs on this kernel has no support; checked the error only");
        return;
    }
    assert_eq!(c.run_ok(), "65534:65534\n0:0\n5:7\n");
    // Host ownership is unchanged.
    let st = nix::sys::stat::stat(&host.join("f")).unwrap();
    assert_eq!((st.st_uid, st.st_gid), (0, 0));
}

/// runc 1.1 does not know `idmap` and takes it as filesystem data of a bind: it succeeds.
#[test]
fn berth_only_idmap_needs_a_user_namespace_or_mappings() {
    let mut c = Ctx::new();
    add_mount(
        &mut c,
        json!({"destination": "/idm", "type": "bind", "source": "/tmp", "options": ["bind", "idmap"]}),
    );
    c.args(&["true"]);
    let (out, _) = c.run();
    assert!(!out.status.success());
    assert!(
        super::harness::text(&out.stderr).contains("mounts[7].options"),
        "{}",
        super::harness::text(&out.stderr)
    );
}

/// Whether the filesystem of `dir` can be idmapped on this kernel (tmpfs only since 6.3).
fn idmap_supported_on(dir: &std::path::Path) -> bool {
    let tmpfs = nix::sys::statfs::statfs(dir)
        .map(|s| s.filesystem_type() == nix::sys::statfs::TMPFS_MAGIC)
        .unwrap_or(false);
    let release = nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut v = release
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse::<u32>().ok());
    let (major, minor) = (v.next().unwrap_or(0), v.next().unwrap_or(0));
    !tmpfs || (major, minor) >= (6, 3)
}
