#!/usr/bin/env bash
# The GPU checks of the array-API target (docs/array_api.md, "The GPU checks in one run"),
# as one run on a machine with an NVIDIA GPU: the GPU's name, tests/test_array_api.py on
# the GPU libraries (PyTorch CUDA tensors and CuPy arrays), then benchmarks/gpu_step.py.
# Logs and the JSON table go to $OUT (or gpu_check_out/). Run from the repository root.
set -uo pipefail
out=${OUT:-gpu_check_out}
mkdir -p "$out"
py=${PYTHON:-python3}
if ls .whl/*.whl >/dev/null 2>&1; then    # packages brought along as wheels (no index there)
  "$py" -m pip install -q --no-index --no-deps --target /tmp/gpu_check_site .whl/*.whl \
    && export PYTHONPATH=/tmp/gpu_check_site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
{ date -u; nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1
  "$py" -c "import torch, cupy; print('torch', torch.__version__, torch.cuda.is_available(), \
'cupy', cupy.__version__)" 2>&1; } | tee "$out/gpu.txt"
"$py" -m pytest -q -p no:cacheprovider tests/test_array_api.py -k "torch_cuda or cupy" \
  2>&1 | tee "$out/tests.log" | tail -40
tests=${PIPESTATUS[0]}
"$py" benchmarks/gpu_step.py --json "$out/gpu_step.json" 2>&1 | tee "$out/gpu_step.log"
bench=${PIPESTATUS[0]}
echo "gpu_check: tests exit $tests, gpu_step exit $bench"
exit $(( tests != 0 || bench != 0 ))
