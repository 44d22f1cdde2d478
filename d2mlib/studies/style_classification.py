"""How good is the music style extractor, and which style do composed dances look like?
Per-window predictions, scores over seeds, misclassified windows (book/style.md, book/improved.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch
from torch import nn

from d2mlib import generate, skeleton
from d2mlib.config import STYLES
from d2mlib.metrics.classifier import DanceClassifier, embed_dances
from d2mlib.metrics.eval_data import meta_beats
from d2mlib.metrics.evaluation import TABLE_COLUMNS, derived_seed
from d2mlib.validate import check_same_length, metric_error

if TYPE_CHECKING:
    from d2mlib.data.store import FeatureStore
    from d2mlib.generate import DanceGenerator


@torch.no_grad()
def style_predictions(
    model: nn.Module, store: FeatureStore, split: str = "test", batch_size: int = 256
) -> pd.DataFrame:
    """A style extractor's prediction for every window tiling each clip of `split`.

    Windows are `model.window` frames at offsets 0, w, 2w, ... of each clip's audio
    features (normalised with the dataset's stats). One row per window: clip (row of the
    clips table), start (frame), true and predicted style index, the softmax probabilities
    (p_<style>) and the style code (a list, column "code").
    """
    window = int(model.window)
    rows: list[dict[str, object]] = []
    batches: list[np.ndarray] = []
    for clip in store.clip_indices(split):
        feats = store.clip_audio(int(clip))
        for start in range(0, len(feats) - window + 1, window):
            batches.append(store.normalise_audio(feats[start : start + window]))
            rows.append({"clip": int(clip), "start": start, "style": int(store.clip_style[clip])})
    if not rows:
        raise metric_error(
            f"style_predictions: no clip of split {split!r} holds {window} audio frames"
        )
    model.eval()
    codes, probs = [], []
    x = np.stack(batches)
    for lo in range(0, len(x), batch_size):
        code, logits = model(torch.from_numpy(x[lo : lo + batch_size]))
        codes.append(code.numpy())
        probs.append(torch.softmax(logits, -1).numpy())
    prob = np.concatenate(probs)
    table = pd.DataFrame(rows)
    table["predicted"] = prob.argmax(1)
    names = list(getattr(store, "styles", STYLES))
    for i in range(prob.shape[1]):
        table[f"p_{names[i] if i < len(names) else i}"] = prob[:, i]
    table["code"] = list(np.concatenate(codes))
    return table


def classification_scores(
    y_true: Sequence[int] | np.ndarray,
    y_pred: Sequence[int] | np.ndarray,
    num_classes: int = 3,
    names: Sequence[str] = STYLES,
) -> dict[str, float]:
    """Accuracy, and precision and recall of each style (NaN when never predicted / never true).

    `names` are the style labels in order (the dataset's styles; default config.STYLES)."""
    t = np.asarray(y_true, dtype=np.int64)
    p = np.asarray(y_pred, dtype=np.int64)
    if t.size == 0:
        raise metric_error("classification_scores: empty set (no predictions)")
    check_same_length(t, p, "true styles", "predictions")
    out = {"accuracy": float(np.mean(t == p))}
    for c in range(num_classes):
        name = names[c] if c < len(names) else str(c)
        hit = np.sum((t == c) & (p == c))
        out[f"precision {name}"] = float(hit / np.sum(p == c)) if np.any(p == c) else float("nan")
        out[f"recall {name}"] = float(hit / np.sum(t == c)) if np.any(t == c) else float("nan")
    return out


def scores_over_seeds(predictions: dict[tuple[str, int], pd.DataFrame]) -> pd.DataFrame:
    """Tidy (system, seed, metric, value) rows of `classification_scores` for each
    (system, seed) -> `style_predictions` table (the layout `viz.plot_metric_bars` reads)."""
    rows = []
    for (system, seed), table in predictions.items():
        for metric, value in classification_scores(table["style"], table["predicted"]).items():
            rows.append({"system": system, "seed": int(seed), "metric": metric, "value": value})
    return pd.DataFrame(rows, columns=list(TABLE_COLUMNS))


def misclassified_windows(
    table: pd.DataFrame, n: int = 3, seed: int = 0, true_style: int | None = None
) -> pd.DataFrame:
    """Up to `n` wrongly classified rows of a `style_predictions` table (of `true_style` when
    given), the most confidently wrong first; ties broken by a seeded shuffle."""
    wrong = table[table["style"] != table["predicted"]]
    if true_style is not None:
        wrong = wrong[wrong["style"] == int(true_style)]
    if wrong.empty:
        return wrong.copy()
    prob_cols = [f"p_{name}" for name in STYLES if f"p_{name}" in wrong.columns]
    probs = wrong[prob_cols].to_numpy()
    confidence = probs[np.arange(len(wrong)), wrong["predicted"].to_numpy()]
    rng = np.random.default_rng(seed)
    order = np.lexsort((rng.random(len(wrong)), -confidence))
    return wrong.iloc[order[:n]].assign(confidence=confidence[order[:n]])


def composed_styles(
    generator: DanceGenerator,
    store: FeatureStore,
    classifier: DanceClassifier,
    split: str = "test",
    per_style: int = 10,
    seed: int = 0,
    warp: bool = True,
) -> pd.DataFrame:
    """Compose a dance for `per_style` random clips of each style of `split` and classify it.

    One row per dance: clip (row of the clips table), style of its music, the classifier's
    predicted style and probabilities (p_<style>), and the dance itself (column "dance").
    The music's beats are the clip's meta.json beats when present (else none: no warping).
    """

    rng = np.random.default_rng(seed)
    rows, dances = [], []
    clips = store.clip_indices(split)
    for s in range(len(STYLES)):
        mine = clips[store.clip_style[clips] == s]
        for c in np.sort(rng.choice(mine, min(int(per_style), len(mine)), replace=False)):
            feats = np.asarray(store.clip_audio(int(c)), np.float32)
            beats = meta_beats(store.clips_table["audio"].iloc[int(c)])
            music = generate.Music(
                features=feats,
                beat_times=np.zeros(0) if beats is None else np.asarray(beats, np.float64),
                duration=len(feats) / skeleton.FPS,
                source=f"clip {int(c)}",
            )
            truth = s if generator.needs_style else None  # an oracle composes to the true style
            dance = generator.compose(music, derived_seed(seed, int(c)), warp=warp, style=truth)
            dances.append(np.asarray(dance.poses, np.float64))
            rows.append({"clip": int(c), "style": s})
    if not rows:
        raise metric_error(f"composed_styles: no clips in split {split!r}")
    emb = embed_dances(classifier, dances)
    table = pd.DataFrame(rows)
    table["predicted"] = emb.predicted
    for i, name in enumerate(STYLES[: emb.probs.shape[1]]):
        table[f"p_{name}"] = emb.probs[:, i]
    table["dance"] = dances
    return table


def per_clip_scores(predictions: dict[tuple[str, int], pd.DataFrame]) -> pd.DataFrame:
    """Tidy (system, metric, seed, clip, value) rows for `stats.compare`: per test clip, the
    share of its windows classified correctly, as "accuracy" (every clip) and as
    "recall <style>" (the clips of that style)."""
    rows = []
    for (system, seed), table in predictions.items():
        hit = (table["style"] == table["predicted"]).groupby(table["clip"]).mean()
        style = table.groupby("clip")["style"].first()
        for clip, value in hit.items():
            name = STYLES[int(style[clip])] if int(style[clip]) < len(STYLES) else str(style[clip])
            for metric in ("accuracy", f"recall {name}"):
                rows.append(
                    {
                        "system": system,
                        "metric": metric,
                        "seed": int(seed),
                        "clip": int(clip),
                        "value": float(value),
                    }
                )
    return pd.DataFrame(rows, columns=["system", "metric", "seed", "clip", "value"])


# What the student's report printed (Tang et al. reproduction), and what each number was.
STUDENT = {
    "accuracy": 0.735,  # the authors' released classifier, scored on data including its training set
    "recall ballet": 0.898,  # printed as "precision"; each true-style column sums to 100%
    "recall zumba": 0.719,
    "recall hiphop": 0.526,
    "own_pipeline_accuracy": 0.987,  # the student's own pipeline: random 80/20 split, 59 frames
    "own_pipeline_frames": 59,
    "own_pipeline_test_share": 0.2,
}


def recall_beside_student(scores: pd.DataFrame) -> pd.DataFrame:
    """Per style: our recall and precision (mean and std over seeds) beside the student's
    "precision" row, which was per-true-style recall."""
    rows = []
    for name in STYLES:
        rec = scores.loc[scores["metric"] == f"recall {name}", "value"]
        prec = scores.loc[scores["metric"] == f"precision {name}", "value"]
        rows.append(
            {
                "style": name,
                "our recall": rec.mean(),
                "recall std": rec.std(ddof=1) if len(rec) > 1 else 0.0,
                "student's recall (printed as precision)": STUDENT.get(f"recall {name}", np.nan),
                "our precision": prec.mean(),
                "precision std": prec.std(ddof=1) if len(prec) > 1 else 0.0,
            }
        )
    return pd.DataFrame(rows).set_index("style")
