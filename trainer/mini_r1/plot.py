"""The PNG of the mini R1 run: TRL's mean reward per step, one line per reward."""

from __future__ import annotations

from pathlib import Path


def plot_reward_curves(curves: dict[str, list[tuple[int, float]]], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4))
    for name, points in curves.items():
        if points:
            steps, values = zip(*points, strict=True)
            (line,) = axes.plot(steps, values, marker=".", linewidth=0.6, alpha=0.35)
            smooth = _moving_average(values, 5)
            axes.plot(steps, smooth, color=line.get_color(), linewidth=2, label=f"{name} (5-step mean)")
    axes.set_xlabel("GRPO step")
    axes.set_ylabel("mean reward over the step's completions")
    axes.set_title("mini R1, Stage 2: rewards from the verifier")
    axes.set_ylim(-0.05, 1.05)
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def _moving_average(values: tuple[float, ...], window: int) -> list[float]:
    """Mean of each value and up to ``window - 1`` before it: a single step's 64 samples are noisy."""
    out = []
    for i in range(len(values)):
        recent = values[max(0, i - window + 1) : i + 1]
        out.append(sum(recent) / len(recent))
    return out
