"""Test error of finished runs under adversarial attacks, white-box or black-box (transfer from a
``source`` run), as in AdvMixup's Tables IV–V, with a gradient-masking check (``semimix attack``,
``semimix.api.attack``); and the run → model helpers that the other workflows attack through.

Per run it writes ``RUN_DIR/<stem>.json`` and ``RUN_DIR/<stem>.png`` (error against ε), where
``<stem>`` is ``attack-<attack>-<white|black>``, with ``-<norm>`` added when the norm is not the
attack's default and ``-pixel`` when ε is in raw units; several runs (or ``out``) also give one
comparison table, ``<stem>-table.md`` / ``.json`` and a ``<stem>.png`` with every run's curve, in
``out`` or beside the first run directory.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

from semimix.errors import SemimixError
from semimix.eval.settings import DEFAULT_BATCH, DEFAULT_NORM, MASKING_EPSILON, MASKING_STEPS

if TYPE_CHECKING:
    import torch

    from semimix.eval.robustness import ScoreModel
    from semimix.runs import Run

DEFAULT_EPS = (1.0, 2.0, 3.0, 5.0, 8.0)
MASKING_SAMPLES = 1000


class AttackSettings(TypedDict):
    """The keyword arguments of ``semimix.eval.robustness.attack_errors`` that one attack of several runs shares."""

    attack: str
    norm: str
    steps: int
    step_size: float | None
    random_start: bool
    batch_size: int


# ----------------------------------------------------------------------------- runs → models and inputs
def score_model(run: Run, raw: bool) -> ScoreModel:
    """The run's eval-mode model as class scores of model inputs, or of raw inputs (``raw``: preprocess included)."""
    from semimix.eval.robustness import ScoreModel

    prep = run.data.preprocess.to(run.trainer.device) if raw and run.data.preprocess is not None else None
    return ScoreModel(run.model, run.trainer.class_scores, prep).eval()


def model_inputs(run: Run, x: torch.Tensor, batch_size: int = DEFAULT_BATCH) -> torch.Tensor:
    """Raw inputs → the model's input units (preprocess applied), as float32 on the CPU."""
    import torch

    with torch.no_grad():
        return torch.cat([run.preprocess(x[i : i + batch_size]).cpu() for i in range(0, len(x), batch_size)]) if len(x) else x.float()


def check_compatible(source: Run, target: Run, split: str, eps_units: str) -> None:
    """A black-box source must see exactly the target's samples; with ε in input units also the same preprocess."""
    import torch

    from semimix.data.bundle import same_inputs
    from semimix.eval.robustness import same_module

    where = f"--source {source.run_dir} and {target.run_dir}"
    if source.data.name != target.data.name or source.data.num_classes != target.data.num_classes:
        raise SemimixError(f"{where} are on different datasets ({source.data.name}, {target.data.name}); a transfer attack needs the same one")
    (xs, ys), (xt, yt) = source.split(split), target.split(split)
    if not torch.equal(ys, yt) or not same_inputs(xs, xt):
        raise SemimixError(f"{where} have different {split} splits (other seed, sizes or data options); train the source with the target's data settings")
    if eps_units == "input" and not same_module(source.data.preprocess, target.data.preprocess):
        raise SemimixError(f"{where} preprocess their inputs differently, so 'input units' differ; use --eps-units pixel")


def output_stem(attack: str, norm: str, black: bool, eps_units: str) -> str:
    stem = f"attack-{attack}-{'black' if black else 'white'}"
    if norm != DEFAULT_NORM[attack]:
        stem += f"-{norm}"
    return stem + ("-pixel" if eps_units == "pixel" else "")


def run_label(run: Run) -> str:
    return f"{run.config.method} ({run.run_dir.name})"


