"""AdvMixup's Fig. 3 for one run (``semimix paths``, ``semimix.api.paths``): its error on virtual
samples along real–real (ICT) and real–adversarial (AdvMixup) interpolation paths against λ.

Writes ``paths-<split>-<checkpoint>.json`` and ``.png`` into the run directory (or ``out``). The
paper draws it for a supervised run (one trained on the labeled data only); any run works. See
``semimix.eval.paths`` for the definitions (error = prediction ≠ dominant label of the mixed
target; at λ = 0.5 between two classes a random tie-break, counted in expectation).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from semimix.errors import SemimixError
from semimix.eval.settings import DEFAULT_BATCH, DEFAULT_GRID

DEFAULT_PAIRS = 500
FALLBACK_EPSILON = 1.0


def default_epsilon(config: Any) -> tuple[float, str]:
    """ε and where it came from: the run's method, else its config's advmixup entry, else the fallback."""
    own = config.params_for_method().get("epsilon")
    if own is not None:
        return float(own), f"the run's {config.method} epsilon"
    adv = config.method_params.get("advmixup", {}).get("epsilon")
    if adv is not None:
        return float(adv), "the config's method_params.advmixup.epsilon"
    return FALLBACK_EPSILON, "the fallback (no ε in the run's config)"


def interpolation_paths(
    run_dir: str | Path,
    pairs: int = DEFAULT_PAIRS,
    epsilon: float | None = None,
    points: int = DEFAULT_GRID,
    split: str = "test",
    checkpoint: str = "best",
    xi: float = 1e-6,
    power_iterations: int = 1,
    distinct_classes: bool = False,
    batch_size: int = DEFAULT_BATCH,
    seed: int = 0,
    out: str | Path | None = None,
) -> dict[str, Any]:
    """The path study of one run (see the module doc); writes its JSON and figure into ``out``
    (default: the run directory) and returns the result, with ``written`` (the files)."""
    from semimix import plots
    from semimix.data.bundle import decoded
    from semimix.eval.paths import path_study
    from semimix.files import write_json
    from semimix.runs import load_run
    from semimix.workflows.attack import model_inputs, score_model

    for flag, value, least in (("pairs", pairs, 1), ("points", points, 2), ("power_iterations", power_iterations, 1), ("batch_size", batch_size, 1)):
        if value < least:
            raise SemimixError(f"{flag} must be >= {least}, got {value}")
    loaded = load_run(run_dir, checkpoint)
    if epsilon is not None:
        if not epsilon >= 0:
            raise SemimixError(f"epsilon must be >= 0, got {epsilon}")
        origin = "--epsilon"
    else:
        epsilon, origin = default_epsilon(loaded.config)
    x_raw, y = loaded.split(split)
    x = model_inputs(loaded, decoded(x_raw), batch_size)  # a streamed folder's images decoded: the study pairs any two
    try:
        result = path_study(
            score_model(loaded, raw=False),
            x,
            y,
            pairs=pairs,
            epsilon=epsilon,
            points=points,
            seed=seed,
            xi=xi,
            power_iterations=power_iterations,
            distinct_classes=distinct_classes,
            batch_size=batch_size,
        )
    except ValueError as exc:
        raise SemimixError(f"{loaded.run_dir}: {exc}") from None
    result = {
        "run_dir": str(loaded.run_dir),
        "method": loaded.config.method,
        "split": split,
        "checkpoint": loaded.checkpoint,
        "epsilon_units": "model input units (after normalisation/ZCA)",
        "epsilon_from": origin,
        **result,
    }

    folder = Path(out) if out else loaded.run_dir
    stem = f"paths-{split}-{loaded.checkpoint}"
    fig, (ax,) = plots.new_figure(1)
    curves = {k: (result[k]["error"], result[k]["sem"]) for k in ("real_real", "real_adversarial")}
    plots.draw_path_errors(ax, result["lambdas"], curves, title=f"{loaded.run_dir.name} ({loaded.config.method}): {pairs} {split} pairs, ε={epsilon:g}")
    png = plots.save_figure(fig, folder / f"{stem}.png")
    result["figure"] = png.name
    write_json(folder / f"{stem}.json", result)
    return {**result, "written": [str(folder / f"{stem}.json"), str(png)]}


__all__ = ["DEFAULT_PAIRS", "FALLBACK_EPSILON", "default_epsilon", "interpolation_paths"]
