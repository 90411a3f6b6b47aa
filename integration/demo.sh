#!/usr/bin/env bash
# The first run: builds a busybox image here (no registry), imports it, and runs containers
# from it with `berth image run` on the berth0 bridge, inside a network namespace made for the
# demo (the machine's own interfaces and firewall are not touched). $1: the berth binary.
set -euo pipefail
berth=$(realpath "${1:-target/release/berth}")
demo=$(mktemp -d /tmp/berth-demo.XXXXXX)
ns=berth-demo-$$
b() { nsenter --net="/run/netns/$ns" "$berth" --root "$demo/state" image --store "$demo/store" "$@"; }
cleanup() {
    for c in $(b ps -aq 2>/dev/null); do b rm -f "$c" >/dev/null 2>&1 || true; done
    ip netns delete "$ns" 2>/dev/null || true
    rm -rf "$demo"
}
trap cleanup EXIT
# A signal ends the script through exit, so the cleanup runs then too.
trap 'exit 130' INT TERM HUP PIPE

echo "== building a busybox image (an OCI layout tar) in $demo"
mkdir -p "$demo/rootfs/bin" "$demo/rootfs/etc" "$demo/rootfs/tmp" "$demo/rootfs/www"
cp /bin/busybox "$demo/rootfs/bin/busybox"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n' > "$demo/rootfs/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$demo/rootfs/etc/group"
echo "hello from httpd in a berth container" > "$demo/rootfs/www/index.html"
python3 - "$demo" <<'PY'
import hashlib, io, json, os, subprocess, sys, tarfile
demo = sys.argv[1]
bin = os.path.join(demo, "rootfs/bin")
for applet in subprocess.run([bin + "/busybox", "--list"], capture_output=True, text=True).stdout.split():
    if applet != "busybox":
        os.symlink("busybox", os.path.join(bin, applet))
def norm(t):
    t.uid = t.gid = 0; t.uname = t.gname = ""; t.mtime = 0
    return t
layer = io.BytesIO()
with tarfile.open(fileobj=layer, mode="w", format=tarfile.PAX_FORMAT) as t:
    t.add(os.path.join(demo, "rootfs"), arcname=".", filter=norm)
blobs = {}
def blob(data):
    d = hashlib.sha256(data).hexdigest()
    blobs[d] = data
    return {"digest": "sha256:" + d, "size": len(data)}
l = blob(layer.getvalue())
config = blob(json.dumps({
    "architecture": "amd64", "os": "linux",
    "config": {"Cmd": ["/bin/sh"], "Env": ["PATH=/bin"], "ExposedPorts": {"80/tcp": {}}},
    "rootfs": {"type": "layers", "diff_ids": [l["digest"]]},
}).encode())
manifest = blob(json.dumps({
    "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": dict(config, mediaType="application/vnd.oci.image.config.v1+json"),
    "layers": [dict(l, mediaType="application/vnd.oci.image.layer.v1.tar")],
}).encode())
index = {"schemaVersion": 2, "manifests": [dict(manifest,
    mediaType="application/vnd.oci.image.manifest.v1+json",
    annotations={"org.opencontainers.image.ref.name": "demo.local/busybox:latest"})]}
with tarfile.open(os.path.join(demo, "busybox.tar"), "w") as out:
    def add(name, data):
        i = tarfile.TarInfo(name); i.size = len(data); out.addfile(i, io.BytesIO(data))
    add("oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
    add("index.json", json.dumps(index).encode())
    for d, data in blobs.items():
        add("blobs/sha256/" + d, data)
PY
"$berth" image --store "$demo/store" import "$demo/busybox.tar"

echo "== a network namespace for the demo: $ns (it plays the host)"
ip netns add "$ns"
ip -n "$ns" link set lo up

echo "== berth image run --rm --network bridge demo.local/busybox ..."
b run --rm --network bridge --name hello demo.local/busybox \
    sh -c 'echo "hello from $(hostname) ($(ip -4 -o addr show eth0 | awk "{print \$4}")), uid $(id -u)"'

echo "== a web server on the bridge, port 8080 published, and a client that finds it by name"
b run -d --name web -p 8080:80 demo.local/busybox httpd -f -p 80 -h /www >/dev/null
b ps
b run --rm demo.local/busybox sh -c 'for i in 1 2 3 4 5; do wget -qO- http://web/ && break; sleep 0.2; done'
echo "== and the same page through the published port on the (demo) host's loopback"
nsenter --net="/run/netns/$ns" "$demo/rootfs/bin/busybox" wget -qO- http://127.0.0.1:8080/
b stop -t 1 web >/dev/null
b rm web >/dev/null
echo "== done: nothing is left of the containers (berth list: $("$berth" --root "$demo/state" list -q | wc -l))"
