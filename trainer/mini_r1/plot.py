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
            axes.plot(steps, values, label=name, marker=".", linewidth=1)
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
