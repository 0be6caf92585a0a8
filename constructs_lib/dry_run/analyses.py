"""Stand-ins for the model-quality analyzer and the Clarify processor, computing their
outputs for real from the step's inputs.

- Model quality (Model Monitor analyzer, `analysis_type=MODEL_QUALITY`): reads the
  predictions CSV, takes the columns the step's config names (`inference_attribute`,
  `probability_attribute` with `probability_threshold_attribute`,
  `ground_truth_attribute`: a header name or a 0-based index) and writes
  `statistics.json` and `constraints.json` as the docs' "Model quality metrics" page
  shows them: `<problem>_metrics.<metric>.{value, standard_deviation}` (the deviation from
  a 20-sample bootstrap) and `<problem>_constraints.<metric>.{threshold,
  comparison_operator}` (the baseline value as the threshold).
- Clarify (`analysis_config.json` as the SDK writes it): post-training bias metrics per
  facet (DPPL, DI, DCAcc, DCR, RD, DAR, DRR, AD, TE) from the model's predictions on the
  dataset, and global SHAP values per feature by permutation sampling against the
  config's baseline (Clarify itself runs Kernel SHAP: values agree in sign and rough
  size, not digit for digit), in `analysis.json` as Clarify writes it.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

PROBLEM_TYPES = ("BinaryClassification", "MulticlassClassification", "Regression")
_LOWER_IS_WORSE = "LessThanThreshold"
_HIGHER_IS_WORSE = "GreaterThanThreshold"


class AnalysisError(ValueError):
    """A setting the stand-in cannot honour: `where` (in the request) and why."""

    def __init__(self, where: str, expected: str) -> None:
        self.where = where
        super().__init__(expected)


def _read_csv(folder: Path, header: bool) -> tuple[list[str], list[list[str]]]:
    names: list[str] = []
    rows: list[list[str]] = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        with path.open(newline="") as opened:
            for position, row in enumerate(csv.reader(opened)):
                if position == 0 and header:
                    names = names or row
                elif row:
                    rows.append(row)
    return names, rows


def _column(names: list[str], attribute: str, setting: str) -> int:
    if attribute in names:
        return names.index(attribute)
    if attribute.isdigit():
        return int(attribute)
    raise AnalysisError(
        f"Environment.{setting}",
        f"a column of the predictions (header: {', '.join(names) or 'none'}) or a 0-based"
        f" index; got {attribute!r}",
    )


def model_quality(environment: Mapping[str, str], local: Callable[[str], Path]) -> str:
    """statistics.json and constraints.json of the predictions; a one-line summary."""
    problem = environment.get("problem_type", "")
    if problem not in PROBLEM_TYPES:
        raise AnalysisError(
            "Environment.problem_type", f"one of {', '.join(PROBLEM_TYPES)}; got {problem!r}"
        )
    dataset_format = json.loads(environment.get("dataset_format", '{"csv": {"header": true}}'))
    if "csv" not in dataset_format:
        raise AnalysisError(
            "Environment.dataset_format", f"CSV (the stand-in reads CSV); got {dataset_format}"
        )
    names, rows = _read_csv(
        local(environment["dataset_source"]), bool(dataset_format["csv"].get("header", True))
    )
    if not rows:
        raise AnalysisError(
            "Environment.dataset_source",
            f"predictions under {environment['dataset_source']} (none)",
        )
    truth_at = _column(
        names, environment.get("ground_truth_attribute", ""), "ground_truth_attribute"
    )

    def values(index: int, setting: str) -> np.ndarray:
        try:
            return np.array([float(r[index]) for r in rows])
        except (ValueError, IndexError) as error:
            raise AnalysisError(f"Environment.{setting}", f"a numeric column ({error})") from error

    truth = values(truth_at, "ground_truth_attribute")
    probability = None
    if environment.get("probability_attribute"):
        probability = values(
            _column(names, environment["probability_attribute"], "probability_attribute"),
            "probability_attribute",
        )
    if environment.get("inference_attribute"):
        predicted = values(
            _column(names, environment["inference_attribute"], "inference_attribute"),
            "inference_attribute",
        )
    elif probability is not None and problem == "BinaryClassification":
        threshold = float(environment.get("probability_threshold_attribute", "0.5"))
        predicted = (probability >= threshold).astype(float)
    else:
        raise AnalysisError("Environment.inference_attribute", "the predicted label's column")
    key = {
        "BinaryClassification": "binary_classification",
        "MulticlassClassification": "multiclass_classification",
        "Regression": "regression",
    }[problem]
    metrics = _metrics(problem, truth, predicted, probability)
    rng = np.random.default_rng(0)
    samples = []
    for _ in range(20):
        pick = rng.integers(0, len(truth), len(truth))
        samples.append(
            _metrics(
                problem,
                truth[pick],
                predicted[pick],
                None if probability is None else probability[pick],
            )
        )
    statistics: dict[str, Any] = {
        "version": 0.0,
        "dataset": {"item_count": len(rows), "evaluation_time": datetime.now(UTC).isoformat()},
    }
    block: dict[str, Any] = {}
    constraints: dict[str, Any] = {}
    if problem != "Regression":
        labels = sorted(set(truth.tolist()) | set(predicted.tolist()))
        block["confusion_matrix"] = {
            _label(a): {_label(b): int(np.sum((truth == a) & (predicted == b))) for b in labels}
            for a in labels
        }
    for name, value in metrics.items():
        spread = [s[name] for s in samples if np.isfinite(s.get(name, np.nan))]
        block[name] = {
            "value": value,
            "standard_deviation": float(np.std(spread)) if spread else 0.0,
        }
        if not name.endswith("_best_constant_classifier"):
            worse = name in ("mae", "mse", "rmse") or name.startswith(
                ("false_positive", "false_negative")
            )
            constraints[name] = {
                "threshold": value,
                "comparison_operator": _HIGHER_IS_WORSE if worse else _LOWER_IS_WORSE,
            }
    statistics[f"{key}_metrics"] = block
    output = local(environment["output_path"])
    output.mkdir(parents=True, exist_ok=True)
    (output / "statistics.json").write_text(json.dumps(statistics, indent=2))
    (output / "constraints.json").write_text(
        json.dumps({"version": 0.0, f"{key}_constraints": constraints}, indent=2)
    )
    headline = ", ".join(
        f"{n} {metrics[n]:.3f}" for n in ("accuracy", "auc", "rmse", "r2") if n in metrics
    )
    return f"{len(rows)} predictions, {problem}: {headline} -> statistics.json, constraints.json"


def _label(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _metrics(
    problem: str, truth: np.ndarray, predicted: np.ndarray, probability: np.ndarray | None
) -> dict[str, float]:
    from sklearn import metrics as m

    if problem == "Regression":
        mse = float(m.mean_squared_error(truth, predicted))
        return {
            "mae": float(m.mean_absolute_error(truth, predicted)),
            "mse": mse,
            "rmse": float(np.sqrt(mse)),
            "r2": float(m.r2_score(truth, predicted)),
        }
    values, counts = np.unique(truth, return_counts=True)
    constant = np.full_like(truth, values[np.argmax(counts)])
    if problem == "MulticlassClassification":
        result = {"accuracy": float(m.accuracy_score(truth, predicted))}
        for name, beta in (("f0_5", 0.5), ("f1", 1.0), ("f2", 2.0)):
            result[f"weighted_{name}"] = float(
                m.fbeta_score(truth, predicted, beta=beta, average="weighted", zero_division=0)
            )
        result["weighted_recall"] = float(
            m.recall_score(truth, predicted, average="weighted", zero_division=0)
        )
        result["weighted_precision"] = float(
            m.precision_score(truth, predicted, average="weighted", zero_division=0)
        )
        result["accuracy_best_constant_classifier"] = float(m.accuracy_score(truth, constant))
        return result
    result = {}
    for suffix, guess in (("", predicted), ("_best_constant_classifier", np.ones_like(truth))):
        result["recall" + suffix] = float(m.recall_score(truth, guess, zero_division=0))
        result["precision" + suffix] = float(m.precision_score(truth, guess, zero_division=0))
        result["accuracy" + suffix] = float(m.accuracy_score(truth, guess))
        for name, beta in (("f0_5", 0.5), ("f1", 1.0), ("f2", 2.0)):
            result[name + suffix] = float(m.fbeta_score(truth, guess, beta=beta, zero_division=0))
    positives, negatives = truth == 1, truth == 0
    result["true_positive_rate"] = _rate(predicted[positives] == 1)
    result["true_negative_rate"] = _rate(predicted[negatives] == 0)
    result["false_positive_rate"] = _rate(predicted[negatives] == 1)
    result["false_negative_rate"] = _rate(predicted[positives] == 0)
    if probability is not None and len(values) == 2:
        result["auc"] = float(m.roc_auc_score(truth, probability))
    return result


def _rate(hits: np.ndarray) -> float:
    return float(np.mean(hits)) if len(hits) else 0.0


# -- Clarify ---------------------------------------------------------------------------

Predict = Callable[[list[list[float]]], np.ndarray]
"""Feature rows -> the model's score (probability of the positive label) per row."""
BIAS_METRICS = {
    "DPPL": "Difference in Positive Proportions in Predicted Labels (DPPL)",
    "DI": "Disparate Impact (DI)",
    "DCAcc": "Difference in Conditional Acceptance (DCAcc)",
    "DCR": "Difference in Conditional Rejection (DCR)",
    "RD": "Recall Difference (RD)",
    "DAR": "Difference in Acceptance Rates (DAR)",
    "DRR": "Difference in Rejection Rates (DRR)",
    "AD": "Accuracy Difference (AD)",
    "TE": "Treatment Equality (TE)",
}


