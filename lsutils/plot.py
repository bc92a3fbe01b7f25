"""The book's figures: one style, sized for the page, built from stored results.

Figures are at most ``PAGE_WIDTH`` inches wide at ``DPI``, so the page shows them at their own
size and text keeps the ``FONT_SIZE`` it was drawn with. Chapters call one function per figure
and glue the returned ``Figure`` into a numbered, captioned MyST figure.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import matplotlib
import matplotlib.axes
import matplotlib.figure
import matplotlib.patches
import matplotlib.pyplot as plt
import matplotlib.text
import matplotlib.transforms
import numpy as np

from lsutils.report import plain

__all__ = ["PAGE_WIDTH", "DPI", "FONT_SIZE", "ARM_COLORS", "styled", "new_figure", "projection_grid",
           "learning_curves", "distance_vs_confusion", "series_panels", "band", "legend_below",
           "spread_labels", "close"]

PAGE_WIDTH = 7.5      # inches: the text column of the book's theme at 100 dpi
DPI = 100
FONT_SIZE = 9         # points, the smallest text on any figure
ARM_COLORS = {0.0: "tab:blue", 0.1: "tab:red"}   # α = 0 and α = 0.1 on every figure
CLASS_COLORS = ("tab:blue", "tab:orange", "tab:green")

_STYLE = {"font.size": FONT_SIZE, "axes.titlesize": FONT_SIZE + 1, "axes.labelsize": FONT_SIZE,
          "xtick.labelsize": FONT_SIZE, "ytick.labelsize": FONT_SIZE, "legend.fontsize": FONT_SIZE,
          "figure.dpi": DPI, "savefig.dpi": DPI, "axes.spines.top": False, "axes.spines.right": False}


def styled(fn):
    """Run a plotting function under the book's rc settings (text drawn later keeps them)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with matplotlib.rc_context(_STYLE):
            return fn(*args, **kwargs)
    return wrapper


def new_figure(rows: int, cols: int, height: float, width: float = PAGE_WIDTH, **kw):
    """``plt.subplots`` in the book's style; ``width`` ≤ ``PAGE_WIDTH`` inches (ValueError beyond)."""
    if not 0 < width <= PAGE_WIDTH:
        raise ValueError(f"width must be in (0, {PAGE_WIDTH}] inches (the page), got {width!r}")
    if not 0 < height <= 2 * PAGE_WIDTH:
        raise ValueError(f"height must be in (0, {2 * PAGE_WIDTH}] inches, got {height!r}")
    with matplotlib.rc_context(_STYLE):
        fig, axes = plt.subplots(rows, cols, figsize=(width, height), squeeze=False,
                                 layout="constrained", **kw)
    fig.set_dpi(DPI)
    return fig, axes


def _arm_label(eps: float) -> str:
    return f"α = {eps:g}"


@styled
def projection_grid(projections: dict[float, dict], triplets: dict[str, Sequence[int]],
                    class_names: Sequence[str]):
    """Figure 1's layout for one network: a row per class triplet; columns training / validation
    at α = 0, then at α = 0.1. ``projections[eps][triplet]`` is a run's stored projection (plane
    coordinates of examples and of the three templates). Axes carry no ticks: the plane's
    coordinates are in the network's own units, only distances within a panel mean something."""
    if not projections or not triplets:
        raise ValueError("projections and triplets must be non-empty: {eps: {triplet name: projection}}")
    eps_values = sorted(projections)
    fig, axes = new_figure(len(triplets), 2 * len(eps_values), 1.9 * len(triplets))
    for row, (name, triplet) in enumerate(triplets.items()):
        for j, eps in enumerate(eps_values):
            proj = projections[eps][name]
            for k, split in enumerate(("train", "val")):
                ax = axes[row, 2 * j + k]
                coords, labels = np.asarray(proj[split]["coords"]), np.asarray(proj[split]["labels"])
                for c, color in zip(triplet, CLASS_COLORS):
                    m = labels == c
                    ax.scatter(coords[m, 0], coords[m, 1], s=3, alpha=0.5, color=color, label=class_names[c])
                for (tx, ty), color in zip(np.asarray(proj["templates"]), CLASS_COLORS):
                    ax.scatter(tx, ty, marker="*", s=140, color=color, edgecolor="k", linewidth=0.8, zorder=3,
                               clip_on=False)   # a template at the cloud's edge stays whole
                ax.set_aspect("equal", adjustable="datalim")
                ax.set_xticks([])
                ax.set_yticks([])
                if row == 0:
                    ax.set_title(f"{'train' if split == 'train' else 'val.'}, {_arm_label(eps)}")
        axes[row, 0].set_ylabel(f"({'abcdefgh'[row]}) {name}")
        handles, labels = axes[row, 0].get_legend_handles_labels()
        axes[row, -1].legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5),
                             markerscale=3, frameon=False)
    return fig


