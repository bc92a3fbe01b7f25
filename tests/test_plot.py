"""The book's figures fit the page and keep their text readable."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from lsutils import plot  # noqa: E402


def _texts(fig):
    return [t for t in fig.findobj(matplotlib.text.Text) if t.get_text()]


def _check(fig, axes):
    w, h = fig.get_size_inches()
    assert w <= plot.PAGE_WIDTH and fig.dpi == plot.DPI
    assert len([ax for ax in fig.axes if ax.get_visible()]) == axes
    assert min(t.get_fontsize() for t in _texts(fig)) >= plot.FONT_SIZE
    fig.canvas.draw()  # layout succeeds
    plt.close(fig)


def _projection(rng):
    return {"templates": rng.normal(size=(3, 2)).tolist(),
            **{s: {"coords": rng.normal(size=(6, 2)).tolist(), "labels": [1, 1, 5, 5, 8, 8]}
               for s in ("train", "val")}}


def test_projection_grid():
    rng = np.random.default_rng(0)
    projections = {eps: {"dissimilar": _projection(rng), "similar": _projection(rng)} for eps in (0.0, 0.1)}
    names = [f"class {i}" for i in range(10)]
    fig = plot.projection_grid(projections, {"dissimilar": (1, 5, 8), "similar": (1, 5, 8)}, names)
    _check(fig, 8)


def test_learning_curves():
    pts = [{"epoch": e, "train_accuracy": 0.5, "test_accuracy": 0.4, "test_nll": 1.0, "nc1": 2.0 / e}
           for e in (1, 2, 3)]
    fig = plot.learning_curves({"a": {0.0: [pts, pts], 0.1: [pts]}, "b": {0.0: [pts], 0.1: [pts]}})
    _check(fig, 6)


def test_distance_vs_confusion():
    d, c = np.linspace(0.5, 2, 45), np.arange(45)
    fig = plot.distance_vs_confusion({"a": {0.0: (d, c), 0.1: (d, c)}, "b": {0.0: (d, c)}},
                                     highlight=np.arange(45) < 6)
    _check(fig, 2)


def test_new_figure_refuses_a_figure_wider_than_the_page():
    with pytest.raises(ValueError, match="width"):
        plot.new_figure(1, 1, 3, width=9)
    with pytest.raises(ValueError, match="height"):
        plot.new_figure(1, 1, 0)


def test_series_panels_and_band():
    mean, lo, hi = plot.band([[1.0, 2.0], [3.0, 0.0]])
    assert mean.tolist() == [2.0, 1.0] and lo.tolist() == [1.0, 0.0] and hi.tolist() == [3.0, 2.0]
    panels = [{"title": "a", "series": [{"x": [0, 1], "y": [1, 2], "lo": [0, 1], "hi": [2, 3], "label": "s",
                                         "bars": True, "annotate": ["p", "q"]}], "hlines": [(1.5, "h", "--")]},
              {"title": "b", "yscale": "log", "vlines": [0.5],
               "series": [{"x": [0, 1], "y": [1, 2], "lo": [0.5, 1], "hi": [2, 3]}]},
              {"title": "c", "series": []}]
    fig = plot.series_panels(panels, height=2.0, cols=2)
    w, h = fig.get_size_inches()
    assert w <= plot.PAGE_WIDTH and h == pytest.approx(4.0)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in visible] == ["a", "b", "c"] and visible[1].get_yscale() == "log"
    plot.close(fig)
