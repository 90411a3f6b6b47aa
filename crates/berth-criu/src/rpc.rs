//! The messages of CRIU's RPC protocol, as prost types: the subset berth sends and reads.
//!
//! The wire format is CRIU's published `rpc.proto` (proto2; Debian's `criu` package installs
//! it as `/usr/include/criu/rpc.proto`). Each message here keeps that file's field numbers;
//! fields berth never uses are left out (prost skips unknown fields of a response, and CRIU
//! applies its defaults to fields a request omits).

/// What a request asks for (`criu_req_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum ReqType {
    Empty = 0,
    Dump = 1,
    Restore = 2,
    Check = 3,
    PreDump = 4,
    PageServer = 5,
    /// A notification (CRIU → client), and its acknowledgement (client → CRIU).
    Notify = 6,
    CpuinfoDump = 7,
    CpuinfoCheck = 8,
    FeatureCheck = 9,
    Version = 10,
    WaitPid = 11,
    PageServerChld = 12,
    SinglePreDump = 13,
}

/// How CRIU treats cgroups (`criu_cg_mode`; `--manage-cgroups=MODE`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum CgMode {
    Ignore = 0,
    CgNone = 1,
    Props = 2,
    Soft = 3,
    Full = 4,
    Strict = 5,
    Default = 6,
}

/// A page server to send the memory pages to (`criu_page_server_info`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct PageServerInfo {
    #[prost(string, optional, tag = "1")]
    pub address: Option<String>,
    #[prost(int32, optional, tag = "2")]
    pub port: Option<i32>,
    #[prost(int32, optional, tag = "3")]
    pub pid: Option<i32>,
    #[prost(int32, optional, tag = "4")]
    pub fd: Option<i32>,
}

/// An external mount: on dump, `key` is the mount point in the tree and `val` the name
/// written to the images; on restore, `key` is that name and `val` the host path to bind.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ExtMountMap {
    #[prost(string, required, tag = "1")]
    pub key: String,
    #[prost(string, required, tag = "2")]
    pub val: String,
}

/// A namespace the restored tasks join instead of getting a new one.
#[derive(Clone, PartialEq, prost::Message)]
pub struct JoinNamespace {
    #[prost(string, required, tag = "1")]
    pub ns: String,
    #[prost(string, required, tag = "2")]
    pub ns_file: String,
    #[prost(string, optional, tag = "3")]
    pub extra_opt: Option<String>,
}

/// An fd of the CRIU process that replaces the file named `key` in the images (restore).
#[derive(Clone, PartialEq, prost::Message)]
pub struct InheritFd {
    #[prost(string, required, tag = "1")]
    pub key: String,
    #[prost(int32, required, tag = "2")]
    pub fd: i32,
}

/// Where the restored cgroup tree goes, per controller (`ctrl` unset: every controller).
#[derive(Clone, PartialEq, prost::Message)]
pub struct CgroupRoot {
    #[prost(string, optional, tag = "1")]
    pub ctrl: Option<String>,
    #[prost(string, required, tag = "2")]
    pub path: String,
}

