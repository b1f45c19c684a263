"""The PNG of the mini R1 run: Stage 2's curves per step, one colour per Stage 2 run from the same Stage 1."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trainer.mini_r1.run import Stage2Result

# Panel -> (curves drawn in it, y label); the linestyle tells the reward components of the first panel apart.
_PANELS: list[tuple[list[str], str]] = [
    (["math", "format"], "mean reward (math solid, format dashed)"),
    (["language"], "language score (share in the prompt's language)"),
    (["length"], "completion length (tokens)"),
    (["kl"], "KL to the Stage 1 model"),
]
_STYLES = {"math": "-", "format": "--"}


def plot_runs(runs: list[Stage2Result], path: Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, grid = plt.subplots(2, 2, figsize=(11, 7), sharex=True)
    panels: list[Any] = list(grid.flat)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for axes, (names, ylabel) in zip(panels, _PANELS, strict=True):
        for index, result in enumerate(runs):
            for name in names:
                _draw(axes, result.curves[name], colours[index % len(colours)], _STYLES.get(name, "-"),
                      f"{_label(result)}" if name == names[0] else None)
        axes.set_ylabel(ylabel)
        axes.grid(alpha=0.3)
        if not any(result.curves[n] for result in runs for n in names):
            axes.text(0.5, 0.5, "not logged (beta 0)", ha="center", va="center", transform=axes.transAxes)
    for axes in panels[:2]:
        axes.set_ylim(-0.05, 1.05)
    for axes in panels[2:]:
        axes.set_xlabel("GRPO step")
    panels[0].legend(fontsize=8)
    figure.suptitle(f"{title}: thin lines per step, thick 5-step means")
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return path


def _label(result: Stage2Result) -> str:
    rewarded = [name for name, weight in result.rewards.items() if weight]
    language = result.rewards.get("language", 0.0)
    weight = f"language {language:g}" if language else "language not rewarded"
    return "+".join(rewarded) + f" ({weight}, beta {result.beta:g})"


def _draw(axes: Any, points: list[tuple[int, float]], colour: str, style: str, label: str | None) -> None:
    if not points:
        return
    steps, values = zip(*points, strict=True)
    axes.plot(steps, values, color=colour, linestyle=style, linewidth=0.6, alpha=0.3)
    axes.plot(steps, _moving_average(values, 5), color=colour, linestyle=style, linewidth=2, label=label)


def _moving_average(values: tuple[float, ...], window: int) -> list[float]:
    """Mean of each value and up to ``window - 1`` before it: a single step's 64 samples are noisy."""
    out = []
    for i in range(len(values)):
        recent = values[max(0, i - window + 1) : i + 1]
        out.append(sum(recent) / len(recent))
    return out


def main(argv: list[str] | None = None) -> int:
    """``python -m trainer.mini_r1.plot --out X.png A/result.json B/result.json``: every Stage 2 run of those
    results (runs made with ``--stage1`` from one Stage 1, each with its own ``--language-weights``) in one PNG."""
    import argparse

    from trainer.mini_r1.run import load_result

    parser = argparse.ArgumentParser(prog="python -m trainer.mini_r1.plot", description=main.__doc__)
    parser.add_argument("results", nargs="+", type=Path, help="result.json files of mini R1 runs")
    parser.add_argument("--out", type=Path, required=True, help="the PNG to write")
    parser.add_argument("--title", default="mini R1", help="the figure's title")
    args = parser.parse_args(argv)
    runs = [stage2 for path in args.results for stage2 in load_result(path).stage2]
    print(plot_runs(runs, args.out, args.title))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
