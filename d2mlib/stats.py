"""The book's one decision rule: does a system differ from a baseline, seeds and test clips counted.

`compare` takes a tidy table (``system, metric, seed, clip, value``) and returns one row per
(system, metric) with the mean difference from the baseline, its 95% interval, a p-value and a
Holm-adjusted p-value across every row of the call; ``differs`` is ``p_adjusted < alpha``.

Why not a bootstrap p-value. A centred two-level bootstrap (resample seeds, then clips), Holm
over 12 rows, 3 against 3 seeds, fires under no effect in 56% of simulated calls: with 3 seeds
the bootstrap's spread is biased low by a third and its tails stop at the extreme seeds, so it
cannot be calibrated at the level Holm asks for (alpha / 12). The rule therefore keeps the
bootstrap's two levels but computes their variance exactly and refers the difference to a t
distribution:

* seeds: each system's per-seed means vary from run to run; ``var(seed means) / n_seeds``;
* clips: when all seeds of both systems score the same test clips (the book's usual, paired
  design) clip difficulty cancels in the per-clip difference and what is left,
  ``var(clip differences) / n_clips`` less the cell noise already in the seed term, is the clip
  part; unpaired clip sets count each system's clip spread separately.

This is the two-way random-effects (seeds x clips) variance of a difference of grand means. Its
degrees of freedom are Welch-Satterthwaite's, but never more than the seeds give
(n_system + n_baseline - 2): with few seeds the seed variance can come out small by chance and
Satterthwaite would then borrow the clips' many degrees of freedom (that alone let a 2-seed
design fire in 19% of null calls). Simulated, 12 rows a call, the family-wise false-positive
rate is 0-2.2% with 2-3 seeds a side and 4.6% with one seed (clips only); see tests/test_stats.

With one seed on either side there is no seed-level uncertainty to estimate: the rule then uses
the clips only (a paired t-test over clips when the clips match) and says so in
``uncertainty``. Power is low with 3 seeds: a per-run metric needs about 3.4 seed standard
deviations to be found 80% of the time alone, 8.7 in a family of 12 rows (10 seeds: 1.9);
`power` and `minimum_detectable_effect` give the figure for any design.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from scipy import stats as sps

from .errors import ConfigError, MetricError

__all__ = [
    "COLUMNS",
    "compare",
    "describe_rule",
    "forest_table",
    "holm",
    "minimum_detectable_effect",
    "power",
]

COLUMNS = ("system", "metric", "seed", "clip", "value")
SEEDS_AND_CLIPS = "seeds and clips"
SEEDS_ONLY = "seeds"
SEEDS_NESTED = "seeds (clips differ per seed)"
CLIPS_ONLY = "clips only (1 seed: no seed-level uncertainty)"
NONE = "none (1 seed, no clips: untestable)"


def describe_rule(alpha: float = 0.05) -> str:
    """One sentence the book prints to say how every difference is decided."""
    return (
        "Each difference is the system's mean minus the baseline's over training seeds and test "
        "clips; its uncertainty counts both (two-way seeds x clips variance, t with "
        "Welch-Satterthwaite degrees of freedom capped at the seeds'), and a row 'differs' when "
        "its Holm-adjusted "
        f"p-value across all rows of the comparison is below {alpha:g}, which keeps the chance "
        f"of any false difference at {alpha:.0%} or less."
    )


def holm(p: np.ndarray) -> np.ndarray:
    """Holm step-down adjusted p-values along the last axis (NaN entries stay NaN, not counted)."""
    p = np.asarray(p, dtype=float)
    flat = p.reshape(-1, p.shape[-1]) if p.ndim else p.reshape(1, 1)
    out = np.full_like(flat, np.nan)
    for i, row in enumerate(flat):
        ok = np.flatnonzero(np.isfinite(row))
        if ok.size == 0:
            continue
        order = ok[np.argsort(row[ok], kind="stable")]
        m = ok.size
        scaled = row[order] * (m - np.arange(m))
        out[i, order] = np.minimum(1.0, np.maximum.accumulate(scaled))
    return out.reshape(p.shape)


def _holm_full(p: np.ndarray) -> np.ndarray:
    """Holm along the last axis for arrays without NaN (vectorised; used by the simulations)."""
    m = p.shape[-1]
    order = np.argsort(p, axis=-1, kind="stable")
    scaled = np.take_along_axis(p, order, -1) * (m - np.arange(m))
    adj = np.minimum(1.0, np.maximum.accumulate(scaled, axis=-1))
    out = np.empty_like(adj)
    np.put_along_axis(out, order, adj, -1)
    return out


def _svar(x: np.ndarray, axis: int) -> np.ndarray:
    """Unbiased variance along `axis` (0 when there is one value)."""
    n = x.shape[axis]
    return x.var(axis=axis, ddof=1) if n > 1 else np.zeros(np.delete(x.shape, axis))


def _resid_ms(y: np.ndarray) -> np.ndarray:
    """Residual mean square of a two-way (seed x clip) grid batch (n, S, C): the cell noise."""
    _, s, c = y.shape
    if s < 2 or c < 2:
        return np.zeros(y.shape[0])
    r = y - y.mean(2, keepdims=True) - y.mean(1, keepdims=True) + y.mean((1, 2), keepdims=True)
    return (r**2).sum((1, 2)) / ((s - 1) * (c - 1))


def _welch(parts: list[tuple[np.ndarray, int]]) -> tuple[np.ndarray, np.ndarray]:
    """Total variance and Welch-Satterthwaite degrees of freedom of a sum of variance parts."""
    total = sum(v for v, _ in parts)
    denom = sum(v**2 / d for v, d in parts if d > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        df = np.where(denom > 0, total**2 / np.where(denom > 0, denom, 1.0), np.inf)
    return total, df


def _grid_test(
    ys: np.ndarray, yb: np.ndarray, paired: bool, per_run: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """Effect, variance, df and mode for batches of complete grids ys (n,S1,C1), yb (n,S0,C0).

    Per-run metrics have C = 1. Modes: seeds and clips, seeds only, clips only, none.
    """
    (_, s1, c1), (_, s0, c0) = ys.shape, yb.shape
    effect = ys.mean((1, 2)) - yb.mean((1, 2))
    if s1 >= 2 and s0 >= 2:
        parts = [(_svar(ys.mean(2), 1) / s1, s1 - 1), (_svar(yb.mean(2), 1) / s0, s0 - 1)]
        if per_run:
            return effect, *_welch(parts), SEEDS_ONLY
        noise = _resid_ms(ys) / (s1 * c1) + _resid_ms(yb) / (s0 * c0)
        if paired:
            clip = _svar(ys.mean(1) - yb.mean(1), 1) / c1
            clip_parts = [(np.maximum(clip - noise, 0.0), c1 - 1)]
        else:
            clip_parts = [
                (np.maximum(_svar(ys.mean(1), 1) / c1 - _resid_ms(ys) / (s1 * c1), 0.0), c1 - 1),
                (np.maximum(_svar(yb.mean(1), 1) / c0 - _resid_ms(yb) / (s0 * c0), 0.0), c0 - 1),
            ]
        var, df = _welch(parts + clip_parts)
        # Never more degrees of freedom than the seeds give: with few seeds the seed variance can
        # come out small by chance, and Satterthwaite would then borrow the clips' many df.
        return effect, var, np.minimum(df, s1 + s0 - 2), SEEDS_AND_CLIPS
    if per_run:
        nan = np.full_like(effect, np.nan)
        return effect, nan, nan, NONE
    if paired:
        var, df = _welch([(_svar(ys.mean(1) - yb.mean(1), 1) / c1, c1 - 1)])
    else:
        var, df = _welch([(_svar(ys.mean(1), 1) / c1, c1 - 1), (_svar(yb.mean(1), 1) / c0, c0 - 1)])
    return effect, var, df, CLIPS_ONLY


def _p_value(effect: np.ndarray, var: np.ndarray, df: np.ndarray) -> np.ndarray:
    """Two-sided t p-value; a zero variance gives 1 for a zero effect and 0 otherwise."""
    se = np.sqrt(var)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.abs(effect) / se
        p = 2 * sps.t.sf(t, df)
    p = np.where(se == 0, np.where(effect == 0, 1.0, 0.0), p)
    return np.where(np.isfinite(var), p, np.nan)


def _fail(message: str) -> MetricError:
    """A MetricError whose one line starts with the function's name."""
    return MetricError(f"compare: {message}")


