#!/usr/bin/env bash
# The one command for the GPU machine (make bench-gpu): its CUDA tests, then the GPU timing run.
#
#   bash tools/gpu_bench.sh [OUT]        OUT: results folder (default $OUT, else /tmp/gpu-bench)
#
# The GPU machine reaches no package registry and its python3 lacks tqdm, PyYAML, maybe pytest:
# their wheels come in .whl/ (git-ignored; `make gpu-wheels` downloads them) and are installed
# into $SITE (default /tmp/site), only those whose module python3 cannot import already. soundfile
# and librosa are not needed: the timing run imports neither. The synthetic smoke dataset in
# data/smoke (git-ignored, carried along) feeds the data-wait measurement.
#
# Writes into OUT: env.txt (python, torch, CUDA), pytest.log and junit-cuda.xml (the CUDA tests),
# timing-gpu.csv (the tidy rows), notes.csv (what was skipped or stopped, and why), machine.json,
# bench.log and summary.txt. Exit status: 0 when the tests passed and the run ended.
#
# Environment: GPU_BENCH_MODE=dry runs everything on the CPU at smoke sizes (the dry run before
# the GPU); GPU_BENCH_WHEELS=all installs every wheel even where the module is present (to test
# the wheels); PYTHON (default python3); BENCH_BUDGET (seconds, the run's own budget; default the
# plan's); BENCH_TIMEOUT (seconds, hard stop of the run; rows written so far stay); D2M_MACHINE.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-${OUT:-/tmp/gpu-bench}}
MODE=${GPU_BENCH_MODE:-gpu}
PY=${PYTHON:-python3}
SITE=${SITE:-/tmp/site}
mkdir -p "$OUT"
start=$(date +%s)
elapsed() { echo $(($(date +%s) - start)); }

# 1. the missing pure-python packages, from the wheels
need=()
want_all=${GPU_BENCH_WHEELS:-missing}
for pair in tqdm:tqdm yaml:pyyaml pytest:pytest; do
    mod=${pair%%:*} pkg=${pair##*:}
    if [ "$want_all" = all ] || ! "$PY" -c "import $mod" 2>/dev/null; then
        need+=("$pkg")
        [ "$pkg" = pytest ] && need+=(pluggy iniconfig packaging pygments)
    fi
done
if [ ${#need[@]} -gt 0 ]; then
    echo "installing from .whl/ into $SITE: ${need[*]}"
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target "$SITE" --find-links .whl "${need[@]}" || echo "WARNING: wheel install failed"
fi
export PYTHONPATH="$SITE:$PWD${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONDONTWRITEBYTECODE=1 PYTHONHASHSEED=0

# 2. what this machine is
"$PY" - >"$OUT/env.txt" 2>&1 <<'EOF'
import platform, sys, torch
import d2mlib
print("python", platform.python_version(), sys.executable)
print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())
if torch.cuda.is_available():
    print("device", torch.cuda.get_device_name(0))
print("d2mlib", d2mlib.__file__)
EOF
cat "$OUT/env.txt"

# 3. the tests that skip without CUDA, and the GPU run's own tests
TESTS=(
    tests/test_train.py::test_toy_stage_trains_on_cuda
    tests/test_timing.py::test_cuda_matmul_is_timed_with_synchronisation
    tests/test_timing_gpu.py
    tests/test_cuda_comp.py
)
select=(-k cuda)  # on the GPU: the tests that need CUDA (the rest ran in the dry run)
[ "$MODE" = dry ] && select=()
echo "[$(elapsed) s] pytest ${TESTS[*]} ${select[*]}"
timeout "${TEST_TIMEOUT:-90}" "$PY" -m pytest -q -rs -p no:cacheprovider "${TESTS[@]}" "${select[@]}" \
    --junitxml="$OUT/junit-cuda.xml" >"$OUT/pytest.log" 2>&1
test_rc=$?
tail -n 15 "$OUT/pytest.log"

# 4. the timing run (rows appended as each task ends; a timeout keeps them)
args=(--out "$OUT" --data data/smoke)
if [ "$MODE" = dry ]; then args+=(--dry-run); else args+=(--label "${D2M_MACHINE:-gpu-h200}"); fi
[ -n "${BENCH_BUDGET:-}" ] && args+=(--budget "$BENCH_BUDGET")
echo "[$(elapsed) s] python -m d2mlib.timing.gpu ${args[*]}"
timeout "${BENCH_TIMEOUT:-380}" "$PY" -m d2mlib.timing.gpu "${args[@]}" >"$OUT/bench.log" 2>&1
bench_rc=$?
tail -n 25 "$OUT/bench.log"

# 5. the summary
{
    echo "mode $MODE, $(elapsed) s in all; pytest exit $test_rc, timing run exit $bench_rc"
    grep -E "passed|failed|error" "$OUT/pytest.log" | tail -n 1
    [ -f "$OUT/timing-gpu.csv" ] && echo "$(($(wc -l <"$OUT/timing-gpu.csv") - 1)) rows in timing-gpu.csv"
    [ -f "$OUT/notes.csv" ] && echo "$(($(wc -l <"$OUT/notes.csv") - 1)) notes in notes.csv"
} | tee "$OUT/summary.txt"
[ "$test_rc" = 0 ] && [ "$bench_rc" = 0 ]
