#!/usr/bin/env python
"""Leave-one-type-out benchmark of the ``Unassigned`` rule.

For each of the 12 cell types of the bundled Tabula Muris sample in turn,
train an :class:`ACTINNAnnotator` on the training cells of the other 11,
predict the whole test set, and measure, for each candidate score:

* ``unseen``: share of the left-out type's test cells rejected (Unassigned);
* ``known``: share of the other test cells rejected;
* ``auc``: ROC AUC of the score separating unseen from known test cells
  (how well it ranks, whatever the threshold).

Every rule is fitted on reference data only: the kNN reference and the
Gaussian means are the annotator's training rows, and each threshold is the
``--rate`` quantile of the scores of the annotator's held-out validation
rows (the stratified split ``fit`` used, rebuilt with
:func:`stratified_indices` and the annotator's seed). Candidates:

* ``max_probability``: top calibrated probability (the current rule; its
  threshold is the annotator's own ``threshold_``);
* ``mahalanobis``: minus the Mahalanobis distance to the predicted type's
  mean in the last hidden layer, shared covariance (Lee et al. 2018);
* ``knn``: minus the distance to the 3rd nearest training cell in the last
  hidden layer;
* ``knn_relative``: the same distance over the predicted type's spread,
  :class:`deepchem_actinn.confidence.RejectionRule` without calibration;
* ``knn_query``: the same, calibrated against the test set
  (:meth:`RejectionRule.calibrate`: as a whole, and per type when the
  test set is shifted);
* ``default``: what ``unassigned=True`` marks: ``knn_query``, or a top
  calibrated probability under 0.5
  (:meth:`deepchem_actinn.confidence.RejectionRule.decide`); its ROC AUC
  is ``knn_query``'s.
* ``annotator``: what ``annotator.predict(test, unassigned=True)`` marks,
  from the annotator itself rather than rebuilt here; it equals ``default``
  when the networks alone decide, and is the one to read with
  ``--linear-weight`` (whose averaged probabilities and types the rebuilt
  rules above do not use). ROC AUC: ``knn_query``'s.

Usage::

    python benchmarks/leave_one_type_out.py --seeds 0 1 2 \\
        --out benchmarks/results/leave_one_type_out.md

``--out`` takes ``.md`` (the tables) or ``.csv`` (one row per run and
score). ``--cache DIR`` keeps each run's features so that a rerun only
re-scores.
"""
import argparse
import csv
import inspect
import os
import sys
import time
from typing import Dict, List

import numpy as np

from deepchem_actinn import ACTINNAnnotator
from deepchem_actinn.models.linear import LINEAR_WEIGHT

#: The annotator's default ``rejection_rate``, this benchmark's ``--rate``.
REJECTION_RATE = inspect.signature(
    ACTINNAnnotator).parameters["rejection_rate"].default

SCORES = [
    "max_probability", "mahalanobis", "knn", "knn_relative", "knn_query",
    "default", "annotator"
]


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds",
                        type=int,
                        nargs="+",
                        default=[0],
                        help="annotator seeds, one 12-run experiment each")
    parser.add_argument("--rate",
                        type=float,
                        default=REJECTION_RATE,
                        help="share of held-out reference cells rejected "
                        "(default: the annotator's rejection_rate, %g)" %
                        REJECTION_RATE)
    parser.add_argument("--types",
                        nargs="+",
                        default=None,
                        help="leave out only these types (default: all)")
    parser.add_argument("--n-networks",
                        type=int,
                        default=None,
                        help="networks in the annotator's ensemble "
                        "(default: the annotator's default)")
    parser.add_argument("--max-epochs", type=int, default=200)
    parser.add_argument("--linear-weight",
                        type=float,
                        default=LINEAR_WEIGHT,
                        help="the annotator's linear_weight (its default, "
                        "%g; 0: the networks alone)" % LINEAR_WEIGHT)
    parser.add_argument("--gene-filter",
                        choices=["none", "default"],
                        default="none",
                        help="'none' keeps every expressed gene "
                        "(percentiles 0-100); 'default': the annotator's")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--cache",
                        default=None,
                        help="folder for each run's features (reused)")
    parser.add_argument("--out",
                        default=None,
                        help="write the tables (.md) or the runs (.csv)")
    return parser.parse_args(argv)