/// The options of a dump, pre-dump or restore (`criu_opts`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Opts {
    /// A directory fd of the client: CRIU opens it as `/proc/<client>/fd/<n>`.
    #[prost(int32, required, tag = "1")]
    pub images_dir_fd: i32,
    #[prost(int32, optional, tag = "2")]
    pub pid: Option<i32>,
    #[prost(bool, optional, tag = "3")]
    pub leave_running: Option<bool>,
    #[prost(bool, optional, tag = "4")]
    pub ext_unix_sk: Option<bool>,
    #[prost(bool, optional, tag = "5")]
    pub tcp_established: Option<bool>,
    #[prost(bool, optional, tag = "6")]
    pub evasive_devices: Option<bool>,
    #[prost(bool, optional, tag = "7")]
    pub shell_job: Option<bool>,
    #[prost(bool, optional, tag = "8")]
    pub file_locks: Option<bool>,
    #[prost(int32, optional, tag = "9")]
    pub log_level: Option<i32>,
    /// A file name in the work directory.
    #[prost(string, optional, tag = "10")]
    pub log_file: Option<String>,
    #[prost(message, optional, tag = "11")]
    pub ps: Option<PageServerInfo>,
    /// Send notifications (`criu_notify`) at each stage, and wait for their acknowledgement.
    #[prost(bool, optional, tag = "12")]
    pub notify_scripts: Option<bool>,
    #[prost(string, optional, tag = "13")]
    pub root: Option<String>,
    /// The previous (pre-)dump, relative to the images directory.
    #[prost(string, optional, tag = "14")]
    pub parent_img: Option<String>,
    #[prost(bool, optional, tag = "15")]
    pub track_mem: Option<bool>,
    #[prost(bool, optional, tag = "16")]
    pub auto_dedup: Option<bool>,
    #[prost(int32, optional, tag = "17")]
    pub work_dir_fd: Option<i32>,
    #[prost(message, repeated, tag = "23")]
    pub ext_mnt: Vec<ExtMountMap>,
    #[prost(bool, optional, tag = "24")]
    pub manage_cgroups: Option<bool>,
    #[prost(message, repeated, tag = "25")]
    pub cg_root: Vec<CgroupRoot>,
    /// Restore the root task as a sibling of CRIU: a child of the client.
    #[prost(bool, optional, tag = "26")]
    pub rst_sibling: Option<bool>,
    #[prost(message, repeated, tag = "27")]
    pub inherit_fd: Vec<InheritFd>,
    #[prost(enumeration = "CgMode", optional, tag = "34")]
    pub manage_cgroups_mode: Option<i32>,
    /// `--external` entries: `net[<inode>]:<key>`, `mnt[<path>]:<key>`, ...
    #[prost(string, repeated, tag = "37")]
    pub external: Vec<String>,
    /// `CLONE_NEW*` flags of namespaces restored empty (their properties are not dumped).
    #[prost(uint32, optional, tag = "38")]
    pub empty_ns: Option<u32>,
    #[prost(message, repeated, tag = "39")]
    pub join_ns: Vec<JoinNamespace>,
    #[prost(string, optional, tag = "44")]
    pub freeze_cgroup: Option<String>,
    #[prost(bool, optional, tag = "48")]
    pub lazy_pages: Option<bool>,
    #[prost(int32, optional, tag = "49")]
    pub status_fd: Option<i32>,
    /// A pty whose master is not in the tree: on restore, CRIU sends the new master to the
    /// client with the `orphan-pts-master` notification.
    #[prost(bool, optional, tag = "50")]
    pub orphan_pts_master: Option<bool>,
    #[prost(string, optional, tag = "51")]
    pub config_file: Option<String>,
    #[prost(string, optional, tag = "53")]
    pub lsm_profile: Option<String>,
    /// A directory with the cgroup hierarchies mounted, one subdirectory each, instead of
    /// the yard CRIU would mount in its working directory.
    #[prost(string, optional, tag = "60")]
    pub cgroup_yard: Option<String>,
    #[prost(string, optional, tag = "63")]
    pub lsm_mount_context: Option<String>,
}

/// Features to ask about (`criu_features`); the answer sets those that are there.
#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct Features {
    #[prost(bool, optional, tag = "1")]
    pub mem_track: Option<bool>,
    #[prost(bool, optional, tag = "2")]
    pub lazy_pages: Option<bool>,
    #[prost(bool, optional, tag = "3")]
    pub pidfd_store: Option<bool>,
}

/// A request (`criu_req`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Req {
    #[prost(enumeration = "ReqType", required, tag = "1")]
    pub r#type: i32,
    #[prost(message, optional, tag = "2")]
    pub opts: Option<Opts>,
    #[prost(bool, optional, tag = "3")]
    pub notify_success: Option<bool>,
    #[prost(bool, optional, tag = "4")]
    pub keep_open: Option<bool>,
    #[prost(message, optional, tag = "5")]
    pub features: Option<Features>,
}

/// The answer to a dump (`criu_dump_resp`).
#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct DumpResp {
    #[prost(bool, optional, tag = "1")]
    pub restored: Option<bool>,
}

/// The answer to a restore (`criu_restore_resp`): the restored root task.
#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct RestoreResp {
    #[prost(int32, required, tag = "1")]
    pub pid: i32,
}

/// A notification (`criu_notify`): the stage (`script`) and, where it has one, a pid.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Notify {
    #[prost(string, optional, tag = "1")]
    pub script: Option<String>,
    #[prost(int32, optional, tag = "2")]
    pub pid: Option<i32>,
}

