//! The bridge: containers reach each other by address and by name, a published port
//! forwards the host's loopback to busybox httpd, and `--network none|host`.

use crate::harness::*;
use std::time::Duration;

#[test]
fn bridge_peers_by_address_and_name_and_a_published_port() {
    let w = World::new();
    let image = w.import();
    let www = w.dir.path().join("www");
    std::fs::create_dir_all(&www).unwrap();
    std::fs::write(www.join("index.html"), "hello over the bridge\n").unwrap();
    let vol = format!("{}:/var/www:ro", www.display());
    w.ok(&[
        "run", "-d", "--name", "web", "-p", "8080:80", "-v", &vol, image, "httpd", "-f", "-p",
        "80", "-h", "/var/www",
    ]);
    let ps = w.ok(&["ps", "--format", "json"]);
    let rows: serde_json::Value = serde_json::from_str(&ps).unwrap();
    let web_ip = rows[0]["IPAddress"].as_str().unwrap().to_string();
    assert!(web_ip.starts_with("10.89."), "{ps}");
    assert!(w.ok(&["ps"]).contains("0.0.0.0:8080->80/tcp"));

    // The host's loopback, port 8080, reaches httpd in the container (portmap's DNAT).
    let ns = w.netns.clone();
    let mut body = None;
    wait_for(
        "httpd behind the published port",
        Duration::from_secs(10),
        || {
            body = http_get(&ns, 8080, "/");
            body.is_some()
        },
    );
    assert_eq!(body.unwrap(), "hello over the bridge\n");

    // A second container reaches the first by name and by address.
    let out = w.ok(&[
        "run", "--rm", "--name", "client", image, "sh", "-c",
        &format!("wget -qO- http://web/ && wget -qO- http://{web_ip}/ && ping -c1 -W2 web >/dev/null && echo pinged"),
    ]);
    assert_eq!(
        out,
        "hello over the bridge\nhello over the bridge\npinged\n"
    );

    // And the first reaches one that started after it, by name: its /etc/hosts was updated.
    w.ok(&[
        "run", "-d", "--name", "late", image, "httpd", "-f", "-p", "80", "-h", "/var/www",
    ]);
    let out = w.ok(&[
        "exec",
        "web",
        "sh",
        "-c",
        "wget -qO- http://late/ && grep -c late /etc/hosts",
    ]);
    assert_eq!(out, "hello from the image\n1\n");
    w.ok(&["rm", "-f", "late"]);
    let hosts = w.ok(&["exec", "web", "cat", "/etc/hosts"]);
    assert!(
        !hosts.contains("late"),
        "a removed peer stays in /etc/hosts:\n{hosts}"
    );

    // -P publishes what the image exposes (80/tcp) on a free host port.
    w.ok(&[
        "run", "-d", "--name", "exposed", "-P", image, "httpd", "-f", "-p", "80", "-h", "/var/www",
    ]);
    let rows: serde_json::Value = serde_json::from_str(&w.ok(&["ps", "--format", "json"])).unwrap();
    let exposed = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["Name"] == "exposed")
        .unwrap();
    let port = exposed["Ports"][0]["hostPort"].as_u64().unwrap() as u16;
    assert_eq!(exposed["Ports"][0]["containerPort"], 80);
    let mut body = None;
    wait_for("httpd behind -P", Duration::from_secs(10), || {
        body = http_get(&ns, port, "/");
        body.is_some()
    });
    assert_eq!(body.unwrap(), "hello from the image\n");

    w.ok(&["stop", "web", "exposed"]);
    // A stopped container gives its address back; the port forward is gone.
    assert!(http_get(&ns, 8080, "/").is_none());
    w.ok(&["rm", "web", "exposed"]);
    w.assert_clean();
}

#[test]
fn none_and_host_networks() {
    let w = World::new();
    let image = w.import();
    // none: only loopback, and it is up.
    let out = w.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        image,
        "sh",
        "-c",
        "ip -o link | cut -d: -f2; ping -c1 -W1 127.0.0.1 >/dev/null && echo lo-ok",
    ]);
    assert_eq!(out.split_whitespace().collect::<Vec<_>>(), ["lo", "lo-ok"]);
    // host: the namespace berth runs in (the test's), with its host name.
    let out = w.ok(&[
        "run",
        "--rm",
        "--network",
        "host",
        image,
        "sh",
        "-c",
        "stat -Lc %i /proc/self/ns/net; hostname",
    ]);
    let ns = std::fs::metadata(format!("/run/netns/{}", w.netns)).unwrap();
    let host = nix::unistd::gethostname()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert_eq!(
        out,
        format!("{}\n{host}\n", std::os::unix::fs::MetadataExt::ino(&ns))
    );
    // Publishing needs the bridge.
    let o = w.out(&[
        "run",
        "--rm",
        "--network",
        "host",
        "-p",
        "80:80",
        image,
        "true",
    ]);
    assert!(String::from_utf8_lossy(&o.stderr)
        .contains("-p `0.0.0.0:80->80/tcp`: publishing ports needs --network bridge"));
    w.assert_clean();
}
