#!/usr/bin/env bash
# One prepared benchmark run for a machine with a GPU: at most 8 minutes, no editing needed.
# Writes one Markdown report, ready to paste into BENCHMARKS.md, to $OUT/gpu.md (OUT defaults to
# bench-data), and prints it.
#
#   bash bench/gpu.sh [--wheels DIR] [--jp2 DIR] [--quick]
#     --wheels DIR  first install the wheels in DIR into this Python's environment (a bare machine
#                   with no package index: scripts/gpu_wheels.sh downloads them elsewhere)
#     --jp2 DIR     JPEG2000 band files for row 6 (default: the ten bands of row 3's product)
#     --quick       small sizes (width 8, 160 px tiles, no product): checks the script in a minute
#
# Rows; each one whose needs are missing is skipped, and the report says why:
#   1. the machine: nvidia-smi, CPU cores, Python and the packages that matter;
#   2. the GPU tests of the suite, pytest -m gpu (TensorFlow and GDAL);
#   3. bench/predict.py --whole, float32, bfloat16 and float16, beside plain GDAL decoding
#      (a Keras backend that sees the GPU, TensorFlow else JAX, and GDAL): on the 10980 px
#      product of $OUT/gpu-work when one is there (bench/predict.py writes it in about 7
#      minutes), else on a 5490 px one it writes;
#   4. bench/train.py: training steps/s at width 64, batch 1 and 8, float32 and mixed precision
#      (the same backend);
#   4b. crmss reproduce --synthetic 2 at width 64, 2 epochs of 200 steps: the whole protocol
#      (the same backend and GDAL);
#   5. bench/generator.py: the generator through the Keras backend that sees the GPU, TensorFlow,
#      else JAX, per precision beside a matmul in that type (on the CPU where no backend sees one);
#   6. bench/decode.py: JPEG2000 band files on the GPU with nvImageCodec against GDAL's pixels.
# Without a GPU it runs rows 1, 5 and 6 on the CPU and says that the GPU rows were skipped.
set -uo pipefail
cd "$(dirname "$0")/.."
wheels="" jp2="" quick=0
while [ $# -gt 0 ]; do
    case $1 in
        --wheels) wheels=$2; shift 2 ;;
        --jp2) jp2=$2; shift 2 ;;
        --quick) quick=1; shift ;;
        *) echo "usage: bash bench/gpu.sh [--wheels DIR] [--jp2 DIR] [--quick]" >&2; exit 2 ;;
    esac
