"""``benchmarks/peer_step.py --compare`` lines up runs from different venvs without importing torch
(it runs in a subprocess: the script is not part of the package, and its timing modes need the peers)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "peer_step.py"
MACHINE = {"cpu": "Test CPU", "logical_cpus": 2, "bf16_flags": ["amx_bf16"], "load_average_at_start": [0.1, 0.1, 0.1], "python": "3.11"}
WORKLOAD = {"model": "WRN-28-2", "input_shape": [3, 32, 32], "classes": 10, "labeled_batch": 16, "unlabeled_batch": 32, "device": "cpu"}


def run_file(library: str, version: str, precision: str, memory_format: str, methods: dict) -> dict:
    return {
        "library": library,
        "library_version": version,
        "precision": precision,
        "memory_format": memory_format,
        "torch": "2.13.0",
        "torch_threads": 2,
        "machine": MACHINE,
        "workload": WORKLOAD,
        "steps": 10,
        "warmup": 2,
        "methods": methods,
    }


def test_compare_table(tmp_path: Path) -> None:
    ours = run_file("semimix", "0.1.0", "bf16", "channels-last", {"fixmatch": {"step_time_s": 0.5}, "ict": {"step_time_s": 0.4}})
    usb = run_file("usb", "0.3.2", "fp32", "contiguous", {"fixmatch": {"step_time_s": 1.25}, "ict": {"skipped": "USB 0.3.2 has no ict"}})
    paths = [tmp_path / "ours.json", tmp_path / "usb.json"]
    for path, result in zip(paths, [ours, usb]):
        path.write_text(json.dumps(result))
    check = (
        "import runpy, sys; sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__'); "
        "assert 'torch' not in sys.modules, 'the table imports torch'"
    )
    out = subprocess.run([sys.executable, "-c", check, str(SCRIPT), "--compare", *map(str, paths)], capture_output=True, text=True, check=True).stdout
    lines = out.splitlines()
    assert lines[0] == "| method | semimix bf16+CL s | USB fp32 s | USB fp32 ÷ semimix bf16+CL |"
    assert "| fixmatch | 0.500 | 1.250 | 2.50 |" in lines
    assert "| ict | 0.400 | — | — |" in lines  # USB has no ICT: no time, no ratio
    assert any("ict: not run: USB 0.3.2 has no ict" in line for line in lines)
    assert any(line.startswith("- USB fp32: semilearn 0.3.2, torch 2.13.0, 2 threads") for line in lines)

    other = tmp_path / "other.json"
    other.write_text(json.dumps({**usb, "workload": {**WORKLOAD, "unlabeled_batch": 64}}))
    refused = subprocess.run([sys.executable, str(SCRIPT), "--compare", str(paths[0]), str(other)], capture_output=True, text=True)
    assert refused.returncode != 0 and "different workloads" in refused.stderr
