//! The mountinfo parser on sample texts from real layouts.

use super::*;

const ROOT: &str = "/sys/fs/cgroup";

fn parse(text: &str) -> Hierarchies {
    Hierarchies::parse(text, Path::new(ROOT))
}

fn mount(h: &Hierarchies, c: &str) -> Option<String> {
    h.v1_mount(c).map(|p| p.display().to_string())
}

/// Debian 12 with a non-systemd init, as on the project's build machine:
/// one hierarchy per controller, `name=systemd`, and a cgroup2 mount at
/// `unified` holding hugetlb (which is why `/sys/fs/cgroup/hugetlb` is no
/// hierarchy even if some tool leaves a directory of that name).
const HYBRID: &str = "\
22 27 0:21 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw
23 27 0:22 / /sys rw,nosuid,nodev,noexec,relatime - sysfs sysfs rw
24 27 0:5 / /dev rw,nosuid,relatime - devtmpfs udev rw,size=4096k,nr_inodes=1024,mode=755
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

/// CentOS 7 / Debian 10 with systemd: co-mounted controllers, optional
/// fields, systemd's xattr option, no cgroup2 mount.
const LEGACY_COMOUNTED: &str = "\
18 61 0:17 / /sys rw,nosuid,nodev,noexec,relatime shared:6 - sysfs sysfs rw
24 18 0:20 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:7 - tmpfs tmpfs ro,mode=755
25 24 0:21 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:8 - cgroup cgroup rw,xattr,release_agent=/usr/lib/systemd/systemd-cgroups-agent,name=systemd
27 24 0:23 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:9 - cgroup cgroup rw,cpu,cpuacct
28 24 0:24 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid,nodev,noexec,relatime shared:10 - cgroup cgroup rw,net_cls,net_prio
29 24 0:25 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,memory
30 24 0:26 / /sys/fs/cgroup/hugetlb rw,nosuid,nodev,noexec,relatime shared:12 - cgroup cgroup rw,hugetlb
31 24 0:27 / /sys/fs/cgroup/cpuset rw,nosuid,nodev,noexec,relatime shared:13 - cgroup cgroup rw,cpuset,clone_children
32 24 0:28 / /sys/fs/cgroup/perf_event rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,perf_event
33 24 0:29 / /sys/fs/cgroup/devices rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,devices
34 24 0:30 / /sys/fs/cgroup/freezer rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,freezer
35 24 0:31 / /sys/fs/cgroup/blkio rw,nosuid,nodev,noexec,relatime shared:17 - cgroup cgroup rw,blkio
36 24 0:32 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:18 - cgroup cgroup rw,pids
61 1 253:0 / / rw,relatime shared:1 - xfs /dev/mapper/root rw,attr2,inode64,noquota
";

const UNIFIED: &str = "\
25 30 0:23 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
26 25 0:24 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:8 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
30 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
";

#[test]
fn hybrid_host_one_hierarchy_per_controller() {
    let h = parse(HYBRID);
    assert_eq!(h.mode(), CgroupMode::Hybrid);
    assert_eq!(h.unified(), Some(Path::new("/sys/fs/cgroup/unified")));
    assert_eq!(
        mount(&h, "memory").as_deref(),
        Some("/sys/fs/cgroup/memory")
    );
    assert_eq!(
        mount(&h, SYSTEMD_NAME).as_deref(),
        Some("/sys/fs/cgroup/systemd")
    );
    // hugetlb lives in the cgroup2 mount: a directory named hugetlb is not it.
    assert_eq!(mount(&h, "hugetlb"), None);
    assert_eq!(mount(&h, "net_cls"), None);
    assert_eq!(h.v1().len(), 9);
    assert!(h.v1().iter().all(V1Hierarchy::joined));
}

#[test]
fn co_mounted_controllers_share_one_directory() {
    let h = parse(LEGACY_COMOUNTED);
    assert_eq!(h.mode(), CgroupMode::Legacy);
    assert_eq!(h.unified(), None);
    assert_eq!(
        mount(&h, "cpu").as_deref(),
        Some("/sys/fs/cgroup/cpu,cpuacct")
    );
    assert_eq!(mount(&h, "cpu"), mount(&h, "cpuacct"));
    assert_eq!(
        mount(&h, "net_prio").as_deref(),
        Some("/sys/fs/cgroup/net_cls,net_prio")
    );
    // Mount options are not controllers.
    let cpuset = h.v1_hierarchy("cpuset").unwrap();
    assert_eq!(cpuset.controllers, ["cpuset"]);
    let systemd = h.v1_hierarchy(SYSTEMD_NAME).unwrap();
    assert_eq!(systemd.controllers, [SYSTEMD_NAME]);
    assert_eq!(h.v1().len(), 11);
}

#[test]
fn unified_host() {
    let h = parse(UNIFIED);
    assert_eq!(h.mode(), CgroupMode::Unified);
    assert_eq!(h.unified(), Some(Path::new(ROOT)));
    assert!(h.v1().is_empty());
}

#[test]
fn cgroup2_mounted_elsewhere_is_another_tools() {
    let text =
        format!("{LEGACY_COMOUNTED}90 61 0:50 / /run/tool/cg2 rw,relatime - cgroup2 cgroup2 rw\n");
    let h = parse(&text);
    assert_eq!(h.mode(), CgroupMode::Legacy);
    assert_eq!(h.unified(), None);
    // A cgroup2 mount elsewhere, and nothing under /sys/fs/cgroup: not a unified host.
    let text = "\
30 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
31 30 0:50 / /mnt/cg2 rw,relatime - cgroup2 cgroup2 rw
";
    let h = parse(text);
    assert_eq!(h.mode(), CgroupMode::Legacy);
    assert!(h.v1().is_empty() && h.unified().is_none());
}