def clarify(config: Mapping[str, Any], dataset: Path, output: Path, predict: Predict) -> str:
    """analysis.json for the config's methods; a one-line summary."""
    headers = [str(h) for h in config.get("headers", [])]
    label = str(config.get("label", ""))
    if config.get("dataset_type", "text/csv") != "text/csv":
        raise AnalysisError("analysis_config.dataset_type", "text/csv (the stand-in reads CSV)")
    if label not in headers:
        raise AnalysisError(
            "analysis_config.label", f"one of the headers ({', '.join(headers)}); got {label!r}"
        )
    _, rows = _read_csv(dataset, header=False)
    if rows and rows[0] == headers:
        rows = rows[1:]
    if not rows:
        raise AnalysisError("ProcessingInputs.dataset", f"records under {dataset.name} (none)")
    try:
        table = np.array([[float(v) for v in row] for row in rows])
    except ValueError as error:
        raise AnalysisError("ProcessingInputs.dataset", f"numeric CSV records ({error})") from error
    if table.shape[1] != len(headers):
        raise AnalysisError(
            "analysis_config.headers",
            f"{table.shape[1]} names (one per column); got {len(headers)}",
        )
    label_at = headers.index(label)
    features = [h for h in headers if h != label]
    x = np.delete(table, label_at, axis=1)
    truth_positive = _positive(table[:, label_at], config.get("label_values_or_threshold", [1]))
    methods = config.get("methods", {})
    analysis: dict[str, Any] = {"version": "1.0"}
    done = []
    if "post_training_bias" in methods:
        scores = predict(x.tolist())
        threshold = float(config.get("probability_threshold", 0.5))
        predicted_positive = scores > threshold
        facets: dict[str, Any] = {}
        for facet in config.get("facet", []):
            name = str(facet.get("name_or_index"))
            if name not in features:
                raise AnalysisError(
                    "analysis_config.facet", f"a feature ({', '.join(features)}); got {name!r}"
                )
            column = x[:, features.index(name)]
            wanted = facet.get("value_or_threshold")
            if wanted is None:
                raise AnalysisError("analysis_config.facet", "value_or_threshold for each facet")
            disfavored = _positive(column, wanted)
            facets[name] = [
                {
                    "value_or_threshold": _describe(wanted),
                    "metrics": [
                        {"name": n, "description": BIAS_METRICS[n], "value": v}
                        for n, v in _bias(truth_positive, predicted_positive, disfavored).items()
                    ],
                }
            ]
        analysis["post_training_bias_metrics"] = {
            "label": label,
            "label_value_or_threshold": _describe(config.get("label_values_or_threshold", [1])),
            "facets": facets,
        }
        done.append(f"bias on {', '.join(facets)}")
    if "shap" in methods:
        shap = methods["shap"]
        baseline = np.array(shap.get("baseline", [[0.0] * len(features)]), dtype=float)
        if baseline.ndim != 2 or baseline.shape[1] != len(features):
            raise AnalysisError(
                "analysis_config.methods.shap.baseline",
                f"rows of {len(features)} feature values; got shape {baseline.shape}",
            )
        values, expected = _shap(x, baseline[0], predict, int(shap.get("num_samples", 20)))
        aggregate = {
            "mean_abs": np.mean(np.abs(values), axis=0),
            "mean_sq": np.mean(values**2, axis=0),
            "median": np.median(values, axis=0),
        }.get(str(shap.get("agg_method", "mean_abs")))
        if aggregate is None:
            raise AnalysisError(
                "analysis_config.methods.shap.agg_method", "mean_abs, mean_sq or median"
            )
        analysis["explanations"] = {
            "kernel_shap": {
                "label0": {
                    "global_shap_values": {
                        f: float(v) for f, v in zip(features, aggregate, strict=True)
                    },
                    "expected_value": expected,
                }
            }
        }
        done.append(f"SHAP of {len(features)} features")
    if not done:
        raise AnalysisError("analysis_config.methods", "post_training_bias or shap")
    output.mkdir(parents=True, exist_ok=True)
    (output / "analysis.json").write_text(json.dumps(analysis, indent=2))
    return f"{len(rows)} records: {'; '.join(done)} -> analysis.json"


