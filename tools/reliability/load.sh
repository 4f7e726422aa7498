#!/usr/bin/env bash
# `npm run load [-- --connections N --duration S --quick]`: see src/load.ts. Runs from source, no build.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
exec node -r "$here/../sim/register.cjs" "$here/src/load.ts" "$@"
