#!/usr/bin/env bash
# Proves the contract drives the build: a copy of the crate whose docs/v1.yml
# gains an operation nobody implemented must fail `cargo check`, naming the
# missing handler. Builds in target/spec-drift, a target dir of its own that
# persists between runs, so only the first run builds the dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
git ls-files -z | xargs -0 cp --parents -t "$work"
cat > "$work/docs/v1.yml.new" <<'YAML'
  /v1/unimplemented:
    get:
      tags: [Ops]
      summary: An operation with no handler
      operationId: get_unimplemented
      responses:
        '200':
          description: never
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/Health'
        '500':
          $ref: '#/components/responses/InternalError'
YAML
# Insert the new path right after `paths:`.
awk -v add="$(cat "$work/docs/v1.yml.new")" '{print} /^paths:$/{print add}' "$work/docs/v1.yml" > "$work/docs/v1.yml.tmp"
mv "$work/docs/v1.yml.tmp" "$work/docs/v1.yml"
if out=$(cd "$work" && CARGO_TARGET_DIR="$root/target/spec-drift" cargo check --quiet 2>&1); then
  echo "spec-drift: FAIL: an operation without a handler compiled" >&2
  exit 1
fi
if ! grep -q "get_unimplemented" <<<"$out"; then
  echo "spec-drift: FAIL: the build failed, but not for the missing handler:" >&2
  echo "$out" >&2
  exit 1
fi
echo "spec-drift: ok: a new operation without a handler fails the build:"
grep -m2 -E "error\[E0046\]|missing" <<<"$out" | sed 's/^/  /'
