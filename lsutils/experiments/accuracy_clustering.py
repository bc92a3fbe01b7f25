"""Müller et al. (2019) Table 2 and Figure 1 on Fashion-MNIST, on networks trained to the end:
accuracy, penultimate geometry (NC1–NC4), similar classes, logit gaps, collapse over training.

Each run trains one network (paired seeds across α) and measures it; ``claims`` turns the runs
into one verdict per claim, gated by the premise (the networks fit their training set).
"""

from __future__ import annotations

from functools import partial
from dataclasses import dataclass

import torch

from lsutils import data, geometry, models, report, stats, train
from lsutils.experiments.theory_gap import per_example_gaps
from lsutils.recipes import Network, build_network, cosine, paper_alexnet, paper_resnet
from lsutils.results import declare
from lsutils.stats import mean_or_nan
from lsutils.table import Runs, pick

# Figure 1 rows: (a) three dissimilar classes; (b) two similar classes and a dissimilar one
# (the paper's poodle row): Trouser, Sandal, Bag and Pullover, Coat, Sneaker.
TRIPLETS = {"dissimilar": (1, 5, 8), "similar": (2, 4, 7)}
# Fashion-MNIST's upper-body garments, which people and networks confuse with each other.
SIMILAR_CLASSES = (0, 2, 4, 6)   # T-shirt/top, Pullover, Coat, Shirt


@dataclass(frozen=True)
class Gates:
    """Premises and margins, fixed before the runs (a run that misses a gate gives "premise not met")."""
    train_accuracy: float = 0.99    # every run, on its un-augmented training images
    nc1_hard: float = 0.5           # mean NC1 (training features) of the α = 0 networks: clusters exist
    accuracy_margin: float = 0.5    # points: "smoothing does not hurt accuracy" tolerates this much
    nc1_reached: float = 1.0        # "collapse is reached faster": epochs until NC1 ≤ this value


@dataclass(frozen=True)
class AccuracyClusteringConfig:
    networks: tuple[Network, ...]
    eps_values: tuple[float, ...] = (0.0, 0.1)
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    dataset: str = "fashion_mnist"
    train_size: int = 0        # 0: the whole training split
    eval_size: int = 10_000    # training examples used for the train-set geometry and gaps
    holdout_size: int = 0      # validation / test examples evaluated; 0: all of them
    per_class: int = 100       # examples per class in the projections, as in the paper
    curve_size: int = 2_000    # training / test examples measured along the way
    curve_points: int = 20     # measurements over training (learning curves, NC1 over time)
    gates: Gates = Gates()


def _first_per_class(labels: torch.Tensor, classes, n: int) -> torch.Tensor:
    return torch.cat([torch.nonzero(labels == c).flatten()[:n] for c in classes])