def run_features(args, seed: int, held: str, train, test) -> Dict:
    """Train without ``held``; hidden features and logits of the reference
    (with its validation split) and of the whole test set."""
    from deepchem_actinn import ACTINNAnnotator
    from deepchem_actinn.confidence.calibration import UNASSIGNED
    from deepchem_actinn.models.inference import embed
    from deepchem_actinn.stratify import stratified_indices
    linear = "_lw%g" % args.linear_weight if args.linear_weight else ""
    name = "s%d_n%s_%s%s_%s.npz" % (seed, args.n_networks or
                                    "default", args.gene_filter, linear,
                                    held.replace(" ", "_"))
    path = os.path.join(args.cache, name) if args.cache else None
    if path and os.path.exists(path):
        with np.load(path, allow_pickle=False) as stored:
            return dict(stored)
    keep = (train.obs["cell_type"] != held).to_numpy()
    X, labels = train.X[keep], train.obs["cell_type"].to_numpy()[keep]
    options = {
        "seed": seed,
        "max_epochs": args.max_epochs,
        "linear_weight": args.linear_weight
    }
    if args.n_networks:
        options["n_networks"] = args.n_networks
    if args.gene_filter == "none":
        options.update(total_percentiles=(0, 100), cv_percentiles=(0, 100))
    start = time.time()
    annotator = ACTINNAnnotator(**options).fit(X, train.var_names, labels)
    y = annotator.labels_.encode(np.asarray(labels, dtype=object))
    vf = annotator.validation_fraction
    valid = stratified_indices(y, [1 - vf, vf], annotator.seed)[1]
    assert len(valid) == annotator.calibration_["n_cells"]
    hidden, logits = embed(annotator.ensemble_,
                           annotator.preprocess(X, train.var_names))
    test_hidden, test_logits = embed(
        annotator.ensemble_, annotator.preprocess(test.X, test.var_names))
    marked = annotator.predict(test.X, test.var_names,
                               unassigned=True).cell_types == UNASSIGNED
    out = {
        "hidden": hidden,
        "logits": logits,
        "y": y,
        "valid": valid,
        "test_hidden": test_hidden,
        "test_logits": test_logits,
        "temperature": np.float64(annotator.temperature_),
        "threshold": np.float64(annotator.threshold_),
        "fit_seconds": np.float64(time.time() - start),
        "test_unassigned": marked,
    }
    if path:
        os.makedirs(args.cache, exist_ok=True)
        np.savez(path, **out)
    return out


def mahalanobis_scores(reference, labels, n_types, queries, logits):
    """Minus the squared Mahalanobis distance to the predicted type's mean,
    covariance shared by the types (ridge 1e-6 of its mean variance)."""
    means = np.zeros((n_types, reference.shape[1]))
    for c in np.unique(labels):
        means[c] = reference[labels == c].mean(axis=0)
    centred = reference - means[labels]
    cov = centred.T @ centred / len(reference)
    cov += 1e-6 * np.trace(cov) / len(cov) * np.eye(len(cov))
    precision = np.linalg.inv(cov)
    diff = queries - means[logits.argmax(axis=1)]
    return -np.einsum("nd,de,ne->n", diff, precision, diff)


def evaluate(run: Dict, held_mask: np.ndarray, rate: float) -> Dict:
    """Per score: (unseen rejected, known rejected, AUC, threshold)."""
    from sklearn.metrics import roc_auc_score

    from deepchem_actinn.confidence import (RejectionRule,
                                            calibrated_probabilities,
                                            kth_neighbour_distance,
                                            threshold_for_rejection)
    h, lg, y = run["hidden"], run["logits"], run["y"]
    valid = np.zeros(len(y), dtype=bool)
    valid[run["valid"]] = True
    ht, lgt = run["test_hidden"], run["test_logits"]
    n_types = lg.shape[1]
    scores = {}
    rule = RejectionRule("max_probability").fit(None,
                                                lg,
                                                y,
                                                rejection_rate=rate,
                                                heldout=valid,
                                                temperature=float(
                                                    run["temperature"]))
    scores["max_probability"] = (rule.score(None,
                                            lg[valid]), rule.score(None, lgt))
    ref = ~valid
    scores["mahalanobis"] = tuple(
        mahalanobis_scores(h[ref], y[ref], n_types, q, lq)
        for q, lq in ((h[valid], lg[valid]), (ht, lgt)))
    scores["knn"] = (-kth_neighbour_distance(h[valid], h[ref], 3),
                     -kth_neighbour_distance(ht, h[ref], 3))
    rule = RejectionRule().fit(h, lg, y, rejection_rate=rate, heldout=valid)
    scores["knn_relative"] = (rule.score(h[valid],
                                         lg[valid]), rule.score(ht, lgt))
    test_relative = scores["knn_relative"][1]
    predicted = lgt.argmax(axis=1)
    calibration = rule.calibrate(test_relative, predicted)
    scores["knn_query"] = (scores["knn_relative"][0],
                           test_relative / calibration.divisors(predicted))
    results = {}
    for key, (valid_scores, test_scores) in scores.items():
        threshold = threshold_for_rejection(valid_scores, rate)
        rejected = test_scores < threshold
        results[key] = (float(rejected[held_mask].mean()),
                        float(rejected[~held_mask].mean()),
                        float(roc_auc_score(held_mask,
                                            -test_scores)), threshold)
    top = calibrated_probabilities(lgt, float(run["temperature"])).max(axis=1)
    rejected = rule.decide(test_relative, predicted, top).rejected
    results["default"] = (float(rejected[held_mask].mean()),
                          float(rejected[~held_mask].mean()),
                          results["knn_query"][2], float(rule.threshold))
    marked = run["test_unassigned"]
    results["annotator"] = (float(marked[held_mask].mean()),
                            float(marked[~held_mask].mean()),
                            results["knn_query"][2], float(rule.threshold))
    # At the annotator's own rate the baseline's threshold is the
    # annotator's threshold_; other rates re-score the cached run.
    if rate == REJECTION_RATE:
        assert np.isclose(results["max_probability"][3],
                          float(run["threshold"]),
                          rtol=1e-4,
                          atol=1e-6)
    return results


