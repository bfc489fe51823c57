#!/usr/bin/env bash
# Render results/report.html (from `make report`) in headless Chromium and save a screenshot to look at.
# Usage: bash tests/report/render.sh [REPORT] [PNG]. Needs Debian's chromium (apt-get install chromium).
set -euo pipefail
report=$(realpath "${1:-results/report.html}")
png=${2:-results/report.png}
[ -f "$report" ] || { echo "render.sh: $report not found; run make report first" >&2; exit 1; }
command -v chromium >/dev/null || { echo "render.sh: chromium not installed (apt-get install chromium)" >&2; exit 1; }
timeout -k 10 120 chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1400,1800 \
    --virtual-time-budget=5000 --screenshot="$png" "file://$report" 2>/dev/null
echo "render.sh: wrote $png"
