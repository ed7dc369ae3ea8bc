#!/usr/bin/env bash
# Durability of `pxdgen generate` under SIGINT and SIGTERM: the run stops after the event
# in progress and exits 128 + signal; an .h5 output keeps every completed event, says so
# (complete=0, events_completed=K) and continuing with --first-event K gives, joined to
# it, exactly the digits of one uninterrupted run; a .csv output is not left at all.
# usage: cli_interrupt.sh PXDGEN PYTHON CHECKPOINT WORKDIR
#   CHECKPOINT: a small IEA-GAN (the ch = 4 PyTorch fixture): a few tenths of a second
#   an event, so a signal lands mid-run.
set -euo pipefail
pxdgen=$1 python=$2 checkpoint=$3 work=$4
rm -rf "$work" && mkdir -p "$work"
model=$work/model.pxdg
"$pxdgen" convert "$checkpoint" -o "$model" >/dev/null
total=12 seed=5

fail() {
  echo "FAIL: $*"
  exit 1
}

# run_and_signal SIGNAL EVENTS_BEFORE_SIGNAL OUTPUT THREADS: starts a long run, sends SIGNAL
# once EVENTS_BEFORE_SIGNAL events are done, and sets `status` to the run's exit status.
run_and_signal() {
  local signal=$1 after=$2 output=$3 threads=$4 log=$work/$(basename "$3").log
  "$pxdgen" generate -m "$model" -n 100000 --seed "$seed" --threads "$threads" --verbose -o "$output" 2>"$log" &
  local pid=$! waited=0
  until [ "$(grep -c '^event ' "$log" || true)" -ge "$after" ]; do
    sleep 0.05
    waited=$((waited + 1))
    [ "$waited" -lt 2400 ] || { kill -KILL "$pid"; fail "no $after events within 120 s"; }
    kill -0 "$pid" 2>/dev/null || fail "generate ended before the signal: $(cat "$log")"
  done
  kill "-$signal" "$pid"
  status=0
  wait "$pid" || status=$?
}

"$pxdgen" generate -m "$model" -n "$total" --seed "$seed" --threads 2 -q -o "$work/whole.h5"

# SIGTERM with 3 threads, which run the events in batches of 3.
for signal in INT TERM; do
  expected=$((128 + $(kill -l "$signal")))
  part=$work/part_$signal.h5 rest=$work/rest_$signal.h5
  threads=2
  [ "$signal" = TERM ] && threads=3
  run_and_signal "$signal" 3 "$part" "$threads"
  [ "$status" -eq "$expected" ] || fail "SIG$signal: exit $status, expected $expected"
  [ -e "$part.partial" ] && fail "SIG$signal: $part.partial was left behind"
  [ -f "$part" ] || fail "SIG$signal: no $part after 3 completed events"
  done_events=$("$python" -c 'import h5py, sys; print(int(h5py.File(sys.argv[1], "r").attrs["events_completed"]))' "$part")
  [ "$done_events" -ge 3 ] && [ "$done_events" -lt "$total" ] ||
    fail "SIG$signal: $done_events events completed (3 to $((total - 1)) expected for this test)"
  grep -q "continue with --first-event $done_events" "$work/$(basename "$part").log" ||
    fail "SIG$signal: the message does not say where to continue: $(tail -2 "$work/$(basename "$part").log")"
  "$pxdgen" generate -m "$model" -n $((total - done_events)) --first-event "$done_events" --seed "$seed" \
    --threads 1 -q -o "$rest"
  "$python" - "$part" "$rest" "$work/whole.h5" "$done_events" <<'PY' || fail "SIG$signal: the two parts do not make the whole run"
import sys
import h5py
import numpy as np

part_path, rest_path, whole_path, done = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
part, rest, whole = (h5py.File(p, "r") for p in (part_path, rest_path, whole_path))
problems = []
def expect(ok, what):
    if not ok:
        problems.append(what)

expect(part.attrs["complete"] == 0, "interrupted file says complete")
expect(part.attrs["events_completed"] == done, "interrupted file miscounts its events")
expect(len(part["event_numbers"]) == done, "interrupted file holds another number of events")
expect(list(part["event_numbers"][:]) == list(range(done)), "interrupted file has other event numbers")
expect(rest.attrs["complete"] == 1 and whole.attrs["complete"] == 1, "a full run is not marked complete")
expect(rest.attrs["first_event"] == done, "continued file does not record its first event")
expect(part.attrs["model_sha256"] == whole.attrs["model_sha256"], "different models")
expect(len(part["event_offsets"]) == done + 1 and part["event_offsets"][-1] == len(part["event"]),
       "interrupted file's event index does not cover its digits")
for column in ("event", "sensor", "layer", "ladder", "sensor_number", "ucell", "vcell", "charge", "event_numbers"):
    joined = np.concatenate([part[column][:], rest[column][:]])
    expect(np.array_equal(joined, whole[column][:]), f"column {column} differs from the whole run")
offsets = np.concatenate([part["event_offsets"][:-1], rest["event_offsets"][:] + part["event_offsets"][-1]])
expect(np.array_equal(offsets, whole["event_offsets"][:]), "event offsets differ from the whole run")
if problems:
    print("\n".join(problems))
    sys.exit(1)
print(f"{done} events before the signal + {int(whole.attrs['events_completed']) - done} continued "
      f"= the whole run ({len(whole['event'])} digits)")
PY
done

# A CSV cannot say it is incomplete: an interrupted run leaves neither it nor its temporary.
run_and_signal INT 1 "$work/part.csv" 2
[ "$status" -eq 130 ] || fail "CSV run: exit $status, expected 130"
[ -e "$work/part.csv" ] && fail "an interrupted CSV output was left"
[ -e "$work/part.csv.partial" ] && fail "an interrupted CSV temporary was left"
echo "cli_interrupt: SIGINT and SIGTERM runs keep their completed events and continue exactly"