def _positive(column: np.ndarray, wanted: Any) -> np.ndarray:
    """Rows in the group: equal to one of the listed values, or above a threshold."""
    if isinstance(wanted, list) and len(wanted) == 1 and not float(wanted[0]).is_integer():
        return column > float(wanted[0])
    listed = wanted if isinstance(wanted, list) else [wanted]
    return np.isin(column, [float(v) for v in listed])


def _describe(wanted: Any) -> str:
    return ",".join(str(v) for v in wanted) if isinstance(wanted, list) else str(wanted)


def _bias(truth: np.ndarray, predicted: np.ndarray, disfavored: np.ndarray) -> dict[str, float]:
    """Clarify's post-training metrics, facet a (favoured) minus facet d (`disfavored`)."""

    def rates(group: np.ndarray) -> dict[str, float]:
        t, p = truth[group], predicted[group]
        tp, fp = float(np.sum(t & p)), float(np.sum(~t & p))
        fn, tn = float(np.sum(t & ~p)), float(np.sum(~t & ~p))
        return {
            "q": _safe(tp + fp, len(t)),
            "c_acc": _safe(float(np.sum(t)), tp + fp),
            "c_rej": _safe(float(np.sum(~t)), tn + fn),
            "recall": _safe(tp, tp + fn),
            "precision": _safe(tp, tp + fp),
            "npv": _safe(tn, tn + fn),
            "accuracy": _safe(tp + tn, len(t)),
            "te": _safe(fn, fp),
        }

    a, d = rates(~disfavored), rates(disfavored)
    return {
        "DPPL": a["q"] - d["q"],
        "DI": _safe(d["q"], a["q"]),
        "DCAcc": a["c_acc"] - d["c_acc"],
        "DCR": d["c_rej"] - a["c_rej"],
        "RD": a["recall"] - d["recall"],
        "DAR": a["precision"] - d["precision"],
        "DRR": d["npv"] - a["npv"],
        "AD": a["accuracy"] - d["accuracy"],
        "TE": d["te"] - a["te"],
    }


