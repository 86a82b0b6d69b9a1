#!/usr/bin/env bash
# Checks that layers only point down (the project's layering rule): every
# `#include "gatehouse/<layer>/..."` in src/<layer>/ and include/gatehouse/<layer>/ must name
# the layer itself or one it may use (forward declarations into gatehouse::<layer> too), and
# only src/uv/ includes <uv.h>. Exits 1 listing every
# violation. Run by tools/test.sh and by ctest ("layering").
set -euo pipefail
cd "$(dirname "$0")/.."

# Each layer and the layers below it that it may include. Bottom: errors, log, http, uv (the
# transport); TLS sits above the transport; then auth and config; policy (decisions on a
# request head, no sockets); proxy; admin; probe; main (src/main.cc).
declare -A allowed=(
  [errors]=""
  [log]="errors"
  [http]="errors log"
  [uv]="errors log"
  [tls]="errors log http uv"
  [auth]="errors log http uv tls"
  [config]="errors log http uv tls"
  [policy]="errors log http uv tls auth config"
  [proxy]="errors log http uv tls auth config policy"
  [admin]="errors log http uv tls auth config policy proxy"
  [probe]="errors log http uv tls auth config policy proxy admin"
  [main]="errors log http uv tls auth config policy proxy admin probe"
)

failures=0
report() {
  echo "layering: $1" >&2
  failures=$((failures + 1))
}

# The layer a file belongs to, from its path.
layer_of() {
  case "$1" in
  src/main.cc) echo main ;;
  src/*/*) echo "$1" | cut -d/ -f2 ;;
  include/gatehouse/*/*) echo "$1" | cut -d/ -f3 ;;
  *) echo "" ;;
  esac
}

while IFS= read -r file; do
  layer=$(layer_of "$file")
  if [[ -z "$layer" || ! -v "allowed[$layer]" ]]; then
    report "$file: unknown layer \"$layer\" (add it to tools/check_layers.sh in its place)"
    continue
  fi
  while IFS= read -r line; do
    number=${line%%:*}
    text=${line#*:}
    if [[ "$text" =~ \#include[[:space:]]*[\<\"]uv\.h[\>\"] && "$layer" != uv ]]; then
      report "$file:$number: only src/uv includes <uv.h>"
    fi
    if [[ "$text" =~ \#include[[:space:]]*\"\.\./ ]]; then
      report "$file:$number: include through \"../\" (use \"gatehouse/<layer>/...\")"
    fi
    if [[ "$text" =~ \#include[[:space:]]*\"gatehouse/([a-z_]+)/ ]]; then
      target=${BASH_REMATCH[1]}
      if [[ "$target" != "$layer" && " ${allowed[$layer]} " != *" $target "* ]]; then
        report "$file:$number: $layer must not include gatehouse/$target (allowed: ${allowed[$layer]:-none})"
      fi
    fi
    # A forward declaration into a layer above is the same dependency without the include.
    if [[ "$text" =~ namespace[[:space:]]+gatehouse::([a-z_]+) ]]; then
      target=${BASH_REMATCH[1]}
      if [[ "$target" != "$layer" && " ${allowed[$layer]} " != *" $target "* ]]; then
        report "$file:$number: $layer must not declare into gatehouse::$target"
      fi
    fi
  done < <(grep -nE '#include|namespace gatehouse::' "$file" || true)
done < <(find src include -type f \( -name '*.cc' -o -name '*.h' \) | sort)

if ((failures > 0)); then
  echo "layering: $failures violation(s)" >&2
  exit 1
fi
echo "layering: ok"
