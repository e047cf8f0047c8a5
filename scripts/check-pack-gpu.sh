#!/usr/bin/env bash
# Proves that a GPU pack (npm run pack:gpu) runs from its folder alone: it copies the pack away from the repository,
# runs its run.sh with an empty environment and a PATH that holds a few shell tools and python3 but no Node, with
# the carried Vulkan loader (not the system's), on SwiftShader (this machine has no GPU), and checks what it prints.
#
#   npm run pack:gpu:check [-- PACK_DIR]      (without PACK_DIR it makes a fresh pack first)
#
# Launches a GPU adapter, so it takes the shared lock (/tmp/tabclr-browser.lock) for the run.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/tabclr-pack-check.XXXXXX")
trap 'rm -rf "$SCRATCH"' EXIT

PACK=${1:-}
if [ -z "$PACK" ]; then
  PACK="$SCRATCH/made"
  (cd "$ROOT" && npm run -s pack:gpu -- --out "$PACK" >/dev/null)
fi
BYTES=$(du -sb "$PACK" | cut -f1)
echo "pack: $PACK, $BYTES bytes ($(awk "BEGIN { printf \"%.2f\", $BYTES / 1048576 }") MiB)"
if [ "$BYTES" -gt $((48 * 1048576)) ]; then
  echo "FAIL: the pack is over 48 MiB" >&2
  exit 1
fi

# The folder alone, somewhere else.
cp -r "$PACK" "$SCRATCH/pack"

# A PATH without Node: only the tools run.sh uses, and python3 for the PyTorch side.
mkdir "$SCRATCH/bin"
for tool in sh mktemp rm chmod dirname basename ls head find grep xz tar ar dpkg-deb ldconfig; do
  ln -s "$(command -v "$tool")" "$SCRATCH/bin/$tool"
done
ln -s /usr/bin/python3 "$SCRATCH/bin/python3"
if env -i PATH="$SCRATCH/bin" sh -c 'command -v node' >/dev/null 2>&1; then
  echo "FAIL: node is on the test PATH" >&2
  exit 1
fi

echo "running $SCRATCH/pack/run.sh with PATH=$SCRATCH/bin (no node), the carried Vulkan loader, SwiftShader"
flock /tmp/tabclr-browser.lock env -i PATH="$SCRATCH/bin" HOME="$SCRATCH" TABCLR_CARRIED_VULKAN=1 \
  sh "$SCRATCH/pack/run.sh" --configs default --steps 2 --warmup 1 --profiled-steps 1 \
  >"$SCRATCH/out.jsonl" 2>"$SCRATCH/err.txt" || {
  echo "FAIL: run.sh exited with $?" >&2
  tail -30 "$SCRATCH/err.txt" >&2
  exit 1
}
grep -E '^run.sh:|^adapter:' "$SCRATCH/err.txt" || true

python3 - "$SCRATCH/out.jsonl" <<'EOF'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
configs = [l for l in lines if l["kind"] == "config"]
torch = [l for l in lines if l["kind"] == "torch"]
summary = [l for l in lines if l["kind"] == "summary"]
problems = []
if len(configs) != 1:
    problems.append(f"expected one config line, got {len(configs)}")
for c in configs:
    for key in ("config", "adapter", "images_per_sec", "step_ms", "dispatches_per_step", "kernels_per_step", "record_ms"):
        if c.get(key) is None:
            problems.append(f"config line lacks {key}")
    if "swiftshader" not in c.get("adapter", "").lower():
        problems.append(f"expected SwiftShader here, got {c.get('adapter')!r}")
    if not c.get("images_per_sec", 0) > 0:
        problems.append("images_per_sec is not positive")
if not any(t.get("images_per_sec") for t in torch):
    problems.append(f"no PyTorch figure: {torch}")
if len(summary) != 1:
    problems.append("no summary line")
for c in configs:
    print(f"tabclr {c['config']} on {c['adapter']}: {c['images_per_sec']} images/s, {c['step_ms']} ms/step, {c['dispatches_per_step']} dispatches, {c['kernels_per_step']} kernels, record {c['record_ms']} ms")
for t in torch:
    print(f"PyTorch {t['config']} on {t.get('device_name', t['device'])}: {t.get('images_per_sec')} images/s")
if problems:
    print("FAIL: " + "; ".join(problems), file=sys.stderr)
    sys.exit(1)
print("OK: the pack ran from its folder alone, with no Node on the PATH")
EOF