@styled
def learning_curves(curves: dict[str, dict[float, list[list[dict]]]]):
    """One row per network, columns accuracy (train and test), test NLL, NC1 (log scale), against
    epochs. ``curves[arch][eps]`` is a list over seeds of each run's measured points; one legend
    under the panels, networks named in plain words (``report.plain``)."""
    if not curves:
        raise ValueError("curves must map at least one network to {eps: [points per seed]}")
    fig, axes = new_figure(len(curves), 3, 2.1 * len(curves))
    for row, (arch, arms) in enumerate(curves.items()):
        for eps, seeds in sorted(arms.items()):
            color = ARM_COLORS.get(eps, "k")
            for i, points in enumerate(seeds):
                ep = [p["epoch"] for p in points]
                first = i == 0
                axes[row, 0].plot(ep, [100 * p["train_accuracy"] for p in points], color=color, lw=1,
                                  ls="--", alpha=0.7, label=f"train, {_arm_label(eps)}" if first else None)
                axes[row, 0].plot(ep, [100 * p["test_accuracy"] for p in points], color=color, lw=1,
                                  alpha=0.7, label=f"test, {_arm_label(eps)}" if first else None)
                axes[row, 1].plot(ep, [p["test_nll"] for p in points], color=color, lw=1, alpha=0.7,
                                  label=_arm_label(eps) if first else None)
                axes[row, 2].plot(ep, [p["nc1"] for p in points], color=color, lw=1, alpha=0.7,
                                  label=_arm_label(eps) if first else None)
        axes[row, 0].set_ylabel(f"{plain(arch)}\naccuracy (%)")
        axes[row, 1].set_ylabel("test NLL (nats)")
        axes[row, 2].set_ylabel("NC1 (train)")
        axes[row, 2].set_yscale("log")
    for ax in axes[-1]:
        ax.set_xlabel("epoch")
    # one legend under the panels, clear of the curves: line style = split, colour = α
    legend_below(fig, axes[0, 0], ncol=4)
    return fig


@styled
def distance_vs_confusion(points: dict[str, dict[float, tuple[np.ndarray, np.ndarray]]],
                          highlight: np.ndarray | None = None):
    """One panel per network: each class pair's class-mean distance (scale-free) against how
    often the pair is confused, for α = 0 and α = 0.1 (all seeds pooled).
    ``points[arch][eps] = (distances, confusions)``; ``highlight`` marks pairs of similar classes."""
    if not points:
        raise ValueError("points must map at least one network to {eps: (distances, confusions)}")
    fig, axes = new_figure(1, len(points), 2.6)
    for ax, (arch, arms) in zip(axes[0], points.items()):
        for eps, (dist, conf) in sorted(arms.items()):
            color = ARM_COLORS.get(eps, "k")
            ax.scatter(dist, np.asarray(conf) + 1, s=8, alpha=0.5, color=color, label=_arm_label(eps))
            if highlight is not None:
                ax.scatter(np.asarray(dist)[highlight], np.asarray(conf)[highlight] + 1, s=30,
                           facecolor="none", edgecolor=color, linewidth=1)
        ax.set_yscale("log")
        ax.set_xlabel("class-mean distance / mean")
        ax.set_title(plain(arch))
    axes[0, 0].set_ylabel("confusions + 1 (validation)")
    axes[0, 0].legend(frameon=False)
    return fig


