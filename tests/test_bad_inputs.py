"""Every public function of ``lsutils``, walked with bad inputs: each must raise ``ValueError``
whose message names the offending argument (principle 6), never return garbage, hang or fail
deep inside torch.

``CASES`` is the table: (function, a call with one bad input, the argument its message must
name[, the exception type when it is not ValueError]). ``test_every_public_function_is_walked`` fails when a public function has no row, so a
new function cannot skip the walk. Per-step training losses let NaN logits through on purpose
(as PyTorch does: a diverged run is recorded, and a host-side check each step would cost a
device sync); their rows test dtype, shape and range instead.
"""

import inspect

import numpy as np
import pytest
import torch

from lsutils import (data, distill, fingerprint, geometry, recipes, info, losses, metrics, models, multilabel,
                     plan, plot, report, selective, simplex, stats, targets, tasks, theory, torch_reference,
                     train, ufm, verdicts)

MODULES = [targets, losses, theory, metrics, geometry, info, simplex, distill, tasks, multilabel,
           stats, report, data, train, models, plan, torch_reference, plot, verdicts, selective, ufm,
           fingerprint, recipes]
NAN, INF = float("nan"), float("inf")

Z = torch.randn(4, 3)                       # logits, K = 3
Y = torch.tensor([0, 1, 2, 0])
Q = torch.full((4, 3), 1 / 3)
P = np.full((4, 3), 1 / 3)                  # numpy probabilities for metrics
YN = np.array([0, 1, 2, 0])
H = torch.randn(6, 5, dtype=torch.float64)  # features, D = 5
HY = torch.tensor([0, 1, 2, 0, 1, 2])
W, B = torch.randn(3, 5, dtype=torch.float64), torch.randn(3, dtype=torch.float64)


def nan_like(t):
    t = t.clone()
    t.view(-1)[0] = NAN
    return t


def _plane():
    return geometry.template_plane(W, B, (0, 1, 2))


def _mlp():
    return models.build("mlp", (1, 4, 4), 3, hidden=(8,))


def _diff():
    return stats.paired_difference([1.0, 2.0, 3.0], [1.5, 2.0, 3.5])