def _safe(top: float, bottom: float) -> float:
    return top / bottom if bottom else 0.0


SHAP_ROWS = 20
SHAP_PERMUTATIONS = 10


def _shap(
    x: np.ndarray, baseline: np.ndarray, predict: Predict, samples: int
) -> tuple[np.ndarray, float]:
    """Per-row Shapley values by permutation sampling, in one model call: up to
    `SHAP_ROWS` rows and `SHAP_PERMUTATIONS` permutations each (a stand-in sized for a
    local run: its values agree with Clarify's Kernel SHAP in sign and rough size)."""
    rng = np.random.default_rng(0)
    rows = x[: min(len(x), SHAP_ROWS)]
    samples = min(samples, SHAP_PERMUTATIONS)
    count, width = len(rows), x.shape[1]
    batch, plan = [], []
    for row in rows:
        for _ in range(max(1, samples)):
            order = rng.permutation(width)
            current = baseline.copy()
            batch.append(current.copy())
            for feature in order:
                current[feature] = row[feature]
                batch.append(current.copy())
            plan.append(order)
    scores = predict(np.array(batch).tolist())
    values = np.zeros((count, width))
    position = 0
    for index, order in enumerate(plan):
        row_index = index // max(1, samples)
        chain = scores[position : position + width + 1]
        for step, feature in enumerate(order):
            values[row_index, feature] += chain[step + 1] - chain[step]
        position += width + 1
    values /= max(1, samples)
    return values, float(predict([baseline.tolist()])[0])


def scores_of(body: bytes, predictor: Mapping[str, Any]) -> np.ndarray:
    """The positive-label score per record in a model's answer (JSON or CSV)."""
    text = body.decode()
    try:
        parsed = json.loads(text)
    except ValueError:
        lines = [line for line in csv.reader(io.StringIO(text)) if line]
        return np.array([float(line[-1]) for line in lines])
    if isinstance(parsed, int | float):  # one CSV record reads as a JSON number
        return np.array([float(parsed)])
    path = str(predictor.get("probability", "")).replace("[*]", "").split(".")
    items = parsed
    for part in [p for p in path if p]:
        items = [i[part] for i in items] if isinstance(items, list) else items[part]
    if isinstance(items, dict) and "predictions" in items:
        items = items["predictions"]
    return np.array(
        [
            float(next((i[k] for k in ("probability", "score", "label") if k in i), "nan"))
            if isinstance(i, dict)
            else float(i)
            for i in items
        ]
    )
