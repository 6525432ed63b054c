#!/usr/bin/env bash
# Stages bench/varlen_anchors.py (torch only: the packed varlen path, padded
# SDPA and a per-sequence SDPA loop, checked against float64) into DEST
# (default /work/main/.device-varlen) with its run script. No kernel is
# compiled: attn-mlir's GPU path refuses varlen for now. Then, on the device
# (carry DEST's folder): bash .device-varlen/run.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dest="${1:-/work/main/.device-varlen}"
rm -rf "$dest"
mkdir -p "$dest"
cp "$root/bench/varlen_anchors.py" "$dest/"
name="$(basename "$dest")"
cat > "$dest/run.sh" <<RUN
#!/usr/bin/env bash
set -euo pipefail
mkdir -p "\$OUT"
nvidia-smi --query-gpu=name,driver_version --format=csv | tee "\$OUT/gpu.txt"
PYTHONUNBUFFERED=1 python3 $name/varlen_anchors.py --out "\$OUT" "\$@" 2>&1 | tee "\$OUT/varlen_anchors.log"
exit "\${PIPESTATUS[0]}"
RUN
echo "staged $dest ($(du -sh "$dest" | cut -f1)); on the device: bash $name/run.sh"
