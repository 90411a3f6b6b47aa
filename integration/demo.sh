#!/usr/bin/env bash
# Makes a busybox bundle and runs one container in it with the berth binary given as $1.
set -euo pipefail
berth=$(realpath "${1:-target/release/berth}")
demo=$(mktemp -d /tmp/berth-demo.XXXXXX)
trap 'rm -rf "$demo"' EXIT
mkdir -p "$demo/rootfs/bin"
cp /bin/busybox "$demo/rootfs/bin/busybox"
for applet in $("$demo/rootfs/bin/busybox" --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$demo/rootfs/bin/$applet"
done
cd "$demo"
"$berth" spec
python3 - <<'PY'
import json
c = json.load(open("config.json"))
c["process"]["terminal"] = False
c["process"]["args"] = ["sh", "-c", "echo \"hello from $(hostname): pid $$, uid $(id -u)\"; ls /"]
json.dump(c, open("config.json", "w"), indent=2)
PY
"$berth" --root "$demo/state" run --bundle "$demo" demo