def _validate(table: pd.DataFrame, baseline: str, alpha: float) -> pd.DataFrame:
    """The table with clips normalised (empty string -> NaN); one clear error on bad input."""
    if not isinstance(table, pd.DataFrame):
        raise _fail(f"table must be a pandas DataFrame, got {type(table).__name__}")
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise _fail(f"table lacks column(s) {', '.join(missing)}; needs {', '.join(COLUMNS)}")
    if not 0 < alpha < 1:
        raise ConfigError(f"compare: alpha must be in (0, 1), got {alpha}")
    t = table.loc[:, list(COLUMNS)].copy()
    t["clip"] = t["clip"].replace("", np.nan)
    values = pd.to_numeric(t["value"], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(values)
    if bad.any():
        first = t.loc[bad].iloc[0]
        raise _fail(
            f"{int(bad.sum())} value(s) are missing or non-finite (first: system "
            f"{first['system']!r}, metric {first['metric']!r}, seed {first['seed']})"
        )
    t["value"] = values
    if t[["system", "metric", "seed"]].isna().any().any():
        raise _fail("system, metric and seed must not be empty")
    systems = set(t["system"].unique())
    if baseline not in systems:
        raise _fail(f"baseline {baseline!r} not among systems {sorted(map(str, systems))}")
    base_metrics = set(t.loc[t["system"] == baseline, "metric"].unique())
    lacking = sorted(map(str, set(t["metric"].unique()) - base_metrics))
    if lacking:
        raise _fail(f"metric(s) {', '.join(lacking)} have no rows for baseline {baseline!r}")
    kinds = t.assign(per_run=t["clip"].isna()).groupby(["metric"])["per_run"].nunique()
    if (kinds > 1).any():
        raise _fail(
            f"metric {kinds[kinds > 1].index[0]!r} mixes per-run rows (clip empty) with "
            "per-clip rows"
        )
    key = t["clip"].astype(object).where(t["clip"].notna(), "")
    dup = t.assign(clip=key).duplicated(["system", "metric", "seed", "clip"]).to_numpy()
    if dup.any():
        first = t.loc[dup].iloc[0]
        raise _fail(
            f"duplicate row for system {first['system']!r}, metric {first['metric']!r}, "
            f"seed {first['seed']}, clip {first['clip']}"
        )
    return t


def _grid(part: pd.DataFrame) -> tuple[np.ndarray, list, bool]:
    """The (seed x clip) value grid of one system and metric, its clip ids, and completeness."""
    seed_code, _ = pd.factorize(part["seed"], sort=True)
    values = part["value"].to_numpy()
    if part["clip"].isna().all():
        sums = np.bincount(seed_code, weights=values)
        return (sums / np.bincount(seed_code))[:, None], [], True
    clip_code, clips = pd.factorize(part["clip"], sort=True)
    grid = np.full((seed_code.max() + 1, len(clips)), np.nan)
    grid[seed_code, clip_code] = values
    return grid, list(clips), bool(np.isfinite(grid).all())


def _row(ys: np.ndarray, yb: np.ndarray, cs: list, cb: list, complete: bool) -> tuple:
    """Effect, variance, df and mode of one (system, metric) row against the baseline."""
    if complete:
        paired = bool(cs) and set(cs) == set(cb)
        if paired:
            yb = yb[:, [cb.index(c) for c in cs]]
        e, v, d, mode = _grid_test(ys[None], yb[None], paired, per_run=not cs)
        return e[0], v[0], d[0], mode, paired
    # Seeds scored different clips: per-seed means carry the clip sampling (clips nested in seeds).
    ms, mb = np.nanmean(ys, 1), np.nanmean(yb, 1)
    e, v, d, mode = _grid_test(ms[None, :, None], mb[None, :, None], False, per_run=True)
    if mode == SEEDS_ONLY:
        mode = SEEDS_NESTED
    else:  # one seed on a side: the clips of the seeds there are, unpaired
        cols_s, cols_b = np.nanmean(ys, 0), np.nanmean(yb, 0)
        e, v, d, mode = _grid_test(
            cols_s[np.isfinite(cols_s)][None, None],
            cols_b[np.isfinite(cols_b)][None, None],
            paired=False,
            per_run=False,
        )
    return e[0], v[0], d[0], mode, False


def compare(
    table: pd.DataFrame,
    baseline: str,
    *,
    metrics_higher_better: Mapping[str, bool] | None = None,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Each system against `baseline` on each metric: effect, 95% CI, Holm-adjusted p, differs.

    Columns: system, metric, baseline, effect (system mean - baseline mean), ci_low/ci_high (a
    per-row 1 - alpha interval; ci_level says which), ci_low_fw/ci_high_fw (Bonferroni
    1 - alpha/m intervals, jointly covering all m rows), p_value, p_adjusted (Holm over all testable rows of this call), differs,
    better ("system", "baseline", "neither", or "unknown" when the metric's direction is not in
    `metrics_higher_better`), mean_system, mean_baseline, n_seeds, n_seeds_baseline, n_clips,
    paired (same clips on both sides), df, se and uncertainty (what the interval counts). A row
    whose uncertainty is "none" (one seed a side, no clips) has NaN p and never differs.
    """
    t = _validate(table, baseline, alpha)
    higher = dict(metrics_higher_better or {})
    grids = {key: _grid(part) for key, part in t.groupby(["system", "metric"], sort=False)}
    rows = []
    for (system, metric), (ys, cs, ok_s) in grids.items():
        if system == baseline:
            continue
        yb, cb, ok_b = grids[(baseline, metric)]
        effect, var, df, mode, paired = _row(ys, yb, cs, cb, ok_s and ok_b)
        rows.append(
            dict(
                system=system,
                metric=metric,
                baseline=baseline,
                effect=float(effect),
                se=float(np.sqrt(var)),
                df=float(df),
                mean_system=float(np.nanmean(np.nanmean(ys, 1))),
                mean_baseline=float(np.nanmean(np.nanmean(yb, 1))),
                n_seeds=ys.shape[0],
                n_seeds_baseline=yb.shape[0],
                n_clips=len(cs),
                paired=paired,
                uncertainty=mode,
            )
        )
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    effect, se, df = (out[c].to_numpy(dtype=float) for c in ("effect", "se", "df"))
    out["p_value"] = _p_value(effect, se**2, df)
    out["p_adjusted"] = holm(out["p_value"].to_numpy())
    m = max(int(np.isfinite(out["p_value"]).sum()), 1)
    with np.errstate(invalid="ignore"):
        half = sps.t.ppf(1 - alpha / 2, df) * se
        half_fw = sps.t.ppf(1 - alpha / (2 * m), df) * se
    out["ci_low"], out["ci_high"] = effect - half, effect + half
    out["ci_low_fw"], out["ci_high_fw"] = effect - half_fw, effect + half_fw
    out["ci_level"] = 1 - alpha
    out["differs"] = (out["p_adjusted"] < alpha).fillna(False).astype(bool)
    out["better"] = [_better(r.metric, r.effect, r.differs, higher) for r in out.itertuples()]
    front = ["system", "metric", "baseline", "effect", "ci_low", "ci_high", "p_value"]
    front += ["p_adjusted", "differs", "better"]
    return out[front + [c for c in out.columns if c not in front]]


def _better(metric: str, effect: float, differs: bool, higher: Mapping[str, bool]) -> str:
    """Which side a detected difference favours, given whether higher is better for `metric`."""
    if not differs:
        return "neither"
    if metric not in higher:
        return "unknown"
    return "system" if (effect > 0) == bool(higher[metric]) else "baseline"


def forest_table(result: pd.DataFrame) -> pd.DataFrame:
    """Rows of a compare() result ordered for a forest plot: metric, system, effect and its CI."""
    need = ["system", "metric", "effect", "ci_low", "ci_high", "differs"]
    missing = [c for c in need if c not in result.columns]
    if missing:
        raise MetricError(f"forest_table: result lacks column(s) {', '.join(missing)}")
    cols = need + [c for c in ("p_adjusted", "uncertainty") if c in result.columns]
    order = {m: i for i, m in enumerate(dict.fromkeys(result["metric"]))}
    ranked = result.assign(_o=result["metric"].map(order)).sort_values(["_o", "system"])
    return ranked[cols].reset_index(drop=True)


def _simulate(
    effects: np.ndarray,
    n_seeds: int,
    n_clips: int,
    sds: tuple[float, float, float, float],
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Paired grids (system, baseline) with shape effects.shape + (seeds, clips).

    sds: seed, clip (shared by both systems), clip x system interaction, cell noise.
    """
    seed_sd, clip_sd, inter_sd, noise_sd = sds
    c = max(n_clips, 1)
    shape = effects.shape + (n_seeds, c)
    clip = rng.normal(0, clip_sd, effects.shape + (1, c)) if n_clips else 0.0

    def one() -> np.ndarray:
        seed = rng.normal(0, seed_sd, effects.shape + (n_seeds, 1))
        inter = rng.normal(0, inter_sd, effects.shape + (1, c)) if n_clips else 0.0
        noise = rng.normal(0, noise_sd, shape) if n_clips else 0.0
        return seed + clip + inter + noise

    return one() + effects[..., None, None], one()


def _check_design(n_seeds: int, n_clips: int, n_rows: int, alpha: float, n_sim: int) -> None:
    """One ConfigError line for a design power() cannot simulate."""
    if n_seeds < 1 or n_clips < 0 or n_rows < 1 or n_sim < 10 or not 0 < alpha < 1:
        raise ConfigError(
            f"power: need n_seeds >= 1, n_clips >= 0, n_rows >= 1, n_sim >= 10, 0 < alpha < 1; "
            f"got {n_seeds}, {n_clips}, {n_rows}, {n_sim}, {alpha}"
        )
    if n_seeds == 1 and n_clips == 0:
        raise ConfigError("power: one seed and no clips cannot be tested")


def power(
    effect_size: float,
    n_seeds: int,
    n_clips: int,
    seed_sd: float,
    clip_sd: float = 0.0,
    *,
    noise_sd: float = 0.0,
    interaction_sd: float = 0.0,
    n_rows: int = 1,
    alpha: float = 0.05,
    n_sim: int = 2000,
    seed: int = 0,
) -> float:
    """Chance that compare() flags a true `effect_size`, simulated (n_seeds a side, same clips).

    `n_clips=0` means a per-run metric. The row shares a Holm family of `n_rows` rows; power is
    computed at Holm's first (strictest) step, alpha / n_rows, so it is a lower bound when other
    rows also differ. Values: system = effect + seed + clip + interaction + noise terms, each normal
    with the given sd; clip terms are shared by both systems, as when they score the same clips.
    """
    _check_design(n_seeds, n_clips, n_rows, alpha, n_sim)
    rng = np.random.default_rng(seed)
    ys, yb = _simulate(
        np.full(n_sim, float(effect_size)),
        n_seeds,
        n_clips,
        (seed_sd, clip_sd, interaction_sd, noise_sd),
        rng,
    )
    effect, var, df, _ = _grid_test(ys, yb, paired=n_clips > 0, per_run=n_clips == 0)
    p = _p_value(effect, var, df)
    return float(np.mean(p < alpha / n_rows))


def minimum_detectable_effect(
    n_seeds: int,
    n_clips: int,
    seed_sd: float,
    clip_sd: float = 0.0,
    *,
    target_power: float = 0.8,
    noise_sd: float = 0.0,
    interaction_sd: float = 0.0,
    n_rows: int = 1,
    alpha: float = 0.05,
    n_sim: int = 2000,
    seed: int = 0,
) -> float:
    """Smallest effect that power() finds with at least `target_power` (bisection, same draws)."""
    if not 0 < target_power < 1:
        raise ConfigError(f"minimum_detectable_effect: target_power in (0, 1), got {target_power}")
    _check_design(n_seeds, n_clips, n_rows, alpha, n_sim)
    kw = dict(noise_sd=noise_sd, interaction_sd=interaction_sd, n_rows=n_rows, alpha=alpha)
    scale = max(seed_sd, interaction_sd, noise_sd, 1e-12)
    lo, hi = 0.0, scale
    while power(hi, n_seeds, n_clips, seed_sd, clip_sd, n_sim=n_sim, seed=seed, **kw) < (
        target_power
    ):
        lo, hi = hi, hi * 2
        if hi > 1e6 * scale:
            return float("inf")
    for _ in range(30):
        mid = (lo + hi) / 2
        if power(mid, n_seeds, n_clips, seed_sd, clip_sd, n_sim=n_sim, seed=seed, **kw) >= (
            target_power
        ):
            hi = mid
        else:
            lo = mid
        if hi - lo < 1e-3 * scale:
            break
    return hi