# ----------------------------------------------------------------------------- the workflow
def attack_runs(
    run_dirs: list[str | Path],
    attack: str = "fgm",
    eps: list[float] | None = None,
    norm: str | None = None,
    steps: int | None = None,
    step_size: float | None = None,
    random_start: bool = True,
    source: str | Path | None = None,
    split: str = "test",
    checkpoint: str = "best",
    eps_units: str = "input",
    batch_size: int = DEFAULT_BATCH,
    masking_steps: int = MASKING_STEPS,
    masking_eps: float = MASKING_EPSILON,
    masking_norm: str = "linf",
    masking_samples: int = MASKING_SAMPLES,
    seed: int = 0,
    out: str | Path | None = None,
) -> dict[str, Any]:
    """Attack each run (white-box, or black-box from ``source``), as the module doc says; writes each
    run's JSON and figure, and with several runs or ``out`` the comparison table. Returns
    ``setting``, ``runs`` (one result per run), ``table`` (markdown), ``notes`` and ``written``."""
    import torch

    from semimix import plots
    from semimix.data.bundle import decoded
    from semimix.eval.robustness import attack_errors, masking_check, resolve_norm
    from semimix.files import write_json, write_text
    from semimix.runs import load_run

    try:
        norm = resolve_norm(attack, norm)
    except ValueError as exc:
        raise SemimixError(str(exc)) from None
    steps = steps if steps is not None else (1 if attack == "vat" else 10)
    lower_bounds = (("--batch-size", batch_size, 1), ("--steps", steps, 1), ("--masking-steps", masking_steps, 0), ("--masking-samples", masking_samples, 1))
    for flag, value, least in lower_bounds:
        if value < least:
            raise SemimixError(f"{flag} must be >= {least}, got {value}")
    eps = list(DEFAULT_EPS) if eps is None else list(eps)
    if not eps or any(not e >= 0 for e in eps):
        raise SemimixError(f"eps must be a non-empty list of numbers >= 0, got {eps!r}")
    raw = eps_units == "pixel"
    targets = [load_run(d, checkpoint) for d in ([run_dirs] if isinstance(run_dirs, (str, Path)) else run_dirs)]
    src = load_run(source, checkpoint) if source is not None else None
    black = src is not None
    notes: list[str] = []
    for t in targets:
        if src is not None:
            check_compatible(src, t, split, eps_units)
            if src.run_dir.resolve() == t.run_dir.resolve():
                notes.append(f"{t.run_dir}: the source is the target itself, so its black-box numbers are white-box ones")
        if raw and t.data.preprocess is None:
            notes.append(f"{t.run_dir}: no preprocess module (data normalised when loaded), so pixel units = the model's input units")
    attack_kw = AttackSettings(attack=attack, norm=norm, steps=steps, step_size=step_size, random_start=random_start, batch_size=batch_size)

    results: list[dict] = []
    shared = None  # black-box: every target's errors on the source's adversarial inputs
    if src is not None:
        xs_raw, y = src.split(split)
        xs_raw = decoded(xs_raw)  # a streamed folder's images: attacks need them all at once
        x_src = xs_raw.float() if raw else model_inputs(src, xs_raw, batch_size)
        torch.manual_seed(seed)
        shared = attack_errors(score_model(src, raw), {str(i): score_model(t, raw) for i, t in enumerate(targets)}, x_src, y, eps, **attack_kw)
    for i, t in enumerate(targets):
        x_raw, y = t.split(split)
        x_raw = decoded(x_raw)
        x_in = model_inputs(t, x_raw, batch_size)
        if shared is not None:
            key, res = str(i), shared
        else:
            torch.manual_seed(seed)
            key, res = "0", attack_errors(score_model(t, raw), {"0": score_model(t, raw)}, x_raw.float() if raw else x_in, y, eps, **attack_kw)
        masking = None
        if masking_steps > 0:
            n = min(len(x_in), masking_samples)
            masking = masking_check(
                score_model(t, raw=False), x_in[:n], y[:n], norm=masking_norm, epsilon=masking_eps, steps=masking_steps, batch_size=batch_size
            )
        results.append(
            {
                "run_dir": str(t.run_dir),
                "method": t.config.method,
                "setting": "black-box" if black else "white-box",
                "attack": attack,
                "norm": norm,
                "steps": steps if attack in ("pgd", "vat") else 1,
                "step_size": step_size if attack == "pgd" else None,
                "random_start": (random_start) if attack == "pgd" else None,
                "eps_units": eps_units,
                "eps_units_meaning": "raw data units (model∘preprocess attacked)" if raw else "model input units (after normalisation/ZCA)",
                "split": split,
                "checkpoint": t.checkpoint,
                "samples": len(y),
                "source": None
                if src is None
                else {"run_dir": str(src.run_dir), "method": src.config.method, "clean_error": res["source_clean_error"], "errors": res["source_errors"]},
                "epsilons": res["epsilons"],
                "clean_error": res["clean_error"][key],
                "errors": res["errors"][key],
                "error_by_eps": {f"{e:g}": err for e, err in zip(res["epsilons"], res["errors"][key])},
                "perturbation_norms": res["perturbation"],
                "gradient_masking_check": masking,
                "possible_gradient_masking": None if masking is None else masking["possible_gradient_masking"],
                "seed": seed,
            }
        )

    stem = output_stem(attack, norm, black, eps_units)
    written: list[Path] = []
    setting = f"{'black-box' if black else 'white-box'} {attack} ({norm}, ε in {'raw' if raw else 'input'} units), {split} split"
    for t, r in zip(targets, results):
        fig, (ax,) = plots.new_figure(1)
        curves = {run_label(t): [r["clean_error"], *r["errors"]]}
        if src is not None:
            curves[f"source: {src.config.method} (white-box)"] = [r["source"]["clean_error"], *r["source"]["errors"]]
        plots.draw_attack_curves(ax, [0.0, *r["epsilons"]], curves, title=f"{t.run_dir.name}: {setting}")
        written.append(plots.save_figure(fig, t.run_dir / f"{stem}.png"))
        r["figure"] = f"{stem}.png"
        write_json(t.run_dir / f"{stem}.json", r)
        written.append(t.run_dir / f"{stem}.json")

    table = format_table(targets, results)
    notes = masking_lines(targets, results) + notes
    if len(targets) > 1 or out:
        folder = Path(out) if out else targets[0].run_dir.parent
        write_text(folder / f"{stem}-table.md", f"{setting}; test error (%)\n\n{table}\n\n" + "\n".join(notes) + "\n")
        write_json(folder / f"{stem}-table.json", {"setting": setting, "runs": results})
        fig, (ax,) = plots.new_figure(1)
        plots.draw_attack_curves(ax, [0.0, *eps], {run_label(t): [r["clean_error"], *r["errors"]] for t, r in zip(targets, results)}, title=setting)
        written += [folder / f"{stem}-table.md", folder / f"{stem}-table.json", plots.save_figure(fig, folder / f"{stem}.png")]
    return {"setting": setting, "runs": results, "table": table, "notes": notes, "written": [str(p) for p in written]}