CASES = [
    # targets
    (targets.check_eps, lambda: targets.check_eps(NAN), "eps"),
    (targets.check_num_classes, lambda: targets.check_num_classes(1), "num_classes"),
    (targets.check_labels, lambda: targets.check_labels(torch.tensor([0.0, 1.0]), 3), "labels"),
    (targets.check_labels, lambda: targets.check_labels(torch.tensor([0, 3]), 3), "labels"),
    (targets.check_convention, lambda: targets.check_convention("Uniform"), "convention"),
    (targets.target_values, lambda: targets.target_values(1, 0.1), "num_classes"),
    (targets.smooth_targets, lambda: targets.smooth_targets(Y, 3, 0.1, dtype=torch.int64), "dtype"),
    (targets.smooth_targets, lambda: targets.smooth_targets(Y.bool(), 3, 0.1), "labels"),
    # losses
    (losses.smoothed_cross_entropy, lambda: losses.smoothed_cross_entropy(Z, Y, 1.0), "eps"),
    (losses.smoothed_cross_entropy, lambda: losses.smoothed_cross_entropy(Z.long(), Y, 0.1), "logits"),
    (losses.smoothed_cross_entropy, lambda: losses.smoothed_cross_entropy(Z, Y[:3], 0.1), "labels"),
    (losses.check_class_weight, lambda: losses.check_class_weight([1.0, NAN, 1.0], 3), "class_weight"),
    (losses.soft_target_cross_entropy, lambda: losses.soft_target_cross_entropy(Z, Q * 2), "target_probs"),
    (losses.confidence_penalty_loss, lambda: losses.confidence_penalty_loss(Z, Y, NAN), "beta"),
    (losses.entropy, lambda: losses.entropy(Z.long()), "logits"),
    (losses.distillation_loss, lambda: losses.distillation_loss(Z, Z, Y, 0.0, 1.0), "temperature"),
    (losses.distillation_loss, lambda: losses.distillation_loss(Z, Z, Y, 1.0, 1.0, eps=-0.1), "eps"),
    # theory
    (theory.convert_eps, lambda: theory.convert_eps(0.1, 3, "uniform", "both"), "target"),
    (theory.optimal_probs, lambda: theory.optimal_probs(3, INF), "eps"),
    (theory.optimal_ratio, lambda: theory.optimal_ratio(0, 0.1), "num_classes"),
    (theory.logit_gap, lambda: theory.logit_gap(3, 0.1, "none"), "convention"),
    (theory.loss_floor, lambda: theory.loss_floor(3, -0.1), "eps"),
    (theory.max_confidence, lambda: theory.max_confidence(2.5, 0.1), "num_classes"),
    (theory.unsmooth, lambda: theory.unsmooth(nan_like(Q), 3, 0.1), "probs"),
    (theory.torch_weighted_optimum, lambda: theory.torch_weighted_optimum([1.0, 1.0], 2, 0.1), "label"),
    # metrics
    (metrics.softmax, lambda: metrics.softmax(P, temperature=0.0), "temperature"),
    (metrics.softmax, lambda: metrics.softmax(np.full((2, 3), NAN)), "logits"),
    (metrics.confidence, lambda: metrics.confidence(P[0]), "probs"),
    (metrics.accuracy, lambda: metrics.accuracy(P, YN[:3]), "labels"),
    (metrics.nll, lambda: metrics.nll(P, YN, floor=-1.0), "floor"),
    (metrics.nll_logits, lambda: metrics.nll_logits(P, YN, temperature=NAN), "temperature"),
    (metrics.brier, lambda: metrics.brier(P * 2, YN), "probs"),
    (metrics.reliability, lambda: metrics.reliability(P, YN, n_bins=0), "n_bins"),
    (metrics.reliability, lambda: metrics.reliability(P, YN, binning="quantile"), "binning"),
    (metrics.ece, lambda: metrics.ece(P, YN + 5), "labels"),
    (metrics.adaptive_ece, lambda: metrics.adaptive_ece(P, YN, n_bins=-1), "n_bins"),
    (metrics.classwise_ece, lambda: metrics.classwise_ece(np.full((4, 3), NAN), YN), "probs"),
    (metrics.probability_reliability, lambda: metrics.probability_reliability(P, YN, [0.5, 0.2]), "edges"),
    (metrics.ece_noise_floor,
     lambda: metrics.ece_noise_floor(metrics.reliability(P, YN), draws=0), "draws"),
    (metrics.per_class, lambda: metrics.per_class(P, YN.astype(float) + 0.5), "labels"),
    (metrics.fit_temperature, lambda: metrics.fit_temperature(P, YN, tol=-1.0), "tol"),
    (metrics.fit_temperature, lambda: metrics.fit_temperature(P, YN, bounds=(2.0, 3.0)), "bounds"),
    (metrics.roc_auc, lambda: metrics.roc_auc([0.1, NAN], [True, False]), "scores"),
    (metrics.macro_auc, lambda: metrics.macro_auc(P, YN[:2]), "labels"),
    (metrics.precision_recall, lambda: metrics.precision_recall([True], [True, False]), "predicted"),
    (metrics.summary, lambda: metrics.summary(P, YN, temperature=-1.0), "temperature"),
    # geometry
    (geometry.augment_templates, lambda: geometry.augment_templates(W, B[:2]), "bias"),
    (geometry.augment_features, lambda: geometry.augment_features(nan_like(H)), "features"),
    (geometry.template_plane, lambda: geometry.template_plane(W, B, (0, 1, 3)), "classes"),
    (geometry.project_points, lambda: geometry.project_points(nan_like(H), *_plane()), "points"),
    (geometry.project, lambda: geometry.project(H[:, :2], *_plane()), "features"),
    (geometry.project_templates, lambda: geometry.project_templates(nan_like(W), B, (0, 1, 2), *_plane()), "weight"),
    (geometry.nc1, lambda: geometry.nc1(nan_like(H), HY, 3), "features"),
    (geometry.nc1, lambda: geometry.nc1(H, HY.float(), 3), "labels"),
    (geometry.nc2, lambda: geometry.nc2(H, HY, 1), "num_classes"),
    (geometry.nc2_templates, lambda: geometry.nc2_templates(nan_like(W)), "weight"),
    (geometry.nc3, lambda: geometry.nc3(H, HY, 3, W[:, :4]), "weight"),
    (geometry.nc4, lambda: geometry.nc4(H, HY, 3, W, nan_like(B)), "bias"),
    (geometry.class_mean_distances, lambda: geometry.class_mean_distances(H, HY[:5], 3), "labels"),
    (geometry.distance_confusion_correlation,
     lambda: geometry.distance_confusion_correlation(torch.ones(3, 3), torch.ones(3, 2)), "confusion"),
    (geometry.template_distances, lambda: geometry.template_distances(H, HY, W, B[:1]), "bias"),
    (geometry.distance_summary, lambda: geometry.distance_summary({"own": torch.ones(2)}), "distances"),
    (geometry.cluster_spread, lambda: geometry.cluster_spread(nan_like(H[:, :2]), HY), "coords"),
    (geometry.centroid_distances, lambda: geometry.centroid_distances(nan_like(H[:, :2]), HY), "coords"),
    (geometry.relative_closeness, lambda: geometry.relative_closeness(torch.zeros(3, 2), (0, 1)), "distances"),
    (geometry.relative_closeness, lambda: geometry.relative_closeness(1 - torch.eye(3), (0, 5)), "group"),
    # info
    (info.mutual_information, lambda: info.mutual_information(np.ones((3, 3)) * NAN), "samples"),
    (info.mutual_information, lambda: info.mutual_information(np.eye(3), chunk=0), "chunk"),
    (info.mutual_information_bias, lambda: info.mutual_information_bias(NAN), "copies"),
    # simplex
    (simplex.minimise_over_simplex, lambda: simplex.minimise_over_simplex(lambda p: p.sum(), 1), "num_classes"),
    (simplex.soft_confidence_penalty, lambda: simplex.soft_confidence_penalty(Z, Q, NAN), "beta"),
    (simplex.confidence_penalty_logit_grad,
     lambda: simplex.confidence_penalty_logit_grad(Q, Q[:2], 0.1), "target_probs"),
    (simplex.confidence_penalty_optimum, lambda: simplex.confidence_penalty_optimum(3, -1.0), "beta"),
    (simplex.matched_beta, lambda: simplex.matched_beta(3, 1.0), "eps"),
    (simplex.squared_error, lambda: simplex.squared_error(Z, Q, reduction="avg"), "reduction"),
    (simplex.squared_error_logit_grad, lambda: simplex.squared_error_logit_grad(Q, Q[:, :2]), "target_probs"),
    # distill
    (distill.distillation_loss, lambda: distill.distillation_loss(Z, Z, Y, 1.0, 1.5), "beta"),
    (distill.TemperedTeacher, lambda: distill.TemperedTeacher(torch.nn.Identity(), 0.0), "temperature"),
    (distill.equivalent_smoothing, lambda: distill.equivalent_smoothing(Q * 2, Y), "teacher_probs"),
    (distill.logit_matching_loss, lambda: distill.logit_matching_loss(Z, Z[:2], Y), "teacher_logits"),
    (distill.train_logit_matching,
     lambda: distill.train_logit_matching(_mlp(), torch.zeros(4, 1, 4, 4, dtype=torch.uint8), Y, _mlp(),
                                          train.TrainConfig(epochs=0.0)), "epochs"),
    # tasks
    (tasks.binary_task, lambda: tasks.binary_task(H, HY, [0], 1.5, 3, 0), "prevalence"),
    (tasks.balanced_class_weights, lambda: tasks.balanced_class_weights(torch.tensor([0, 0]), 3), "labels"),
    (tasks.symmetric_label_noise, lambda: tasks.symmetric_label_noise(HY, 3, NAN, 0), "rate"),
    # multilabel
    (multilabel.smooth_binary_targets, lambda: multilabel.smooth_binary_targets(Q, 0.1, "both"), "mode"),
    (multilabel.optimal_logit, lambda: multilabel.optimal_logit(1.5), "target"),
    (multilabel.fit_bce_logit, lambda: multilabel.fit_bce_logit(NAN), "target"),
    (multilabel.fit_softmax_logits, lambda: multilabel.fit_softmax_logits(nan_like(Q[0])), "target"),
    # stats
    (stats.t_quantile, lambda: stats.t_quantile(0.975, 0), "df"),
    (stats.paired_difference, lambda: stats.paired_difference([1.0], [2.0]), "a"),
    (stats.paired_difference, lambda: stats.paired_difference([1.0, NAN], [2.0, 1.0]), "a"),
    (stats.min_detectable, lambda: stats.min_detectable(1.0, 1), "n"),
    (stats.judge_effect, lambda: stats.judge_effect(_diff(), 0), "expected_sign"),
    (stats.judge_equivalence, lambda: stats.judge_equivalence(_diff(), 0.0), "margin"),
    (stats.judge_harm, lambda: stats.judge_harm(_diff(), NAN), "margin"),
    (stats.not_seen, lambda: stats.not_seen(" "), "departure"),
    (stats.at_confidence, lambda: stats.at_confidence({"low": 0.0, "high": 1.0}, 0.9), "diff"),
    (stats.at_confidence, lambda: stats.at_confidence(_diff(), 1.0), "confidence"),
    (stats.p_value, lambda: stats.p_value(_diff(), "better"), "kind"),
    (stats.p_value, lambda: stats.p_value(_diff(), "harm"), "margin"),
    (stats.holm_levels, lambda: stats.holm_levels([0.1, 1.5]), "p_values"),
    (stats.holm, lambda: stats.holm([0.1], alpha=2.0), "alpha"),
    (stats.holm_family, lambda: stats.holm_family([{"diff": _diff(), "verdict": "reproduced"}]), "kind"),
    # report
    (report.summarise, lambda: report.summarise([]), "values"),
    (report.mean_std, lambda: report.mean_std([]), "values"),
    (report.seed_spread, lambda: report.seed_spread([]), "values"),
    (report.fmt_number, lambda: report.fmt_number("0.1"), "x"),
    (report.count_text, lambda: report.count_text(1.5), "n"),
    (report.restyle_numbers, lambda: report.restyle_numbers(0.1), "text"),
    (report.claim_decimals, lambda: report.claim_decimals([0.1]), "claim"),
    (report.md_table, lambda: report.md_table(["a"], [[1, 2]]), "rows"),
    (report.show_table, lambda: report.show_table([], []), "header"),
    (report.outcome, lambda: report.outcome("mostly holds"), "verdict"),
    (report.verdict_style, lambda: report.verdict_style("holdsx"), "verdict"),
    (report.interval, lambda: report.interval({"mean": 0.1}), "diff"),
    (report.confidence, lambda: report.confidence({"confidence": 2.0}), "diff"),
    (report.claim_interval, lambda: report.claim_interval([0.1, 0.2]), "claim"),
    (report.verdict_admonition, lambda: report.verdict_admonition("x", "maybe", ""), "verdict"),
    (report.verdict_badge, lambda: report.verdict_badge("probably"), "verdict"),
    (report.numbered_table, lambda: report.numbered_table("x", "a b", ["a"], []), "name"),
    (report.claim_rows, lambda: report.claim_rows([{"source": "x"}]), "claims"),
    (report.combined_verdict, lambda: report.combined_verdict([]), "verdicts"),
    # plot, verdicts
    (plot.new_figure, lambda: plot.new_figure(1, 1, 3, width=20), "width"),
    (plot.projection_grid, lambda: plot.projection_grid({}, {"a": (0, 1, 2)}, ["c"] * 3), "projections"),
    (plot.learning_curves, lambda: plot.learning_curves({}), "curves"),
    (plot.distance_vs_confusion, lambda: plot.distance_vs_confusion({}), "points"),
    (plot.close, lambda: plot.close("figure"), "fig"),
    (plot.legend_below, lambda: plot.legend_below("figure"), "fig"),
    (plot.spread_labels, lambda: plot.spread_labels("axes"), "ax"),
    (plot.series_panels, lambda: plot.series_panels([]), "panels"),
    (plot.band, lambda: plot.band([]), "values_per_seed"),
    (report.claims_admonition, lambda: report.claims_admonition("x", []), "claims"),
    (report.setting_text, lambda: report.setting_text({"a": 1}), "value"),
    (report.config_table, lambda: report.config_table(object(), {}, "c", "tbl-x"), "fields"),
    (report.config_value, lambda: report.config_value(object(), "epochs"), "path"),
    (report.plain, lambda: report.plain(3), "text"),
    (geometry.class_separation, lambda: geometry.class_separation(torch.zeros(6, 5), HY, 3), "features"),
    (distill.hinton_distillation_loss, lambda: distill.hinton_distillation_loss(Z, Z, Y, 1.0, 1.5), "beta"),
    (stats.judge_paired, lambda: stats.judge_paired([1.0, 2.0], [1.0, 2.0], True, "better"), "kind"),
    # selective
    (selective.risk_coverage, lambda: selective.risk_coverage([1.0, NAN], [True, False]), "scores"),
    (selective.aurc, lambda: selective.aurc([1.0, 2.0], [True]), "correct"),
    (selective.optimal_aurc, lambda: selective.optimal_aurc(-0.1), "error_rate"),
    (selective.e_aurc, lambda: selective.e_aurc([], []), "scores"),
    (selective.risk_at_coverage, lambda: selective.risk_at_coverage([1.0], [True], 1.5), "coverage"),
    (selective.max_softmax, lambda: selective.max_softmax(np.full((2, 3), NAN)), "logits"),
    (selective.max_logit_pnorm, lambda: selective.max_logit_pnorm(P, 0.5), "p"),
    (selective.choose_p, lambda: selective.choose_p(P, [True] * 4, ps=()), "ps"),
    # ufm
    (ufm.closed_form, lambda: ufm.closed_form(10, 5, 0.1, -1.0, 1e-3), "lambda_w"),
    (ufm.simplex_etf, lambda: ufm.simplex_etf(4, 2), "dim"),
    (ufm.minimiser, lambda: ufm.minimiser(4, 0, 5, 0.1, 1e-3, 1e-3), "n_per_class"),
    (ufm.objective, lambda: ufm.objective(W, H, B, HY, 1.5, 0.0, 0.0, 0.0), "eps"),
    (ufm.fit, lambda: ufm.fit(3, 2, 0, 0.1, 1e-3, 1e-3, 1e-3), "dim"),
    (ufm.hessian_condition, lambda: ufm.hessian_condition(3, 2, 3, 0.1, 1e-3, 1e-3, 1e-3, rel_tol=0.0), "rel_tol"),
    (verdicts.grouped, lambda: verdicts.grouped([{"claim": "x"}]), "claims"),
    (verdicts.claim_table_rows, lambda: verdicts.claim_table_rows([{"claim": "x"}]), "claims"),
    (verdicts.tally, lambda: verdicts.tally("reproduced"), "claims"),
    (verdicts.headlines, lambda: verdicts.headlines([{"claim": "x"}]), "claims"),
    (verdicts.plain, lambda: verdicts.plain(None), "text"),
    (verdicts.in_short, lambda: verdicts.in_short("chapters/theory/targets"), "page"),
    # data
    (data.get_info, lambda: data.get_info("imagenet"), "name"),
    (data.locate, lambda: data.locate("imagenet"), "name"),
    (data.prepare, lambda: data.prepare("svhn"), "name"),
    (data.load_split, lambda: data.load_split("fashion_mnist", "holdout"), "split"),
    (data.split_indices, lambda: data.split_indices(10, 11), "val_size"),
    (models.classifier_weights, lambda: models.classifier_weights(torch.nn.Identity()), "model"),
    (recipes.build_network, lambda: recipes.build_network("mlp", data.DATASETS["fashion_mnist"]), "spec"),
    (recipes.cosine, lambda: recipes.cosine(0, 0.1), "epochs"),
    (recipes.cosine, lambda: recipes.cosine(10, -0.1), "lr"),
    (recipes.paper_resnet, lambda: recipes.paper_resnet(-1), "epochs"),
    (recipes.paper_alexnet, lambda: recipes.paper_alexnet(0), "epochs"),
    (stats.mean_or_nan, lambda: stats.mean_or_nan(["a"]), "values"),
    (fingerprint.source_hash, lambda: fingerprint.source_hash(b"x = 1"), "source"),
    (fingerprint.code_fingerprint, lambda: fingerprint.code_fingerprint(""), "module"),
    (fingerprint.changed_modules, lambda: fingerprint.changed_modules(None, {}), "stored"),
    (fingerprint.run_fingerprint, lambda: fingerprint.run_fingerprint("lsutils.losses", ""), "entry"),
    (fingerprint.stale_modules, lambda: fingerprint.stale_modules(None, "lsutils.losses", "x"), "stored"),
    (fingerprint.module_source, lambda: fingerprint.module_source("lsutils.no_such_module"), "module"),
    (data.hooked, lambda: data.hooked("holdout", torch.zeros(2, 1, 2, 2), torch.zeros(2)), "split"),
    (data.hooked, lambda: data.hooked("test", torch.zeros(2, 1, 2, 2), torch.zeros(3)), "labels"),
    (data.data_root, lambda: data.data_root(3), "root"),
    # train
    (train.TrainConfig, lambda: train.TrainConfig(lr=-0.1), "lr"),
    (train.TrainConfig, lambda: train.TrainConfig(eps=NAN), "eps"),
    (train.seed_everything, lambda: train.seed_everything(-1, torch.device("cpu")), "seed"),
    (train.to_float, lambda: train.to_float(torch.zeros(2, 1, 4, 4)), "images"),
    (train.augment, lambda: train.augment(torch.zeros(2, 1, 4, 4), -1, False, torch.Generator()), "padding"),
    (train.lr_at, lambda: train.lr_at(5, 4, train.TrainConfig()), "step"),
    (train.steps_per_epoch, lambda: train.steps_per_epoch(100, 0), "batch_size"),
    (train.total_steps, lambda: train.total_steps(100, 0.0, 10), "epochs"),
    (train.training_loss, lambda: train.training_loss(Z, Y[:2], train.TrainConfig()), "labels"),
    (train.train, lambda: train.train(_mlp(), torch.zeros(4, 1, 4, 4, dtype=torch.uint8), Y + 3,
                                      train.TrainConfig()), "labels"),
    (train.predict_logits, lambda: train.predict_logits(_mlp(), torch.zeros(2, 1, 4, 4), batch_size=0),
     "batch_size"),
    (train.extract_features, lambda: train.extract_features(_mlp(), torch.zeros(2, 1, 4, 4), batch_size=-1),
     "batch_size"),
    (train.save_state, lambda: train.save_state(torch.nn.Identity(), ""), "path"),
    (train.load_state, lambda: train.load_state(_mlp(), "/nonexistent/state.npz"), "path", FileNotFoundError),
    # models
    (models.mlp, lambda: models.mlp((1, 4, 4), 3, hidden=(0,)), "hidden"),
    (models.MLP, lambda: models.MLP(16, (8,), 3, dropout=1.5), "dropout"),
    (models.alexnet, lambda: models.alexnet(1, 3, width=0), "width"),
    (models.AlexNet, lambda: models.AlexNet(0, 3, (32, 32)), "in_channels"),
    (models.resnet, lambda: models.resnet(9), "depth"),
    (models.ResNet, lambda: models.ResNet(20, 3, 1), "num_classes"),
    (models.BasicBlock, lambda: models.BasicBlock(4, 4, 3), "stride"),
    (models.build, lambda: models.build("vgg", (1, 4, 4), 3), "arch"),
    (models.count_parameters, lambda: models.count_parameters("mlp"), "model"),
    # plan
    (plan.flops_per_image, lambda: plan.flops_per_image(_mlp(), (1, 4)), "image_shape"),
    (plan.optimiser_steps, lambda: plan.optimiser_steps(0, 1.0, 8), "n_train"),
    (plan.estimate, lambda: plan.estimate(1, 1, 8, 100, 0.0), "images_per_s"),
    # torch_reference
    (torch_reference.reference_cross_entropy,
     lambda: torch_reference.reference_cross_entropy(Z, Y, label_smoothing=1.5), "label_smoothing"),
]