done
out=${OUT:-bench-data}
work=$out/gpu-work
mkdir -p "$work"
report=$out/gpu.md
python=${PYTHON:-$([ -x .venv/bin/python ] && echo .venv/bin/python || echo python3)}
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=2
if [ -n "$wheels" ]; then
    "$python" -m pip install -q --no-index --no-deps --no-compile "$wheels"/*.whl || { echo "gpu.sh: installing $wheels/*.whl failed" >&2; exit 2; }
fi

say() { printf '%s\n' "$@" >>"$report"; }
can() { "$python" -c "$1" >/dev/null 2>&1; }
# row TITLE SECONDS COMMAND...: run COMMAND (stopped after SECONDS), its output in a code block
row() {
    local title=$1 seconds=$2
    shift 2
    say "" "## $title" "" "\`$*\` (limit ${seconds} s)" "" '```'
    local start=$SECONDS
    timeout "$seconds" "$@" 2>&1 | grep -v -E "^(WARNING: All log messages|[IWE][0-9]{4} )|oneDNN custom operations|Failed to load nv(jpeg|tiff)|nvImageCodec's Python distribution|\[(nvjpeg-ext|nvtiff_ext)\]" >>"$report"
    local status=${PIPESTATUS[0]}
    say '```' "" "exit status $status after $((SECONDS - start)) s$([ "$status" = 124 ] && echo ' (stopped at the limit)')"
}
skip() { say "" "## $1" "" "skipped: $2"; }

gpu=0 tf_gpu=0 gdal=0 jax_gpu=0
command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1 && gpu=1
can 'from osgeo import gdal' && gdal=1
[ $gpu = 1 ] && can 'import tensorflow as tf; assert tf.config.list_physical_devices("GPU")' && tf_gpu=1
[ $gpu = 1 ] && can 'import jax; assert any(d.platform == "gpu" for d in jax.devices())' && jax_gpu=1

: >"$report"
say "# bench/gpu.sh, $(date -u '+%Y-%m-%d %H:%M UTC')$([ $quick = 1 ] && echo ', --quick')" ""
say "- GPU: $([ $gpu = 1 ] && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || echo 'none (nvidia-smi finds no GPU): the GPU rows are skipped')"
say "- CPU: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); $(free -g | awk '/Mem:/ {print $2}') GB memory"
say "- Python: $("$python" --version 2>&1) ($python); crmss at $(git rev-parse --short HEAD 2>/dev/null || echo 'an unknown commit')"
say "- packages: $("$python" - <<'PY'
import importlib.metadata as m
names = ["tensorflow", "keras", "jax", "GDAL", "numpy", "nvidia-nvimgcodec-cu13", "nvidia-nvimgcodec-cu12"]
found = []
for name in names:
    try:
        found.append(f"{name} {m.version(name)}")
    except m.PackageNotFoundError:
        found.append(f"{name} absent")
print(", ".join(found))
PY
)"
say "- TensorFlow sees the GPU: $([ $tf_gpu = 1 ] && echo yes || echo no); JAX sees it: $([ $jax_gpu = 1 ] && echo yes || echo no); GDAL: $([ $gdal = 1 ] && echo yes || echo no)"

# the Keras backend of the GPU rows: TensorFlow where it sees the GPU, else JAX
backend=$([ $tf_gpu = 1 ] && echo tensorflow || { [ $jax_gpu = 1 ] && echo jax; })
on_gpu=("GPU tests (pytest -m gpu)" "crmss predict --whole" "Training steps (bench/train.py)" "crmss reproduce --synthetic")
if [ $quick = 1 ]; then
    for title in "${on_gpu[@]}"; do skip "$title" "--quick"; done
elif [ -n "$backend" ] && [ $gdal = 1 ]; then
    size=$([ -d "$work/products-10980" ] && echo 10980 || echo 5490)
    if [ $tf_gpu = 1 ]; then
        row "GPU tests (pytest -m gpu)" 100 "$python" -m pytest -q -m gpu tests
    else
        skip "${on_gpu[0]}" "TensorFlow does not see the GPU (its tests are TensorFlow's)"
    fi
    export KERAS_BACKEND=$backend
    row "crmss predict --whole, $size px product, Keras on $backend" 160 "$python" bench/predict.py --work "$work" --size "$size" --precisions float32 bfloat16 float16 --whole
    row "Training steps (bench/train.py), Keras on $backend" 90 "$python" bench/train.py --work "$work" --batches 1 8
    if can 'import pandas, matplotlib'; then
        rm -rf "$work/study"
        row "crmss reproduce --synthetic 2, width 64, 2 epochs of 200 steps, Keras on $backend" 240 "$python" -m crmss reproduce --synthetic 2 --out "$work/study" --width 64 --epochs 2 --steps-per-epoch 200 --no-progress
    else
        skip "${on_gpu[3]}" "pandas or matplotlib is missing (scripts/gpu_wheels.sh --study)"
    fi
    unset KERAS_BACKEND
else
    reason=$([ $gpu = 1 ] && echo "neither TensorFlow nor JAX sees the GPU here (not installed, or builds without CUDA), or GDAL is missing" || echo "no GPU")
    for title in "${on_gpu[@]}"; do skip "$title" "$reason"; done
fi

sizes=()
[ $quick = 1 ] && sizes=(--width 8 --tile 160 --precisions float32 bfloat16)
if [ $tf_gpu = 1 ]; then
    row "The generator on the GPU, Keras on TensorFlow (bench/generator.py)" 90 "$python" bench/generator.py --backend tensorflow "${sizes[@]}"
elif [ $jax_gpu = 1 ]; then
    row "The generator on the GPU, Keras on JAX (bench/generator.py)" 90 "$python" bench/generator.py --backend jax "${sizes[@]}"
elif can 'import tensorflow'; then
    [ $quick = 1 ] || sizes=(--width 16 --tile 256)
    row "The generator on the CPU, Keras on TensorFlow (bench/generator.py; no backend sees a GPU)" 150 "$python" bench/generator.py --backend tensorflow "${sizes[@]}"
else
    skip "The generator (bench/generator.py)" "neither TensorFlow nor JAX is importable with Keras"
fi

files=()
if [ -n "$jp2" ]; then
    files=("$jp2"/*.jp2)
elif [ -d "$work/products-10980" ]; then
    files=(--work "$work")
elif [ -d "$work/products-5490" ]; then
    files=(--work "$work" --size 5490)
fi
if [ ${#files[@]} = 0 ]; then
    skip "JPEG2000 decoding (bench/decode.py)" "no band files: give --jp2 DIR, or let row 3 make its product"
else
    row "JPEG2000 decoding, GPU (nvImageCodec) against GDAL (bench/decode.py)" 60 "$python" bench/decode.py "${files[@]}"
fi
cat "$report"
