"""The fixture check and the grading give the same verdicts on any CPU.

NumPy chooses SIMD kernels at run time, and the last bits of ``power``, ``exp``,
``log``, ... differ between them; torch does the same with its CPU kernels.
``NPY_DISABLE_CPU_FEATURES`` and ``ATEN_CPU_CAPABILITY`` make this machine behave as a
CPU without the named groups, so these tests run what an instructor runs --
``python -m autograder fixtures --check`` and the graded tests of a correct solution --
as a CPU without AVX-512, and as one without AVX2 and AVX-512 (the baseline kernels of
NumPy and torch) would.  Both fail when the fixtures' inputs are redrawn instead of read.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
# Private, but what numpy.show_runtime() reads: the SIMD groups NumPy dispatches at run time.
from numpy._core._multiarray_umath import __cpu_dispatch__

ROOT = Path(__file__).resolve().parents[1]

#: Per simulated CPU: NumPy's dispatched groups to disable (NumPy 2.4 on x86-64 names them
#: X86_V3 (AVX2), X86_V4 (AVX-512), AVX512_ICL and AVX512_SPR) and torch's kernel level.
SIMULATED_CPUS = {
    "baseline": (list(__cpu_dispatch__), "default"),
    "no_avx512": ([name for name in __cpu_dispatch__ if name == "X86_V4" or "AVX512" in name], "avx2"),
}

PROGRAM = """
import os
from numpy._core._multiarray_umath import __cpu_features__
disabled = os.environ["NPY_DISABLE_CPU_FEATURES"].split()
assert not any(__cpu_features__.get(name) for name in disabled), "NumPy ignored NPY_DISABLE_CPU_FEATURES"
from autograder.checks import TESTS, check
from autograder.cli import main
from autograder.diagnosis import SOLUTIONS
assert main(["fixtures", "--check"]) == 0, "the fixture check failed"
for assignment, specs in TESTS.items():
    for spec in specs:
        check(assignment, spec.name, SOLUTIONS[assignment])
"""


@pytest.mark.parametrize("cpu", sorted(SIMULATED_CPUS))
def test_fixture_check_and_grading_pass_on_a_cpu_with_fewer_simd_features(cpu):
    disabled, torch_capability = SIMULATED_CPUS[cpu]
    if not disabled:
        pytest.skip(f"NumPy dispatches no such SIMD group here: {__cpu_dispatch__}")
    env = {**os.environ, "NPY_DISABLE_CPU_FEATURES": " ".join(disabled), "ATEN_CPU_CAPABILITY": torch_capability}
    result = subprocess.run([sys.executable, "-c", PROGRAM], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