def legend_below(fig, ax=None, ncol: int | None = None, layout: bool = True, **kw):
    """One legend for ``fig`` under all its axes, clear of the data: the entries of ``ax`` (an
    axes or a list of axes; default every axes of the figure, each label once), in ``ncol``
    columns (default: as many as fit, at most 3). With ``layout`` the figure switches to
    constrained layout, which makes room for the legend (call it last, instead of ``ax.legend``
    and ``tight_layout``); without it (a figure laid out by hand, e.g. on a gridspec with its own
    spacing) the legend hangs under the figure's bottom edge, which the saved image includes."""
    if not isinstance(fig, matplotlib.figure.Figure):
        raise ValueError(f"fig must be a matplotlib Figure, got {type(fig).__name__}")
    axes = fig.axes if ax is None else (list(ax) if isinstance(ax, (list, tuple, np.ndarray)) else [ax])
    handles, labels = [], []
    for a in np.ravel(axes):
        for h, lab in zip(*a.get_legend_handles_labels()):
            if lab not in labels and not lab.startswith("_"):
                handles.append(h)
                labels.append(lab)
        if a.get_legend() is not None:
            a.get_legend().remove()
    if not handles:
        return None
    kw.setdefault("frameon", False)
    ncols = ncol or min(3, len(labels))
    if not layout:
        return fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncols=ncols, **kw)
    fig.set_layout_engine("constrained")
    return fig.legend(handles, labels, loc="outside lower center", ncols=ncols, **kw)


def spread_labels(ax, texts: Sequence | None = None, pad: float = 2.0) -> None:
    """Move point labels (``ax.annotate`` texts in offset points) so that none overlaps another,
    a marker of the axes or the axes' edge: each label tries its own offset, then the other
    corners around its point, in order, and keeps the first that is clear (its own if none is)."""
    if not isinstance(ax, matplotlib.axes.Axes):
        raise ValueError(f"ax must be a matplotlib Axes, got {type(ax).__name__}")
    texts = [t for t in (ax.texts if texts is None else texts) if isinstance(t, matplotlib.text.Annotation)]
    if not texts:
        return
    fig = ax.figure
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    obstacles = []
    for line in ax.get_lines():   # markers of every series, a few pixels each
        if line.get_marker() in (None, "", "None", " "):
            continue
        r = max(2.0, line.get_markersize() * fig.dpi / 72 / 2)
        for x, y in ax.transData.transform(np.column_stack(line.get_data())):
            if np.isfinite(x) and np.isfinite(y):
                obstacles.append(matplotlib.transforms.Bbox([[x - r, y - r], [x + r, y + r]]))
    inside = ax.bbox

    def text_box(t):   # the label's own box at its current offset, without a leader line
        t.update_positions(renderer)
        return matplotlib.text.Text.get_window_extent(t, renderer)

    placed = []
    for t in texts:
        dx, dy = t.xyann
        ha0 = t.get_ha()
        step = text_box(t).height * 72 / fig.dpi + 1.5   # one line of label, in points
        ups = [abs(dy)] + [v for k in range(1, 7) for v in (-abs(dy) - step * k, abs(dy) + step * k)]
        tries = [(dx, dy, ha0)] + [(side * reach * abs(dx), up, ha) for reach in (1, 4) for up in ups
                                   for side, ha in ((1, "left"), (-1, "right"))]
        best = None
        for x_off, y_off, ha in tries:
            t.xyann = (x_off, y_off)
            t.set_ha(ha)
            bb = text_box(t).padded(pad)
            clashes = sum(bb.overlaps(o) for o in placed + obstacles)
            if not (inside.containsx(bb.x0) and inside.containsx(bb.x1) and
                    inside.containsy(bb.y0) and inside.containsy(bb.y1)):
                clashes += 100
            if best is None or clashes < best[0]:
                best = (clashes, x_off, y_off, ha)
            if clashes == 0:
                break
        _, x_off, y_off, ha = best   # the clear place, else the least crowded one
        t.xyann = (x_off, y_off)
        t.set_ha(ha)
        if abs(y_off - dy) > 12 and t.arrowprops is None:   # moved far: a thin leader to its point
            t.arrowprops = {"arrowstyle": "-", "color": "0.6", "lw": 0.5, "shrinkA": 1, "shrinkB": 3}
            t.arrow_patch = matplotlib.patches.FancyArrowPatch(
                (0, 0), (1, 1), arrowstyle="-", color="0.6", lw=0.5, shrinkA=1, shrinkB=3)
            t.arrow_patch.set_figure(fig)
            t._arrow_relpos = (0.5, 0.5)   # matplotlib sets it only when created with arrowprops
        placed.append(text_box(t))