# Public callables without a bad input to give: no arguments, or exception classes.
EXEMPT = {data.clear_cache, recipes.Network, data.splits_cut, train.default_device, data.DataNotFoundError, data.DataIntegrityError,
          train.DivergedError,   # an exception class: raised by train, not called with bad input
          data.DatasetInfo, train.History, metrics.Reliability,
          plot.styled,            # a decorator: any callable is a valid argument
          verdicts.book_claims}   # reads the stored results; any page (or none) is a valid filter


def _public(module):
    names = getattr(module, "__all__", None) or [
        n for n, o in vars(module).items()
        if not n.startswith("_") and (inspect.isfunction(o) or inspect.isclass(o))
        and o.__module__ == module.__name__]
    return [getattr(module, n) for n in names if callable(getattr(module, n))]


def test_every_public_function_is_walked():
    walked = {case[0] for case in CASES}
    missing = [f"{m.__name__}.{f.__name__}" for m in MODULES for f in _public(m)
               if f not in walked and f not in EXEMPT]
    assert not missing, f"public functions without a bad-input row: {missing}"


@pytest.mark.parametrize("case", CASES, ids=[f"{c[0].__module__.split('.')[-1]}.{c[0].__name__}-{i}"
                                              for i, c in enumerate(CASES)])
def test_bad_input_raises_value_error_naming_the_argument(case):
    fn, call, argument, *expected = case  # a missing file is a FileNotFoundError, not a ValueError
    with pytest.raises(expected[0] if expected else ValueError) as err:
        call()
    assert argument in str(err.value), f"{fn.__name__}: message does not name {argument!r}: {err.value}"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_wrong_device_is_named():
    with pytest.raises(ValueError, match="device"):
        geometry.nc3(H.cuda(), HY.cuda(), 3, W)
    with pytest.raises(ValueError, match="class_weight|device"):
        losses.smoothed_cross_entropy(Z.cuda(), Y.cuda(), 0.1, class_weight=torch.ones(3))
