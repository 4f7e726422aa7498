#!/usr/bin/env bash
# `npm run soak [-- --minutes N --rate R --quick]`: see src/soak.ts. Runs from source, no build.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
exec node -r "$here/../sim/register.cjs" "$here/src/soak.ts" "$@"