def logit_gaps(logits: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    """Mean over examples of z_y − mean_{j≠y} z_j and of z_y − max_{j≠y} z_j (``per_example_gaps``)."""
    gap_mean, _, gap_max = per_example_gaps(logits, labels)
    return {"gap_mean_other": gap_mean.mean().item(), "gap_max_other": gap_max.mean().item()}


def _projections(model, splits, triplet, per_class) -> dict:
    w, b = models.classifier_weights(model)
    origin, basis = geometry.template_plane(w, b, triplet)
    out = {"templates": geometry.project_templates(w, b, triplet, origin, basis).tolist()}
    for split, (x, y) in splits.items():
        idx = _first_per_class(y, triplet, per_class)
        coords = geometry.project(train.extract_features(model, x[idx]).double(), origin, basis)
        out[split] = {"coords": coords.tolist(), "labels": y[idx].tolist(),
                      "spread": {str(k): v for k, v in geometry.cluster_spread(coords, y[idx]).items()}}
    return out


def confusion(predicted: torch.Tensor, labels: torch.Tensor, k: int) -> torch.Tensor:
    """C[i, j] = number of examples of class i predicted as j."""
    return torch.bincount(labels * k + predicted, minlength=k * k).reshape(k, k)


def _measure(model, x, y, k: int, geometry_too: bool, nc1_too: bool = False) -> dict:
    """Accuracy, NLL, confidence and logit gaps; with ``nc1_too`` also NC1; with ``geometry_too``
    NC1–NC4, the distances to the templates, the class-mean distances and the confusion matrix."""
    w, b = models.classifier_weights(model)
    feats = train.extract_features(model, x).double()
    logits = feats @ w.T + b          # the classifier applied to exactly the features measured
    out = {"accuracy": (logits.argmax(1) == y).double().mean().item(),
           "nll": torch.nn.functional.cross_entropy(logits, y).item(),
           "mean_confidence": logits.softmax(1).max(1).values.mean().item(),
           **logit_gaps(logits.float(), y)}
    if nc1_too and not geometry_too:
        out["nc1"] = geometry.nc1(feats, y, k)
    if geometry_too:
        out.update(nc1=geometry.nc1(feats, y, k), nc2=geometry.nc2(feats, y, k),
                   nc2_templates=geometry.nc2_templates(w), nc3=geometry.nc3(feats, y, k, w),
                   nc4=geometry.nc4(feats, y, k, w, b),
                   distances=geometry.distance_summary(geometry.template_distances(feats, y, w, b)),
                   class_mean_distances=geometry.class_mean_distances(feats, y, k).tolist(),
                   confusion=confusion(logits.argmax(1), y, k).tolist())
    return out


def _curve_hook(xtr, ytr, xte, yte, k: int):
    """What is measured along the way: train/test accuracy, test NLL, NC1 of training features."""
    def measure(model) -> dict:
        tr, te = _measure(model, xtr, ytr, k, False, nc1_too=True), _measure(model, xte, yte, k, False)
        return {"train_accuracy": tr["accuracy"], "test_accuracy": te["accuracy"], "test_nll": te["nll"],
                "nc1": tr["nc1"]}
    return {"curve": measure}


def _one_run(cfg: AccuracyClusteringConfig, spec: Network, eps: float, seed: int) -> dict:
    info = data.DATASETS[cfg.dataset]
    k = info.num_classes
    xtr, ytr = data.load_split(cfg.dataset, "train", limit=cfg.train_size)
    val = data.load_split(cfg.dataset, "val", limit=cfg.holdout_size)
    test = data.load_split(cfg.dataset, "test", limit=cfg.holdout_size)
    torch.manual_seed(seed)
    model = build_network(spec, info)
    per_epoch = train.steps_per_epoch(len(xtr), spec.train.batch_size)
    total = train.total_steps(len(xtr), spec.train.epochs, spec.train.batch_size)
    tcfg = train.TrainConfig(**{**spec.train.__dict__, "eps": eps, "seed": seed,
                                "eval_every": max(1, total // cfg.curve_points)})
    hooks = _curve_hook(xtr[:cfg.curve_size], ytr[:cfg.curve_size], test[0][:cfg.curve_size],
                        test[1][:cfg.curve_size], k)
    model, hist = train.train(model, xtr, ytr, tcfg, hooks=hooks)
    splits = {"train": (xtr[:cfg.eval_size], ytr[:cfg.eval_size]), "val": val, "test": test}
    out = {"arch": spec.arch, "eps": eps, "seed": seed, "parameters": models.count_parameters(model),
           "images_per_s": hist.images_per_s, "steps_per_epoch": per_epoch,
           "loss_curve": {"step": hist.step, "loss": hist.loss},
           "curve": [{"epoch": e["step"] / per_epoch, **e["curve"]} for e in hist.evals]}
    for split, (x, y) in splits.items():
        out[split] = _measure(model, x, y, k, split != "test")
    if seed == cfg.seeds[0]:
        out["projections"] = {name: _projections(model, {s: splits[s] for s in ("train", "val")}, t,
                                                 cfg.per_class)
                              for name, t in TRIPLETS.items()}
    return out


def _cifar_status() -> dict:
    status = {}
    for name in ("cifar10", "cifar100"):
        try:
            data.locate(name)
            status[name] = "present (not part of this preset)"
        except FileNotFoundError:
            status[name] = "not present on the machine that ran this preset"
    return status


# The CPU recipe: the terminal phase within minutes per run (measured: ResNet-8 at width 8 fits 5 000
# images in 40 epochs, NC1 ≈ 0.5 → 0.3): no augmentation, cosine schedule, wd 5e-4, no clipping.
# The small AlexNet is elementwise-bound at 28 × 28 on a CPU (local response norm, full-size maps):
# ≈ 110 s per run here, 10 runs over the chapter's budget; the cpu preset puts a fully connected
# network (784-512-512) in its place, ≈ 10 s per run, and says so. The gpu preset keeps AlexNet.
PRESETS = {
    "smoke": AccuracyClusteringConfig(
        networks=(Network("resnet8", 4, cosine(1, 0.1)),
                  Network("mlp", 32, cosine(1, 0.05), paper="alexnet")),
        seeds=(0, 1), train_size=512, eval_size=256, holdout_size=512, per_class=10, curve_size=128,
        curve_points=2),
    "cpu": AccuracyClusteringConfig(
        networks=(Network("resnet8", 8, cosine(40, 0.1)),
                  Network("mlp", 512, cosine(40, 0.05), paper="alexnet")),
        train_size=5_000, eval_size=5_000),
    "gpu": AccuracyClusteringConfig(
        networks=(Network("resnet56", 16, paper_resnet(60)), Network("alexnet", 64, paper_alexnet(60))),
        curve_size=5_000),
}


def _run_config(cfg: AccuracyClusteringConfig, spec: Network, eps: float, seed: int) -> dict:
    """What one run depends on: a sweep may gain seeds or networks without recomputing the others."""
    return {"network": spec, "eps": eps, "seed": seed, "projections": seed == cfg.seeds[0],
            **{k: getattr(cfg, k) for k in ("dataset", "train_size", "eval_size", "holdout_size",
                                             "per_class", "curve_size", "curve_points")}}


def accuracy_clustering(cfg: AccuracyClusteringConfig, memo) -> dict:
    """Accuracy with and without smoothing, penultimate geometry, similar classes (Table 2, Fig. 1)."""
    grid = [(spec, eps, seed) for spec in cfg.networks for eps in cfg.eps_values for seed in cfg.seeds]
    runs = memo.many([(f"{spec.arch}-w{spec.width}_eps={eps}_seed={seed}",
                       partial(_one_run, cfg, spec, eps, seed), _run_config(cfg, spec, eps, seed))
                      for spec, eps, seed in grid])
    return {"runs": runs, "cifar": _cifar_status(), "triplets": TRIPLETS,
            "similar_classes": SIMILAR_CLASSES,
            "class_names": list(data.DATASETS[cfg.dataset].class_names)}


# ----------------------------------------------------------------------------- from runs to verdicts

def paired(runs, arch: str, value, eps_values=(0.0, 0.1)) -> tuple[list, list]:
    """``value`` of the runs of ``arch`` in the two arms, paired by seed (seeds present in both
    arms, in order). ``value`` is a dotted column ("train.nc1") or a function of a run;
    ``runs`` a ``Runs`` or a list of run dicts."""
    mine = Runs(runs).where(arch=arch)
    arms = [{"eps": e} for e in eps_values]
    if isinstance(value, str):
        return mine.paired(value, *arms)
    hard, smooth = (mine.where(arm).by("seed") for arm in arms)
    seeds = sorted(hard.keys() & smooth.keys())
    return [value(hard[s]) for s in seeds], [value(smooth[s]) for s in seeds]


def similar_class_closeness(split: dict, classes=SIMILAR_CLASSES) -> float:
    """``geometry.relative_closeness`` of ``classes`` in the class-mean distances of a split: the
    mean distance between their means over the mean distance between any two class means. The
    paper's statement is one of magnitude (similar classes sit closer together without
    smoothing), so this is the measure its claim is judged by; the rank correlation below is
    shown beside it."""
    return geometry.relative_closeness(torch.tensor(split["class_mean_distances"], dtype=torch.float64), classes)


def plane_closeness(run: dict, split: str = "val") -> float:
    """The same ratio in the template plane of the "similar" triplet: the distance between the
    centroids of its two similar classes over the mean distance between its three centroids."""
    p = run["projections"]["similar"][split]
    d = geometry.centroid_distances(torch.tensor(p["coords"], dtype=torch.float64), torch.tensor(p["labels"]))
    order = sorted(TRIPLETS["similar"])            # centroid_distances orders classes by number
    return geometry.relative_closeness(d, [order.index(c) for c in TRIPLETS["similar"][:2]])


def similar_class_correlation(split: dict) -> float:
    """Spearman ρ between class-mean distances and confusions over all class pairs (negative:
    the classes a network confuses are the ones it keeps close)."""
    return geometry.distance_confusion_correlation(torch.tensor(split["class_mean_distances"]),
                                                   torch.tensor(split["confusion"]))


def epochs_to_nc1(run: dict, threshold: float) -> float:
    """First measured epoch at which NC1 (training features) ≤ ``threshold``; the run's last
    epoch if it never gets there (censored: ``claims`` counts such runs)."""
    for point in run["curve"]:
        if point["nc1"] <= threshold:
            return point["epoch"]
    return run["curve"][-1]["epoch"]


def _first_epoch(run: dict) -> float:
    """The epoch of the run's first measurement along the way."""
    return pick(run, "curve")[0]["epoch"]


def _censored(run: dict, threshold: float) -> bool:
    """NC1 never got to ``threshold``: ``epochs_to_nc1`` gave the run's last epoch."""
    last = pick(run, "curve")[-1]
    return epochs_to_nc1(run, threshold) == last["epoch"] and last["nc1"] > threshold


def premise(runs, arch: str, gates: Gates) -> dict:
    """The premises the claims rest on, measured: every run fits its training images; the
    hard-target networks have clusters (NC1 below the gate). ``runs``: a ``Runs`` or a list."""
    mine = Runs(runs).where(arch=arch)
    worst = min(mine.column("train.accuracy"))
    nc1_hard = mine.where(eps=0.0).column("train.nc1")
    nc1_mean = sum(nc1_hard) / len(nc1_hard)
    return {"min_train_accuracy": worst, "fits": worst >= gates.train_accuracy,
            "nc1_hard": nc1_mean, "clusters": nc1_mean <= gates.nc1_hard,
            "met": worst >= gates.train_accuracy and nc1_mean <= gates.nc1_hard}


# claim key -> the label of the chapter section that shows its evidence (lsutils.verdicts)
SECTIONS = {"table2": "sec-acc-accuracy", "fig1_tight": "sec-acc-clusters", "fig1_tight_val": "sec-acc-clusters",
            "fig1_equidistant": "sec-acc-clusters", "fig1_similar": "sec-acc-similar", "guo_faster": "sec-acc-faster"}


def claims(data_: dict, config: dict) -> list[dict]:
    """One dict per (claim, network): what is compared, the paired interval, the verdict.

    Verdicts are "premise not met" when a network misses a gate, else the stats rule of the
    claim's kind ("harm": does not lower by more than the margin; "effect": moves in the
    expected direction), read off the interval at the claim's Holm level within this
    experiment's claims (``stats.holm_family``). Differences are α = 0.1 minus α = 0.

    Guo et al.'s "collapse is reached faster" is judged here and only here (one claim, one
    test); the collapse chapter says why, from its stored runs, and links here.
    """
    gates = Gates(**config["gates"])
    runs, out = Runs(data_["runs"]), []
    similar = tuple(data_.get("similar_classes", SIMILAR_CLASSES))
    reached = gates.nc1_reached
    specs = [
        ("table2", "Table 2", "smoothing does not hurt test accuracy", "harm", "test accuracy (points)",
         lambda r: 100 * pick(r, "test.accuracy"), {"margin": gates.accuracy_margin}),
        ("fig1_tight", "Figure 1", "clusters are tighter with smoothing", "effect", "NC1 (training features)",
         "train.nc1", {"expected_sign": -1}),
        ("fig1_tight_val", "Figure 1", "clusters are tighter with smoothing (held out)", "effect",
         "NC1 (validation features)", "val.nc1", {"expected_sign": -1}),
        ("fig1_equidistant", "Figure 1", "clusters are more equidistant with smoothing", "effect",
         "NC2 equiangularity of class means", "train.nc2.equiangular", {"expected_sign": -1}),
        ("fig1_similar", "Figure 1", "smoothing erases the closeness of similar classes", "effect",
         "closeness of the similar classes' means (÷ mean over all pairs, validation)",
         lambda r: similar_class_closeness(pick(r, "val"), similar), {"expected_sign": 1}),
        ("guo_faster", "Guo et al. (2025)", "smoothing reaches collapse faster", "effect",
         f"epochs until NC1 ≤ {reached:g}", lambda r: epochs_to_nc1(r, reached),
         {"expected_sign": -1}),
    ]
    for arch in runs.distinct("arch"):
        prem = premise(runs, arch, gates)
        mine = runs.where(arch=arch)
        for key, source, statement, kind, measure, value, rule in specs:
            a, b = paired(runs, arch, value)
            diff = stats.paired_difference(a, b) if len(a) >= 2 else None
            note = ""
            if key == "guo_faster" and all(epochs_to_nc1(r, reached) == _first_epoch(r) for r in mine):
                note = (f"every run is at NC1 ≤ {reached:g} by its first measurement "
                        f"(epoch {_first_epoch(mine.rows[0]):g}): the curves are too coarse to order the arms")
            if diff is None or note:
                verdict = "not testable here"
            elif not prem["met"]:
                verdict = "premise not met"
            elif kind == "harm":
                verdict = stats.judge_harm(diff, rule["margin"])
            else:
                verdict = stats.judge_effect(diff, rule["expected_sign"])
            censored = sum(_censored(r, reached) for r in mine) if key == "guo_faster" else 0
            out.append({"key": key, "arch": arch, "censored": censored, "note": note, "source": source, "claim": statement, "kind": kind,
                        "measure": measure, "hard": mean_or_nan(a), "smoothed": mean_or_nan(b), "diff": diff,
                        "verdict": verdict, "premise": prem, **rule})
    return stats.holm_family(out)


# ----------------------------------------------------------------------------- what the chapter shows

# The paper's recipes (its Section 2 and appendix), for the departures table.
PAPER_RECIPES = {
    "resnet": ("ResNet-56 (16/32/64 channels)", "CIFAR-100, 40\u00a0000 images", "≈\u00a0205 (64k steps)",
               "lr 0.1, ÷10 at 50\u00a0% and 75\u00a0%", "0.0001, all layers", "crop + flip"),
    "alexnet": ("AlexNet (64 channels)", "CIFAR-10, 40\u00a0000 images", "≈\u00a01\u00a0250 (390k steps)",
                "lr 0.1, ÷10 every 130k steps", "0.04, dense layers", "crop + flip"),
}
RECIPE_HEADER = ("network", "data", "epochs", "schedule", "weight decay", "augmentation")


def recipe_rows(config: dict, runs: list[dict]) -> list[list[str]]:
    """Per network: the paper's recipe, then this preset's (read from the stored config)."""
    rows = []
    for net in config["networks"]:
        t = net["train"]
        family = net.get("paper") or ("resnet" if net["arch"].startswith("resnet") else "alexnet")
        params = next(r["parameters"] for r in runs if r["arch"] == net["arch"])
        images = report.count_text(config["train_size"]) if config["train_size"] else "all"
        aug = (f"crop ±{t['crop_padding']} px" if t["crop_padding"] else "none") + (" + flip" if t["flip"] else "")
        rows.append([f"paper: {PAPER_RECIPES[family][0]}", *PAPER_RECIPES[family][1:]])
        name = (f"MLP {net['width']}-{net['width']}" if net["arch"] == "mlp"
                else f"{net['arch']}, width {net['width']}")
        rows.append([f"here: {name} ({params / 1e3:.0f}k parameters)",
                     f"{config['dataset']}, {images} images", f"{t['epochs']:g}",
                     f"lr {t['lr']:g}, {t['schedule']}", f"{report.fmt_number(t['weight_decay'], None)}, "
                     f"{'all layers' if t['weight_decay_scope'] == 'all' else 'dense layers'}", aug])
    return rows


def by_arch(runs: list[dict], value) -> dict[str, dict[float, list]]:
    """``value(run)`` grouped as {arch: {eps: [per seed, in seed order]}}."""
    out: dict[str, dict[float, list]] = {}
    for r in sorted(runs, key=lambda r: r["seed"]):
        out.setdefault(r["arch"], {}).setdefault(r["eps"], []).append(value(r))
    return out


def distance_confusion_points(runs: list[dict]) -> dict[str, dict[float, tuple]]:
    """Off-diagonal (i < j) class-mean distances and symmetrised confusions on the validation
    split, pooled over seeds: {arch: {eps: (distances, confusions)}}."""
    def pairs(r):
        d, c = torch.tensor(r["val"]["class_mean_distances"]), torch.tensor(r["val"]["confusion"])
        i, j = torch.triu_indices(len(d), len(d), 1)
        return d[i, j].tolist(), (c + c.T)[i, j].tolist()
    return {arch: {eps: tuple(sum((p[n] for p in per_seed), []) for n in (0, 1)) for eps, per_seed in arms.items()}
            for arch, arms in by_arch(runs, pairs).items()}


def similar_pairs_mask(k: int, classes=SIMILAR_CLASSES) -> list[bool]:
    """For the class pairs in ``torch.triu_indices`` order: is the pair two similar classes?"""
    i, j = torch.triu_indices(k, k, 1)
    return [a in classes and b in classes for a, b in zip(i.tolist(), j.tolist())]


EXPERIMENT = declare(
    "accuracy_clustering", version=2, presets=PRESETS, run=accuracy_clustering,
    page="chapters/reproduction/accuracy_clustering",
    claims=claims, sections=SECTIONS,
    headlines={"table2": "Smoothing does not hurt test accuracy", "fig1_tight": "Smoothing gathers each class into a tighter cluster", "fig1_similar": "Smoothing erases how close similar classes are"})
