"""What a trained model gets wrong, from its outputs over a whole split. Pure NumPy.

`interpret` takes every sample's output, target and loss (collected by `probe.collect`) and
returns a JSON-able report whose `kind` says which task it describes:

- classification: `confusion` (rows: target, columns: predicted), `normalized` (rows sum
  to 1), `per_class` precision/recall/F1/support, `top_losses`, `confused` pairs, and per
  sample `predicted`/`probability`/`target`/`loss` (a confusion cell's samples are picked
  from these: `cell_samples`);
- multilabel: `per_class` figures per label at probability 0.5, `worst`;
- segmentation: the pixel `confusion`, `per_class` IoU, `worst` samples and their target
  and predicted `masks` (index -> {"target", "predicted"}, at most MASK_SIDE pixels a side);
- regression: `points` (predicted, target), `residuals` histogram, MAE/RMSE/R², `worst`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

TOP = 30  # samples listed as top losses / worst samples
PAIRS = 10  # most confused pairs listed
SCATTER_POINTS = 5000  # regression points kept for the scatter plot
HISTOGRAM_BINS = 30
MASK_SIDE = 64  # the worst samples' masks are kept at most this many pixels a side


def task_of(output: np.ndarray, target: np.ndarray) -> str:
    """The task an output/target pair describes (shapes of the whole split: N x ...)."""
    integer = not np.issubdtype(target.dtype, np.floating)
    if output.ndim == 2 and integer and (target.ndim == 1 or target.shape[1:] == (1,)):
        return "classification"
    if output.ndim >= 3 and integer and target.shape == output.shape[:1] + output.shape[2:]:
        return "segmentation"
    two_valued = output.shape == target.shape and bool(np.isin(target, (0, 1)).all())
    if output.ndim == 2 and output.shape[1] > 1 and two_valued:
        return "multilabel"
    return "regression"


def softmax(logits: np.ndarray, axis: int = 1) -> np.ndarray:
    shifted = logits - logits.max(axis=axis, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=axis, keepdims=True)


def sigmoid(values: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-values))


def confusion_matrix(targets: np.ndarray, predicted: np.ndarray, classes: int) -> np.ndarray:
    """Counts: row = target class, column = predicted class."""
    keep = (targets >= 0) & (targets < classes)  # an ignored index (-100) is left out
    flat = targets[keep].astype(np.int64) * classes + predicted[keep].astype(np.int64)
    return np.bincount(flat, minlength=classes * classes).reshape(classes, classes)


def row_normalized(confusion: np.ndarray) -> np.ndarray:
    sums = confusion.sum(axis=1, keepdims=True)
    return np.divide(confusion, sums, out=np.zeros(confusion.shape), where=sums > 0)


def _ratio(top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
    return np.divide(top, bottom, out=np.zeros(top.shape), where=bottom > 0)


def class_figures(confusion: np.ndarray, labels: list[str]) -> list[dict[str, Any]]:
    """Precision, recall, F1, IoU and support of each class from a confusion matrix."""
    hits = np.diag(confusion).astype(np.float64)
    actual, guessed = confusion.sum(axis=1), confusion.sum(axis=0)
    precision, recall = _ratio(hits, guessed), _ratio(hits, actual)
    f1 = _ratio(2 * precision * recall, precision + recall)
    iou = _ratio(hits, actual + guessed - hits)
    return [
        {
            "class": labels[c],
            "precision": float(precision[c]),
            "recall": float(recall[c]),
            "f1": float(f1[c]),
            "iou": float(iou[c]),
            "support": int(actual[c]),
        }
        for c in range(len(hits))
    ]


def confused_pairs(confusion: np.ndarray, labels: list[str], count: int = PAIRS) -> list[dict]:
    """The off-diagonal cells with the most samples: (target, predicted, count), most first."""
    off = confusion.copy()
    np.fill_diagonal(off, 0)
    order = np.argsort(-off, axis=None, kind="stable")[:count]
    pairs = []
    for flat in order:
        target, predicted = divmod(int(flat), confusion.shape[0])
        if off[target, predicted] == 0:
            break
        pairs.append(
            {"target": labels[target], "predicted": labels[predicted],
             "target_index": target, "predicted_index": predicted,
             "count": int(off[target, predicted])}
        )  # fmt: skip
    return pairs


def worst(losses: np.ndarray, count: int = TOP) -> list[int]:
    """Indices of the `count` highest losses, highest first (NaN counts as highest)."""
    keyed = np.where(np.isnan(losses), np.inf, losses)
    return [int(i) for i in np.argsort(-keyed, kind="stable")[:count]]


def label_names(labels: list[str] | None, classes: int) -> list[str]:
    given = list(labels or [])
    return [str(given[c]) if c < len(given) else str(c) for c in range(classes)]


def _floats(values: np.ndarray) -> list[float]:
    return [round(float(v), 6) for v in values]


def classification(
    outputs: np.ndarray, targets: np.ndarray, losses: np.ndarray, labels: list[str] | None
) -> dict[str, Any]:
    classes = outputs.shape[1]
    names = label_names(labels, classes)
    targets = targets.reshape(len(targets)).astype(np.int64)
    probabilities = softmax(outputs.astype(np.float64))
    predicted = probabilities.argmax(axis=1)
    confusion = confusion_matrix(targets, predicted, classes)
    valid = (targets >= 0) & (targets < classes)
    top = worst(losses)
    return {
        "kind": "classification",
        "classes": names,
        "count": int(len(targets)),
        "accuracy": float((predicted[valid] == targets[valid]).mean()) if valid.any() else 0.0,
        "confusion": confusion.tolist(),
        "normalized": [_floats(row) for row in row_normalized(confusion)],
        "per_class": class_figures(confusion, names),
        "confused": confused_pairs(confusion, names),
        "top_losses": top,
        "predicted": predicted.tolist(),
        "probability": _floats(probabilities[np.arange(len(predicted)), predicted]),
        "target": targets.tolist(),
        "loss": _floats(losses),
    }


def multilabel(
    outputs: np.ndarray, targets: np.ndarray, losses: np.ndarray, labels: list[str] | None,
    logits: bool,
) -> dict[str, Any]:  # fmt: skip
    names = label_names(labels, outputs.shape[1])
    probabilities = sigmoid(outputs) if logits else outputs
    guessed, actual = probabilities >= 0.5, targets >= 0.5
    hits = (guessed & actual).sum(axis=0).astype(np.float64)
    precision, recall = _ratio(hits, guessed.sum(axis=0)), _ratio(hits, actual.sum(axis=0))
    f1 = _ratio(2 * precision * recall, precision + recall)
    return {
        "kind": "multilabel",
        "classes": names,
        "count": int(len(targets)),
        "per_class": [
            {
                "class": names[c],
                "precision": float(precision[c]),
                "recall": float(recall[c]),
                "f1": float(f1[c]),
                "support": int(actual[:, c].sum()),
            }
            for c in range(len(names))
        ],  # fmt: skip
        "exact_match": float((guessed == actual).all(axis=1).mean()),
        "worst": worst(losses),
        "loss": _floats(losses),
    }


def small_mask(mask: np.ndarray, side: int = MASK_SIDE) -> list[list[int]]:
    """A class mask (H×W, or 1×H×W) as lists, every n-th pixel so no side exceeds `side`;
    an ignored pixel (a negative index such as -100) is -1."""
    mask = mask.reshape(mask.shape[-2:]) if mask.ndim > 2 else mask
    step = max(1, -(-max(mask.shape) // side))
    kept = mask[::step, ::step].astype(np.int64)
    return np.where(kept < 0, -1, kept).tolist()


def segmentation(
    outputs: np.ndarray, targets: np.ndarray, losses: np.ndarray, labels: list[str] | None
) -> dict[str, Any]:
    classes = outputs.shape[1]
    names = label_names(labels, classes)
    predicted = outputs.argmax(axis=1)
    confusion = confusion_matrix(targets.reshape(-1), predicted.reshape(-1), classes)
    figures = class_figures(confusion, names)
    worst_indices = worst(losses)
    return {
        "kind": "segmentation",
        "classes": names,
        "count": int(len(targets)),
        "confusion": confusion.tolist(),
        "normalized": [_floats(row) for row in row_normalized(confusion)],
        "per_class": figures,
        "mean_iou": float(np.mean([f["iou"] for f in figures if f["support"]] or [0.0])),
        "worst": worst_indices,
        "masks": {
            str(i): {"target": small_mask(targets[i]), "predicted": small_mask(predicted[i])}
            for i in worst_indices
        },
        "loss": _floats(losses),
    }


def regression(outputs: np.ndarray, targets: np.ndarray, losses: np.ndarray) -> dict[str, Any]:
    predicted = outputs.reshape(len(outputs), -1).astype(np.float64)
    actual = targets.reshape(len(targets), -1).astype(np.float64)
    if predicted.shape != actual.shape:
        raise ValueError(
            f"the model's output ({'×'.join(map(str, outputs.shape[1:]))} per sample) and the "
            f"target ({'×'.join(map(str, targets.shape[1:]))}) differ in size: cannot compare them"
        )
    residuals = (predicted - actual).reshape(-1)
    total = ((actual - actual.mean()) ** 2).sum()
    counts, edges = np.histogram(residuals, bins=HISTOGRAM_BINS)
    step = max(1, predicted.size // SCATTER_POINTS)  # every step-th value, in sample order
    return {
        "kind": "regression",
        "count": int(len(targets)),
        "mae": float(np.abs(residuals).mean()),
        "rmse": float(np.sqrt((residuals**2).mean())),
        "r2": float(1 - (residuals**2).sum() / total) if total > 0 else 0.0,
        "points": [_floats(predicted.reshape(-1)[::step]), _floats(actual.reshape(-1)[::step])],
        "residuals": {"counts": counts.tolist(), "edges": _floats(edges)},
        "worst": worst(losses),
        "loss": _floats(losses),
    }


def interpret(
    outputs: np.ndarray,
    targets: np.ndarray,
    losses: np.ndarray,
    labels: list[str] | None = None,
    logits: bool = True,
) -> dict[str, Any]:
    """The report of the task `outputs` and `targets` describe (see the module's docstring)."""
    if len(outputs) != len(targets) or len(outputs) != len(losses):
        raise ValueError(
            f"{len(outputs)} outputs, {len(targets)} targets and {len(losses)} losses: "
            "one of each per sample is needed"
        )
    if not len(outputs):
        raise ValueError("the split has no samples to interpret")
    task = task_of(outputs, targets)
    if task == "classification":
        return classification(outputs, targets, losses, labels)
    if task == "segmentation":
        return segmentation(outputs, targets, losses, labels)
    if task == "multilabel":
        return multilabel(outputs, targets, losses, labels, logits)
    return regression(outputs, targets, losses)


def cell_samples(report: dict[str, Any], target: int, predicted: int) -> list[int]:
    """The samples of a classification report's confusion cell, highest loss first."""
    picked = [
        i
        for i, (t, p) in enumerate(zip(report["target"], report["predicted"], strict=True))
        if t == target and p == predicted
    ]
    return sorted(picked, key=lambda i: -report["loss"][i])


def sample_row(report: dict[str, Any], index: int) -> dict[str, Any]:
    """One sample's line of a report: its index, target, prediction, probability and loss."""
    row: dict[str, Any] = {"index": index, "loss": report["loss"][index]}
    if report["kind"] == "classification":
        classes = report["classes"]
        row["target"] = classes[report["target"][index]] if report["target"][index] >= 0 else "-"
        row["predicted"] = classes[report["predicted"][index]]
        row["probability"] = report["probability"][index]
    return row


def summary(report: dict[str, Any]) -> dict[str, Any]:
    """The report without its per-sample lists: what `torchstudio interpret` prints."""
    per_sample = ("predicted", "probability", "target", "loss", "points", "masks")
    return {k: v for k, v in report.items() if k not in per_sample}
