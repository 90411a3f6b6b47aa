//! Lifecycle hooks: each gets the state on stdin; failures fail the operation they belong to.

use serde_json::json;

use super::harness::{text, Ctx};

fn recorder(c: &Ctx, name: &str) -> (serde_json::Value, std::path::PathBuf) {
    let out = c.dir.path().join(name);
    (
        json!({"path": "/bin/sh", "args": ["sh", "-c", format!("cat > {}", out.display())]}),
        out,
    )
}

#[test]
fn every_hook_runs_with_the_state_on_stdin() {
    let mut c = Ctx::new();
    let mut files = Vec::new();
    let mut hooks = serde_json::Map::new();
    for kind in ["prestart", "createRuntime", "poststart", "poststop"] {
        let (h, f) = recorder(&c, kind);
        hooks.insert(kind.into(), json!([h]));
        files.push((kind, f));
    }
    // createContainer and startContainer run inside the container: they write into a bind mount.
    let shared = c.dir.path().join("inside");
    std::fs::create_dir(&shared).unwrap();
    c.config["mounts"].as_array_mut().unwrap().push(
        json!({"destination": "/hooks", "type": "bind", "source": shared, "options": ["bind"]}),
    );
    hooks.insert(
        "startContainer".into(),
        json!([{"path": "/bin/sh", "args": ["sh", "-c", "cat > /hooks/startContainer"]}]),
    );
    c.config["hooks"] = serde_json::Value::Object(hooks);
    c.args(&["sleep", "1000"]);
    let id = c.create();
    let pid = c.state(&id)["pid"].as_i64().unwrap();
    for (kind, f) in &files[..2] {
        let v: serde_json::Value = serde_json::from_slice(
            &std::fs::read(f).unwrap_or_else(|_| panic!("{kind} did not run")),
        )
        .unwrap();
        assert_eq!(v["id"], id.as_str(), "{kind}");
        assert_eq!(v["pid"], pid, "{kind}");
        assert_eq!(v["bundle"], c.bundle.to_str().unwrap(), "{kind}");
    }
    // runc 1.1 runs poststart hooks at create (fixed in runc 1.2); runtime.md says after start.
    if super::harness::is_berth() {
        assert!(!files[2].1.exists(), "poststart must wait for start");
    }
    assert!(c.rt(&["start", &id]).status.success());
    assert!(files[2].1.exists(), "poststart ran before start returned");
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(shared.join("startContainer")).unwrap()).unwrap();
    assert_eq!(v["id"], id.as_str());
    assert!(c.rt(&["delete", "--force", &id]).status.success());
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&files[3].1).unwrap()).unwrap();
    assert_eq!(v["id"], id.as_str());
}

#[test]
fn failing_prestart_hook_fails_create_and_leaves_nothing() {
    let mut c = Ctx::new();
    c.config["hooks"] = json!({"prestart": [{"path": "/bin/false"}]});
    c.args(&["true"]);
    c.write_config();
    let id = c.id();
    let out = c.rt(&["create", "--bundle", c.bundle.to_str().unwrap(), &id]);
    assert!(!out.status.success());
    assert!(!c.root.join(&id).exists());
    assert!(super::harness::mounts_under(&c.bundle).is_empty());
}

#[test]
fn hook_timeout() {
    let mut c = Ctx::new();
    c.config["hooks"] =
        json!({"createRuntime": [{"path": "/bin/sleep", "args": ["sleep", "30"], "timeout": 1}]});
    c.args(&["true"]);
    let t = std::time::Instant::now();
    let (out, _) = c.run();
    assert!(!out.status.success());
    assert!(t.elapsed().as_secs() < 20, "the timeout was not honoured");
    if super::harness::is_berth() {
        let err = text(&out.stderr);
        assert!(
            err.contains("createRuntime") && err.contains("timed out"),
            "{err}"
        );
    }
}

/// runtime.md: a failing poststart hook only warns. runc 1.1 fails the run instead.
#[test]
fn berth_only_failing_poststart_only_warns() {
    let mut c = Ctx::new();
    c.config["hooks"] =
        json!({"poststart": [{"path": "/bin/false"}], "poststop": [{"path": "/bin/false"}]});
    c.sh("exit 0");
    let (out, _) = c.run();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("poststart"),
        "the warning names the hook"
    );
}
