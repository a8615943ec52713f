#!/bin/sh
# Lists DIR/PATTERN relative to the source root, one per line (Meson has no glob).
cd "$(dirname "$0")/.." || exit 1
for f in "$1"/$2; do [ -e "$f" ] && echo "$f"; done
exit 0