def band(values_per_seed: Sequence[Sequence[float]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean, min, max) over seeds, pointwise: ``values_per_seed`` is (seeds, points)."""
    v = np.asarray(values_per_seed, dtype=float)
    if v.ndim != 2 or v.size == 0:
        raise ValueError(f"values_per_seed must be a non-empty (seeds, points) array, got shape {v.shape}")
    return v.mean(0), v.min(0), v.max(0)


@styled
def series_panels(panels: Sequence[dict], height: float = 2.8, cols: int | None = None):
    """Panels side by side (or ``cols`` per row), each a dict with ``title``, ``xlabel``,
    ``ylabel``, optional ``xscale``/``yscale``, ``hlines`` [(y, label, style)], ``vlines`` [x] and ``series``:
    a list of dicts with ``x``, ``y`` (the mean over seeds) and optionally ``lo``/``hi`` (drawn
    as error bars with ``bars=True``, else as a shaded band), ``label``, ``color``, ``ls``,
    ``marker``, ``annotate`` (one text per point) and ``annotate_offset`` (points, default (3, 4)).
    ``legend_loc`` is a matplotlib location or "below" (under the axes, the default: a legend
    never covers data unless a panel asks for a place inside it). Point labels are spread so
    that none overlaps another or a marker (``spread_labels``)."""
    if not panels:
        raise ValueError("panels must hold at least one panel")
    cols = cols or len(panels)
    rows = -(-len(panels) // cols)
    fig, axes = new_figure(rows, cols, height * rows)
    for ax, panel in zip(axes.flat, panels):
        for s in panel["series"]:
            x, y = np.asarray(s["x"], float), np.asarray(s["y"], float)
            style = {"color": s.get("color"), "ls": s.get("ls", "-"), "marker": s.get("marker", "o"),
                     "ms": 3.5, "lw": 1.2, "label": s.get("label")}
            if "lo" in s and s.get("bars"):
                ax.errorbar(x, y, yerr=[y - np.asarray(s["lo"]), np.asarray(s["hi"]) - y], capsize=2, **style)
            else:
                ax.plot(x, y, **style)
                if "lo" in s:
                    ax.fill_between(x, s["lo"], s["hi"], color=s.get("color"), alpha=0.18, lw=0)
            for xi, yi, text in zip(x, y, s.get("annotate", ())):
                ax.annotate(text, (xi, yi), textcoords="offset points", xytext=s.get("annotate_offset", (3, 4)),
                            color=s.get("color"))
        for y, label, ls in panel.get("hlines", ()):
            ax.axhline(y, color="grey", ls=ls, lw=1, label=label)
        for x in panel.get("vlines", ()):
            ax.axvline(x, color="grey", ls="--", lw=1)
        ax.set(title=panel.get("title", ""), xlabel=panel.get("xlabel", ""), ylabel=panel.get("ylabel", ""))
        ax.set_xscale(panel.get("xscale", "linear"))
        ax.set_yscale(panel.get("yscale", "linear"))
        ax.grid(alpha=0.25)
        if panel.get("legend", True) and ax.get_legend_handles_labels()[0]:
            if panel.get("legend_loc", "below") == "below":   # under the axes, clear of the data
                ax.legend(frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.24), ncol=1)
            else:
                ax.legend(frameon=False, loc=panel.get("legend_loc", "best"))
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    for ax, panel in zip(axes.flat, panels):
        if any(s.get("annotate") for s in panel["series"]):
            spread_labels(ax)
    return fig


def close(fig) -> None:
    """Close ``fig`` once it is glued, so the notebook does not also show it as a cell output."""
    if not isinstance(fig, matplotlib.figure.Figure):
        raise ValueError(f"fig must be a matplotlib Figure, got {type(fig).__name__}")
    plt.close(fig)