#[test]
fn other_named_hierarchies_are_not_joined() {
    let text = format!(
        "{HYBRID}50 31 0:60 / /sys/fs/cgroup/mytool rw,relatime - cgroup cgroup rw,none,name=mytool\n"
    );
    let h = parse(&text);
    let tool = h.v1_hierarchy("name=mytool").unwrap();
    assert!(!tool.joined());
    assert!(h.v1_hierarchy(SYSTEMD_NAME).unwrap().joined());
}

#[test]
fn a_tmpfs_over_the_root_hides_the_mounts_below() {
    // A private mount namespace: a new tmpfs over /sys/fs/cgroup (stacked on
    // 31), with only memory bound back into it, and a stray `cpu` directory.
    let text = format!(
        "{HYBRID}\
60 31 0:70 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw
61 60 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
"
    );
    let h = parse(&text);
    assert_eq!(h.mode(), CgroupMode::Legacy);
    assert_eq!(h.v1().len(), 1);
    assert_eq!(
        mount(&h, "memory").as_deref(),
        Some("/sys/fs/cgroup/memory")
    );
    assert_eq!(mount(&h, "cpu"), None);
}

#[test]
fn a_mount_over_a_parent_directory_hides_the_mounts_below() {
    // A tmpfs mounted on /sys/fs (a sibling of /sys/fs/cgroup on /sys).
    let text = format!("{HYBRID}70 23 0:80 / /sys/fs rw,relatime - tmpfs tmpfs rw\n");
    let h = parse(&text);
    assert!(h.v1().is_empty());
    assert_eq!(h.mode(), CgroupMode::Legacy);
}

#[test]
fn mounts_moved_by_switch_root_keep_lower_ids() {
    // /sys (and its cgroup mounts) were made in the initrd, then moved under
    // the real root, which has a higher id and is listed after them.
    let text = "\
20 90 0:20 / /sys rw - sysfs sysfs rw
21 20 0:21 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate
90 1 8:1 / / rw - ext4 /dev/sda1 rw
";
    let h = parse(text);
    assert_eq!(h.mode(), CgroupMode::Unified);
}

#[test]
fn a_second_mount_of_a_hierarchy_prefers_the_one_under_the_root() {
    let text = "\
30 1 8:1 / / rw - ext4 /dev/sda1 rw
40 30 0:32 / /run/other/memory rw - cgroup cgroup rw,memory
41 30 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw
42 41 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
43 30 0:33 / /run/other/pids rw - cgroup cgroup rw,pids
";
    let h = parse(text);
    assert_eq!(h.v1().len(), 2);
    assert_eq!(
        mount(&h, "memory").as_deref(),
        Some("/sys/fs/cgroup/memory")
    );
    assert_eq!(mount(&h, "pids").as_deref(), Some("/run/other/pids"));
}

#[test]
fn escaped_mount_points_and_junk_lines() {
    let text = "\
30 1 8:1 / / rw - ext4 /dev/sda1 rw
not a mountinfo line
41 30 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw
42 41 0:32 / /sys/fs/cgroup/my\\040memory rw - cgroup cgroup rw,memory
";
    let h = parse(text);
    assert_eq!(
        mount(&h, "memory").as_deref(),
        Some("/sys/fs/cgroup/my memory")
    );
    assert_eq!(unescape("a\\134b\\011c\\"), "a\\b\tc\\");
}

#[test]
fn the_host_is_read_once() {
    let a = Hierarchies::host().unwrap();
    let b = Hierarchies::host().unwrap();
    assert!(Arc::ptr_eq(&a, &b));
}

/// A Kubernetes node: thousands of volume mounts elsewhere (0.8 ms to parse
/// 5000 of them in a release build).
#[test]
fn thousands_of_unrelated_mounts() {
    let mut text = String::from(HYBRID);
    for i in 0..5000 {
        text.push_str(&format!("{} 27 0:{} / /var/lib/kubelet/pods/abc{i}/volumes/kubernetes.io~secret/tok rw,relatime shared:{i} - tmpfs tmpfs rw,size=100k\n", 100 + i, 100 + i));
    }
    let h = parse(&text);
    assert_eq!(h, parse(HYBRID));
}

/// What a caller records of the host's hierarchies (its v1 list and its cgroup2 mount) gives
/// back the same hierarchies, mode included.
#[test]
fn recorded_hierarchies_round_trip() {
    let unified = Hierarchies::unified_at(Path::new(ROOT));
    for h in [parse(HYBRID), unified] {
        let back = Hierarchies::recorded(h.v1().to_vec(), h.unified().map(Path::to_path_buf));
        assert_eq!(back, h);
    }
    let legacy = Hierarchies::v1_at(Path::new(ROOT), &[&["cpu", "cpuacct"], &["memory"]], false);
    let back = Hierarchies::recorded(legacy.v1().to_vec(), None);
    assert_eq!(back, legacy);
    assert_eq!(back.mode(), CgroupMode::Legacy);
}

/// What a forked init is left of the host's mountinfo: its cgroup lines, whole.
#[test]
fn only_cgroup_lines_are_kept() {
    let kept = cgroup_lines(HYBRID);
    assert!(kept.lines().count() > 3, "{kept}");
    for l in kept.lines() {
        let fstype = l
            .split_once(" - ")
            .unwrap()
            .1
            .split_whitespace()
            .next()
            .unwrap();
        assert!(fstype == "cgroup" || fstype == "cgroup2", "{l}");
        assert!(HYBRID.lines().any(|h| h == l), "{l}");
    }
    let cgroup_lines = HYBRID.lines().filter(|l| l.contains(" - cgroup")).count();
    assert_eq!(kept.lines().count(), cgroup_lines);
}
