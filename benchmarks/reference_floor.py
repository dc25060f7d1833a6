"""The fastest step USB and LAMDA-SSL could take on this machine, from their own network's pass costs.

Issue 8 quotes CPU step times of USB (``semilearn`` 0.3.2) and LAMDA-SSL 1.0.2 on WRN-28-2, 32x32,
16 labeled + 32 unlabeled. Whatever else their loops do, each step runs at least the forward and
backward passes its ``train_step`` calls. This script costs those passes on USB's own
``WideResNet`` (loaded from the file in USB's wheel, not from a reimplementation) and adds them up
per method, giving a floor under each library's step here; beside it, the quoted figure and
semimix's measured step (``semimix bench speed`` on the same workload, in the same process).

Get USB's network file (no install needed; its package imports torchvision):

    pip download semilearn==0.3.2 --no-deps -d /tmp/usb && unzip -q /tmp/usb/*.whl -d /tmp/usb
    python benchmarks/reference_floor.py --usb-wrn /tmp/usb/semilearn/nets/wrn/wrn.py --steps 4

The pass lists below are read from the libraries' code (batch sizes for B labeled, U unlabeled):
- FixMatch, USB ``algorithms/fixmatch/fixmatch.py`` (``use_cat``): one forward of B + 2U with grad.
- VAT, USB ``algorithms/vat/vat.py``: labeled forward with grad; clean unlabeled forward; one power
  iteration (forward + backward to the perturbation); adversarial forward with grad.
- MixMatch, USB ``algorithms/mixmatch/mixmatch.py``: two guess forwards without grad (U each); a
  labeled forward; the mixed batch B + 2U forward with grad (in chunks).
- Mean Teacher, USB ``algorithms/meanteacher/meanteacher.py``: labeled forward with grad; EMA forward
  of U without grad; strong-view forward of U with grad.
- ICT, LAMDA-SSL ``Algorithm/Classification/ICT.py``: labeled forward with grad; EMA forward of U
  without grad; mixed forward of U with grad.
Forwards whose output no loss uses count as no-grad forwards, so the floor errs low.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import types
from pathlib import Path

import torch

from semimix.bench.speed import SpeedOptions, measure, pass_costs, predicted_time
from semimix.methods.base import NO_GRAD, Pass, power_iterations, trained

# Issue 8's figures (s/step), measured by whoever filed it; not re-measured here.
QUOTED_S = {"fixmatch": 0.63, "vat": 0.85, "mixmatch": 0.82, "ict": 0.46, "mean-teacher": 0.50}


def reference_passes(method: str, b: int, u: int) -> list[Pass]:
    """The passes the reference library's step runs (see the module docstring for the sources)."""
    return {
        "fixmatch": trained(b + 2 * u),
        "vat": [*trained(b), (NO_GRAD, u), *power_iterations(u, 1), *trained(u)],
        "mixmatch": [(NO_GRAD, u), (NO_GRAD, u), (NO_GRAD, b), *trained(b + 2 * u)],
        "mean-teacher": [*trained(b), (NO_GRAD, u), *trained(u)],
        "ict": [*trained(b), (NO_GRAD, u), *trained(u)],
    }[method]


class Logits(torch.nn.Module):
    """USB's networks return a dict; the pass timer wants logits."""

    def __init__(self, net: torch.nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)["logits"]


def load_usb_wrn(path: Path) -> torch.nn.Module:
    """USB's WRN-28-2 (CIFAR settings: first stride 1, widen factor 2) from its source file, with
    the one package-internal import it makes (a checkpoint loader it does not call here) stubbed."""
    if not path.is_file():
        sys.exit(f"--usb-wrn: no file {path}; see this script's docstring for how to get USB's wrn.py")
    utils = types.ModuleType("semilearn.nets.utils")
    utils.load_checkpoint = None  # type: ignore[attr-defined]
    for name in ("semilearn", "semilearn.nets"):
        sys.modules.setdefault(name, types.ModuleType(name))
    sys.modules["semilearn.nets.utils"] = utils
    spec = importlib.util.spec_from_file_location("usb_wrn", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return Logits(module.WideResNet(first_stride=1, num_classes=10, depth=28, widen_factor=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--usb-wrn", type=Path, required=True, help="semilearn/nets/wrn/wrn.py from USB's wheel")
    parser.add_argument("--methods", default="fixmatch,vat,mixmatch,ict,mean-teacher")
    parser.add_argument("--labeled-batch", type=int, default=16)
    parser.add_argument("--unlabeled-batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=4, help="timed semimix steps per method (and pass-cost rounds)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    methods = [m for m in args.methods.split(",") if m]
    unknown = sorted(set(methods) - set(QUOTED_S))
    if unknown:
        sys.exit(f"--methods: no reference pass list for {unknown}; choose from {sorted(QUOTED_S)}")
    b, u = args.labeled_batch, args.unlabeled_batch
    if b < 1 or u < 1 or args.steps < 1:
        sys.exit("--labeled-batch, --unlabeled-batch and --steps must be positive integers")

    torch.manual_seed(0)
    usb = load_usb_wrn(args.usb_wrn)
    lists = {m: reference_passes(m, b, u) for m in methods}
    sizes = {n for passes in lists.values() for _, n in passes}
    costs = pass_costs(usb, (3, 32, 32), torch.device("cpu"), False, sizes, max(3, args.steps))
    ours = measure(SpeedOptions(methods=methods, model="wrn-28-2", labeled_batch=b, unlabeled_batch=u, steps=args.steps, warmup=1))

    rows = {}
    print("| method | reference floor s (USB's WRN, its passes) | quoted s | quoted ÷ floor | semimix s | semimix ÷ floor |")
    print("|---|---|---|---|---|---|")
    for m in methods:
        floor = predicted_time(lists[m], costs)
        step = ours["methods"][m]["step_time_s"]
        rows[m] = {"reference_floor_s": floor, "quoted_s": QUOTED_S[m], "semimix_step_s": step}
        print(f"| {m} | {floor:.3f} | {QUOTED_S[m]:.2f} | {QUOTED_S[m] / floor:.2f} | {step:.3f} | {step / floor:.2f} |")
    print(
        f"\ntorch {torch.__version__}, {torch.get_num_threads()} threads; pass costs (s): "
        + ", ".join(f"{k}@{n} {c:.3f}" for (k, n), c in sorted(costs.items()))
    )
    if args.json:
        args.json.write_text(
            json.dumps(
                {"torch_threads": torch.get_num_threads(), "methods": rows, "pass_costs_s": {f"{k}@{n}": c for (k, n), c in sorted(costs.items())}}, indent=2
            )
        )


if __name__ == "__main__":
    main()