def _values(runs: List[Dict], key: str) -> np.ndarray:
    """One result of every run in ``runs``."""
    return np.array([run[key] for run in runs], dtype=float)


def tables(rows: List[Dict], rate: float, seeds: List[int]) -> str:
    """Markdown: per score, the mean over seeds for each left-out type, and
    the averages over the runs."""
    types = sorted({r["held_out"] for r in rows})
    by_score = {key: [r for r in rows if r["score"] == key] for key in SCORES}
    out = []
    for key, mine in by_score.items():
        out.append("### %s (threshold: %.3g of held-out reference cells "
                   "rejected; seeds %s)\n" %
                   (key, rate, ", ".join(map(str, seeds))))
        out.append("| left-out type | n cells | unseen rejected | "
                   "known rejected | ROC AUC |")
        out.append("| --- | --- | --- | --- | --- |")
        for t in types:
            r = [m for m in mine if m["held_out"] == t]
            out.append(
                "| %s | %d | %.2f | %.3f | %.3f |" %
                (t, r[0]["n_unseen"], _values(r, "unseen_rejected").mean(),
                 _values(r, "known_rejected").mean(), _values(r, "auc").mean()))
        known, auc = _values(mine, "known_rejected"), _values(mine, "auc")
        out.append("| **mean** | | **%.3f** | **%.4f** (max %.4f) | "
                   "**%.3f** (min %.3f) |\n" %
                   (_values(mine, "unseen_rejected").mean(), known.mean(),
                    known.max(), auc.mean(), auc.min()))
    out.append("### summary (mean over %d runs)\n" % len(by_score[SCORES[0]]))
    out.append("| score | unseen rejected | known rejected | max known "
               "rejected (any run) | mean ROC AUC | min ROC AUC |")
    out.append("| --- | --- | --- | --- | --- | --- |")
    for key, mine in by_score.items():
        known, auc = _values(mine, "known_rejected"), _values(mine, "auc")
        out.append("| %s | %.3f | %.4f | %.4f | %.3f | %.3f |" %
                   (key, _values(mine, "unseen_rejected").mean(), known.mean(),
                    known.max(), auc.mean(), auc.min()))
    return "\n".join(out) + "\n"


def main(argv=None) -> int:
    args = parse_args(argv)
    import logging

    import torch
    torch.set_num_threads(args.threads)
    logging.getLogger("deepchem_actinn").setLevel(logging.ERROR)
    from deepchem_actinn import load_tabula_muris_sample
    train, test = load_tabula_muris_sample()
    types = args.types or sorted(train.obs["cell_type"].unique())
    test_types = test.obs["cell_type"].to_numpy()
    rows = []
    for seed in args.seeds:
        for held in types:
            run = run_features(args, seed, held, train, test)
            held_mask = test_types == held
            for key, (unseen, known, auc,
                      threshold) in evaluate(run, held_mask, args.rate).items():
                rows.append({
                    "seed": seed,
                    "held_out": held,
                    "n_unseen": int(held_mask.sum()),
                    "n_known": int((~held_mask).sum()),
                    "score": key,
                    "unseen_rejected": unseen,
                    "known_rejected": known,
                    "auc": auc,
                    "threshold": threshold,
                    "fit_seconds": float(run["fit_seconds"]),
                })
            print("seed %d, without %s: %s" % (seed, held, ", ".join(
                "%s %.2f/%.3f" %
                (r["score"], r["unseen_rejected"], r["known_rejected"])
                for r in rows[-len(SCORES):])),
                  file=sys.stderr,
                  flush=True)
    text = tables(rows, args.rate, args.seeds)
    print(text)
    if args.out:
        if args.out.endswith(".csv"):
            with open(args.out, "w", newline="") as handle:
                writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
                writer.writeheader()
                writer.writerows(rows)
        else:
            with open(args.out, "w") as handle:
                handle.write(
                    "# Leave-one-type-out: the Unassigned rule\n\n"
                    "`python benchmarks/leave_one_type_out.py %s`\n\n" %
                    " ".join(sys.argv[1:] if argv is None else argv) + text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