def format_table(targets: list[Run], results: list[dict]) -> str:
    """Rows = runs, columns = clean and each ε (error %), plus the unbounded-PGD accuracy (%)."""
    from semimix.tables import format_percent, markdown_table

    eps = results[0]["epsilons"]
    header = ["run", "clean", *(f"ε={e:g}" for e in eps), "unbounded PGD acc."]
    rows = []
    for t, r in zip(targets, results):
        m = r["gradient_masking_check"]
        check = "skipped" if m is None else format_percent(m["accuracy"]) + (" (masking?)" if m["possible_gradient_masking"] else "")
        rows.append([run_label(t), format_percent(r["clean_error"]), *(format_percent(e) for e in r["errors"]), check])
    return markdown_table(header, rows)


def masking_lines(targets: list[Run], results: list[dict]) -> list[str]:
    lines = []
    for t, r in zip(targets, results):
        m = r["gradient_masking_check"]
        if m is not None and m["possible_gradient_masking"]:
            lines.append(
                f"WARNING {t.run_dir}: possible gradient masking: unbounded PGD ({m['norm']}, ε={m['epsilon']:g}, {m['steps']} steps) "
                f"leaves accuracy {100 * m['accuracy']:.1f}% (> {100 * m['threshold']:.0f}%); its robustness numbers may overstate robustness"
            )
    checked = [r for r in results if r["gradient_masking_check"] is not None]
    if checked and not lines:
        worst = max(r["gradient_masking_check"]["accuracy"] for r in checked)
        lines.append(f"gradient-masking check passed: unbounded PGD drives accuracy to ≤ {100 * worst:.1f}% on every run")
    return lines


__all__ = ["DEFAULT_EPS", "MASKING_SAMPLES", "AttackSettings", "attack_runs", "check_compatible", "model_inputs", "output_stem", "run_label", "score_model"]
