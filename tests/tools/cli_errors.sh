#!/usr/bin/env bash
# Every bad argument or file gets a clear message and a non-zero exit, never a crash,
# and leaves no output file behind.
# usage: cli_errors.sh PXDGEN WORKDIR
set -uo pipefail
pxdgen=$1 work=$2
rm -rf "$work" && mkdir -p "$work"
failures=0 checks=0

# expect CODE PATTERN -- ARGS...: exit code CODE and stderr matching PATTERN.
expect() {
  local code=$1 pattern=$2
  shift 3
  checks=$((checks + 1))
  local err
  err=$("$pxdgen" "$@" 2>&1 >/dev/null)
  local got=$?
  if [ "$got" -ne "$code" ] || ! grep -qiE "$pattern" <<<"$err"; then
    echo "FAIL: pxdgen $* -> exit $got (want $code), stderr: $err"
    failures=$((failures + 1))
  fi
}

printf 'not a model' >"$work/text.pxdg"
: >"$work/empty.pxdg"
head -c 4096 /dev/zero | tr '\0' 'x' >"$work/long_text.pxdg"
printf 'PK\003\004garbage' >"$work/bad.pth"
"$pxdgen" info --json >/dev/null || { echo "FAIL: info of the built-in model"; failures=$((failures + 1)); }

expect 2 "unknown command" -- frobnicate
expect 2 "unknown option" -- generate --bogus 1
expect 2 "needs -o" -- generate -n 1
expect 2 "integer" -- generate -n -3 -o "$work/x.csv"
expect 2 "integer" -- generate -n abc -o "$work/x.csv"
expect 2 "integer" -- generate -n 1 --threads 0 -o "$work/x.csv"
expect 2 "cut" -- generate -n 1 --cut 1.5 -o "$work/x.csv"
expect 2 "integer" -- generate -n 1 --min-charge 0 -o "$work/x.csv"
expect 2 "backend" -- generate -n 1 --backend gpu -o "$work/x.csv"
expect 2 "needs a value" -- generate -n
expect 2 "extension" -- generate -n 1 -o "$work/x.parquet"
expect 1 "cannot open" -- generate -m "$work/missing.pxdg" -n 1 -o "$work/x.csv"
expect 1 "not a regular file" -- generate -m "$work" -n 1 -o "$work/x.csv"
expect 1 "too short|bad magic" -- info "$work/empty.pxdg"
expect 1 "too short" -- info "$work/text.pxdg"
expect 1 "magic" -- info "$work/long_text.pxdg"
expect 1 "cannot open|no such" -- convert "$work/missing.pth" -o "$work/x.pxdg"
expect 1 "." -- convert "$work/bad.pth" -o "$work/x.pxdg"
expect 1 "." -- convert "$work/text.pxdg" -o "$work/x.pxdg"
expect 2 "needs -o" -- convert "$work/bad.pth"
expect 1 "cannot write" -- generate -n 1 -o /nonexistent/dir/x.csv
expect 1 "latents|cannot open|cannot read" -- generate --latents "$work/missing.npy" -o "$work/x.csv"

for f in x.csv x.pxdg x.csv.partial x.pxdg.partial; do
  if [ -e "$work/$f" ]; then
    echo "FAIL: $f was left behind"
    failures=$((failures + 1))
  fi
done
echo "$((checks - failures)) passed, $failures failed"
[ "$failures" -eq 0 ]
