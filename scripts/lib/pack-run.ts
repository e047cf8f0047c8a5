// The run.sh that `npm run pack:gpu` (../pack-gpu.ts) puts in a pack: a POSIX sh script, so that it starts however a
// person starts it (sh run.sh, bash run.sh, dash run.sh, ./run.sh). Kept apart from the packing so that a test can
// run it under each shell (pack-run.test.ts).
//
// No quote inside a ${…} expansion within double quotes: dash takes it literally, bash pairs it, so an apostrophe
// there ends bash's parse of the whole file ("unexpected EOF while looking for matching `''"). Defaults with words in
// them are set in a statement of their own.

/** The script (its $ and backslashes escaped for this template literal). */
export const RUN_SH = `#!/bin/sh
# tabclr's engine benchmark on this machine's GPU: unpacks Node and Dawn into a temporary folder, finds the Vulkan
# loader and driver, and prints one JSON line per configuration (and per PyTorch device) on stdout; the table and
# progress go to stderr. Arguments go to the benchmark (./run.sh --help lists them); it adds --json.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d "\${TMPDIR:-/tmp}/tabclr-gpu.XXXXXX") || exit 1
trap 'rm -rf "$WORK"' EXIT INT TERM
say() { echo "run.sh: $*" >&2; }

unxz_to() {
  if command -v xz >/dev/null 2>&1; then
    xz -dc "$1" > "$2"
  elif command -v python3 >/dev/null 2>&1; then
    python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$1" "$2"
  else
    say "needs xz or python3 to unpack $1"; exit 1
  fi
}

unxz_to "$HERE/node.xz" "$WORK/node" && chmod +x "$WORK/node" || exit 1
unxz_to "$HERE/dawn.node.xz" "$WORK/dawn.node" || exit 1

# The Vulkan loader: the system's when it has one, else the Debian package carried here (TABCLR_CARRIED_VULKAN=1
# takes the carried one regardless).
if [ -z "\${TABCLR_CARRIED_VULKAN:-}" ] && ldconfig -p 2>/dev/null | grep -q 'libvulkan\\.so\\.1'; then
  say "Vulkan loader: the system's"
else
  DEB=$(ls "$HERE"/vulkan/libvulkan1_*.deb | head -n 1)
  mkdir -p "$WORK/vulkan"
  if command -v dpkg-deb >/dev/null 2>&1; then
    dpkg-deb -x "$DEB" "$WORK/vulkan"
  else
    (cd "$WORK/vulkan" && ar p "$DEB" data.tar.xz | tar -xJf -) || { say "cannot unpack $DEB (needs dpkg-deb, or ar with tar and xz)"; exit 1; }
  fi
  LIB=$(dirname "$(find "$WORK/vulkan" -name 'libvulkan.so.1' | head -n 1)")
  export LD_LIBRARY_PATH="$LIB\${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  say "Vulkan loader: $(basename "$DEB") (carried)"
fi

# NVIDIA's Vulkan driver: where the loader looks, and where GPU containers mount it (/usr/local/nvidia).
if [ -z "\${VK_ICD_FILENAMES:-}\${VK_DRIVER_FILES:-}" ]; then
  for ICD in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.json \\
             /etc/vulkan/icd.d/nvidia_icd.json /usr/local/share/vulkan/icd.d/nvidia_icd.json \\
             /usr/share/vulkan/icd.d/nvidia_icd.x86_64.json /etc/vulkan/icd.d/nvidia_icd.x86_64.json; do
    if [ -f "$ICD" ]; then
      export VK_DRIVER_FILES="$ICD" VK_ICD_FILENAMES="$ICD"
      break
    fi
  done
fi
DRIVER=\${VK_DRIVER_FILES:-\${VK_ICD_FILENAMES:-}}
[ -n "$DRIVER" ] || DRIVER="the loader's search (no NVIDIA manifest found)"
say "Vulkan driver: $DRIVER"

export TABCLR_DAWN_NODE="$WORK/dawn.node" TABCLR_TORCH_DIR="$HERE/python"
"$WORK/node" "$HERE/bench-engine.mjs" --json "$@"
STATUS=$?
exit $STATUS
`;
