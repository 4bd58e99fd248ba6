"""CPU kernel sets: the same seed gives other numbers under other math kernels.

torch picks its CPU kernels (ATen's vectorised code, oneDNN's convolutions) for the CPU it
runs on; two environment variables, read when torch is imported, force an older set:

- ``avx2``: ``ATEN_CPU_CAPABILITY=avx2 DNNL_MAX_CPU_ISA=AVX2``, what most laptops run;
- ``portable``: ``ATEN_CPU_CAPABILITY=default DNNL_MAX_CPU_ISA=SSE41``, 3-5x slower on
  convolutions.

The *second* set of a machine is AVX2 where its own kernels are AVX-512, else the portable
one. ``make test`` runs the tests that assert training outcomes once more under it:

    python -m benchmarks.kernels second -- python -m pytest -m outcomes tests
"""

from __future__ import annotations

import os
import subprocess
import sys

KERNEL_SETS = {
    "native": {},
    "avx2": {"ATEN_CPU_CAPABILITY": "avx2", "DNNL_MAX_CPU_ISA": "AVX2"},
    "portable": {"ATEN_CPU_CAPABILITY": "default", "DNNL_MAX_CPU_ISA": "SSE41"},
}
_VARIABLES = tuple(KERNEL_SETS["portable"])


def environment(kernels: str, base: dict | None = None) -> dict:
    """``base`` (default: this process's environment) with ``kernels`` forced, or unforced."""
    if kernels not in KERNEL_SETS:
        raise ValueError(f"unknown kernel set {kernels!r}; choose from {sorted(KERNEL_SETS)}")
    env = {k: v for k, v in (os.environ if base is None else base).items()
           if k not in _VARIABLES}
    return env | KERNEL_SETS[kernels]


def own_capability() -> str:
    """What torch's CPU kernels are here when nothing forces them ("AVX512", "AVX2", ...)."""
    out = subprocess.run([sys.executable, "-c", "import torch; "
                          "print(torch.backends.cpu.get_cpu_capability())"],
                         env=environment("native"), capture_output=True, text=True, check=True)
    return out.stdout.strip()


def second_kernel_set(capability: str | None = None) -> str:
    """``avx2`` where this machine runs AVX-512, else ``portable``."""
    capability = own_capability() if capability is None else capability
    return "avx2" if capability.upper().startswith("AVX512") else "portable"


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        print("usage: python -m benchmarks.kernels {native,avx2,portable,second} -- COMMAND...",
              file=sys.stderr)
        return 2
    kernels = second_kernel_set() if argv[0] == "second" else argv[0]
    env = environment(kernels)
    print(f"kernel set {kernels}: " + (" ".join(f"{k}={env[k]}" for k in _VARIABLES
                                                 if k in env) or "unforced"), flush=True)
    return subprocess.run(argv[2:], env=env).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