/// CRIU's version (`criu_version`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Version {
    #[prost(int32, required, tag = "1")]
    pub major_number: i32,
    #[prost(int32, required, tag = "2")]
    pub minor_number: i32,
    #[prost(string, optional, tag = "3")]
    pub gitid: Option<String>,
    #[prost(int32, optional, tag = "4")]
    pub sublevel: Option<i32>,
    #[prost(int32, optional, tag = "5")]
    pub extra: Option<i32>,
    #[prost(string, optional, tag = "6")]
    pub name: Option<String>,
}

impl Version {
    /// The version as one number, as CRIU's clients compare it: 3.17.1 is 31701.
    pub fn number(&self) -> i32 {
        self.major_number * 10000 + self.minor_number * 100 + self.sublevel.unwrap_or(0)
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.major_number, self.minor_number)?;
        if let Some(s) = self.sublevel.filter(|s| *s != 0) {
            write!(f, ".{s}")?;
        }
        Ok(())
    }
}

/// A response (`criu_resp`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Resp {
    #[prost(enumeration = "ReqType", required, tag = "1")]
    pub r#type: i32,
    #[prost(bool, required, tag = "2")]
    pub success: bool,
    #[prost(message, optional, tag = "3")]
    pub dump: Option<DumpResp>,
    #[prost(message, optional, tag = "4")]
    pub restore: Option<RestoreResp>,
    #[prost(message, optional, tag = "5")]
    pub notify: Option<Notify>,
    #[prost(message, optional, tag = "6")]
    pub ps: Option<PageServerInfo>,
    #[prost(int32, optional, tag = "7")]
    pub cr_errno: Option<i32>,
    #[prost(message, optional, tag = "8")]
    pub features: Option<Features>,
    #[prost(string, optional, tag = "9")]
    pub cr_errmsg: Option<String>,
    #[prost(message, optional, tag = "10")]
    pub version: Option<Version>,
    #[prost(int32, optional, tag = "11")]
    pub status: Option<i32>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    /// What `protoc --encode=criu_req rpc.proto` (CRIU 3.17's file) writes for a request that
    /// sets every field berth knows: the field numbers and types here are CRIU's.
    const FULL_REQ: &[u8] = &[
        0x08, 0x02, 0x12, 0x9a, 0x01, 0x08, 0x05, 0x10, 0x2a, 0x18, 0x01, 0x20, 0x01, 0x28, 0x01,
        0x30, 0x01, 0x38, 0x01, 0x40, 0x01, 0x48, 0x04, 0x52, 0x01, 0x6c, 0x5a, 0x05, 0x0a, 0x01,
        0x68, 0x10, 0x07, 0x60, 0x01, 0x6a, 0x02, 0x2f, 0x72, 0x72, 0x01, 0x70, 0x78, 0x01, 0x80,
        0x01, 0x01, 0x88, 0x01, 0x06, 0xba, 0x01, 0x08, 0x0a, 0x02, 0x2f, 0x61, 0x12, 0x02, 0x2f,
        0x62, 0xc0, 0x01, 0x01, 0xca, 0x01, 0x07, 0x0a, 0x01, 0x63, 0x12, 0x02, 0x2f, 0x67, 0xd0,
        0x01, 0x01, 0xda, 0x01, 0x05, 0x0a, 0x01, 0x6b, 0x10, 0x02, 0x90, 0x02, 0x04, 0xaa, 0x02,
        0x08, 0x6e, 0x65, 0x74, 0x5b, 0x31, 0x5d, 0x3a, 0x78, 0xb0, 0x02, 0x80, 0x80, 0x80, 0x80,
        0x04, 0xba, 0x02, 0x09, 0x0a, 0x03, 0x69, 0x70, 0x63, 0x12, 0x02, 0x2f, 0x6e, 0xe2, 0x02,
        0x02, 0x2f, 0x66, 0x80, 0x03, 0x01, 0x88, 0x03, 0x09, 0x90, 0x03, 0x01, 0x9a, 0x03, 0x02,
        0x2f, 0x63, 0xaa, 0x03, 0x0a, 0x61, 0x70, 0x70, 0x61, 0x72, 0x6d, 0x6f, 0x72, 0x3a, 0x70,
        0xe2, 0x03, 0x02, 0x2f, 0x79, 0xfa, 0x03, 0x01, 0x6d, 0x18, 0x01, 0x20, 0x01, 0x2a, 0x04,
        0x08, 0x01, 0x10, 0x01,
    ];

    /// `protoc --encode=criu_resp`: a notification with an error, a version and features.
    const FULL_RESP: &[u8] = &[
        0x08, 0x06, 0x10, 0x01, 0x1a, 0x02, 0x08, 0x01, 0x2a, 0x10, 0x0a, 0x0c, 0x70, 0x6f, 0x73,
        0x74, 0x2d, 0x72, 0x65, 0x73, 0x74, 0x6f, 0x72, 0x65, 0x10, 0x4d, 0x38, 0x03, 0x42, 0x02,
        0x10, 0x01, 0x4a, 0x01, 0x65, 0x52, 0x09, 0x08, 0x03, 0x10, 0x11, 0x1a, 0x01, 0x67, 0x20,
        0x01,
    ];

    #[test]
    fn every_request_field_encodes_as_criu_reads_it() {
        let s = |v: &str| Some(v.to_string());
        let req = Req {
            r#type: ReqType::Restore as i32,
            opts: Some(Opts {
                images_dir_fd: 5,
                pid: Some(42),
                leave_running: Some(true),
                ext_unix_sk: Some(true),
                tcp_established: Some(true),
                evasive_devices: Some(true),
                shell_job: Some(true),
                file_locks: Some(true),
                log_level: Some(4),
                log_file: s("l"),
                ps: Some(PageServerInfo {
                    address: s("h"),
                    port: Some(7),
                    ..Default::default()
                }),
                notify_scripts: Some(true),
                root: s("/r"),
                parent_img: s("p"),
                track_mem: Some(true),
                auto_dedup: Some(true),
                work_dir_fd: Some(6),
                ext_mnt: vec![ExtMountMap {
                    key: "/a".into(),
                    val: "/b".into(),
                }],
                manage_cgroups: Some(true),
                cg_root: vec![CgroupRoot {
                    ctrl: s("c"),
                    path: "/g".into(),
                }],
                rst_sibling: Some(true),
                inherit_fd: vec![InheritFd {
                    key: "k".into(),
                    fd: 2,
                }],
                manage_cgroups_mode: Some(CgMode::Full as i32),
                external: vec!["net[1]:x".into()],
                empty_ns: Some(libc::CLONE_NEWNET as u32),
                join_ns: vec![JoinNamespace {
                    ns: "ipc".into(),
                    ns_file: "/n".into(),
                    extra_opt: None,
                }],
                freeze_cgroup: s("/f"),
                lazy_pages: Some(true),
                status_fd: Some(9),
                orphan_pts_master: Some(true),
                config_file: s("/c"),
                lsm_profile: s("apparmor:p"),
                cgroup_yard: s("/y"),
                lsm_mount_context: s("m"),
            }),
            notify_success: Some(true),
            keep_open: Some(true),
            features: Some(Features {
                mem_track: Some(true),
                lazy_pages: Some(true),
                pidfd_store: None,
            }),
        };
        assert_eq!(req.encode_to_vec(), FULL_REQ);
        assert_eq!(Req::decode(FULL_REQ).unwrap(), req);
    }

    #[test]
    fn a_response_decodes() {
        let r = Resp::decode(FULL_RESP).unwrap();
        assert_eq!((r.r#type(), r.success), (ReqType::Notify, true));
        let n = r.notify.unwrap();
        assert_eq!(
            (n.script.as_deref(), n.pid),
            (Some("post-restore"), Some(77))
        );
        assert_eq!((r.cr_errno, r.cr_errmsg.as_deref()), (Some(3), Some("e")));
        assert_eq!(r.version.unwrap().to_string(), "3.17.1");
        assert_eq!(r.features.unwrap().lazy_pages, Some(true));
        assert_eq!(r.dump.unwrap().restored, Some(true));
        // A field this crate does not know (99) is skipped.
        let mut more = FULL_RESP.to_vec();
        more.extend_from_slice(&[0x98, 0x06, 0x07]);
        assert!(Resp::decode(&more[..]).is_ok());
    }

    #[test]
    fn versions_compare_as_numbers() {
        let v = Version {
            major_number: 3,
            minor_number: 17,
            sublevel: Some(1),
            ..Default::default()
        };
        assert_eq!(v.number(), 31701);
        assert_eq!(v.to_string(), "3.17.1");
    }
}
