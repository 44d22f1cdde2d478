"""The paper's metrics and the later field's, on arrays of poses, features and beat times.

The paper's six (Lee et al. 2019, section 5): FID, Diversity and Multimodality on the
embedding of a dance style classifier (:class:`DanceClassifier`), Style consistency (how
often that classifier gives a generated dance its music's style), Beat coverage and Beat
hit rate. The field's (AIST++/FACT, Bailando, EDGE): the Beat Align Score in both
directions, FID_k and FID_g on hand-made kinetic and geometric features of the 2-D skeleton,
and Diversity on those features.

Conventions. A *dance* is an array (T, 14, 2) of poses in pixels at ``fps`` frames per
second (or (T, 28) pose vectors); a *set* of dances is an array (N, T, 14, 2) or a list of
dances of any lengths. Beat times are in seconds. Every function rejects malformed input
(an empty set, mismatched lengths, NaN values) with :class:`d2mlib.errors.MetricError`
naming the problem.

Names in the evaluation table (`evaluate`; tidy: one row per system, metric, seed and clip,
the clip empty for a set-level metric; also the *_true beat metrics against the world's true
beats and the field's exact variants fid_k_aist, bas_fact, bas_bailando):

=================  ==========================================================================
fid                Frechet distance, classifier embeddings, reference split vs the system
diversity          mean pairwise embedding distance, one dance per piece of music
multimodality      mean pairwise embedding distance, several dances for the same music
style_consistency  fraction of dances the classifier gives their music's style
beat_coverage      kinematic beats / musical beats (totals over the set)
beat_hit_rate      kinematic beats within ``HIT_TOLERANCE`` of a musical beat / kinematic beats
bas_kinematic      Beat Align Score averaged over kinematic beats (AIST++/FACT direction)
bas_music          Beat Align Score averaged over musical beats (Bailando direction)
fid_k, fid_g       Frechet distance of kinetic / geometric features, normalised by the reference
diversity_k, _g    mean pairwise distance of those normalised features
music_dependence   per clip: correlation of the music's energy and the dance's speed over
                   16-frame windows (`metrics.dependence`; the synthetic world links them)
=================  ==========================================================================

Defaults (module constants, all parameters): kinematic beats are minima of the mean joint
speed smoothed over ``KIN_SMOOTHING`` = 3 frames with at least ``KIN_MIN_MOTION`` = 5 px/s
of motion around them; a hit is within ``HIT_TOLERANCE`` = 0.1 s; the Beat Align Score's
sigma is ``BAS_SIGMA`` = 0.1 s. A frozen dance has no kinematic beats: its coverage, hit
rate and Beat Align Scores are 0.0 (not a division by zero); music without beats gives NaN
coverage.

This package re-exports the public names of its modules (and, for convenience, the beat metrics of `d2mlib.beats`); see ARCHITECTURE.md for which module holds what.
"""

from d2mlib.beats import (
    BAS_SIGMA,
    HIT_TOLERANCE,
    KIN_MIN_MOTION,
    KIN_SMOOTHING,
    beat_align_score,
    beat_coverage,
    beat_hit_rate,
    beat_hits,
    beat_metrics,
    kinematic_beat_times,
    music_beat_times,
)
from d2mlib.metrics.baselines import (
    KeyedRetrieval,
    chain_units,
    composer_reconstruction_ceiling,
    random_units_baseline,
    retrieval_baseline,
    unit_reconstruction_ceiling,
)
from d2mlib.metrics.bounds import (
    METRIC_DIRECTIONS,
    evaluate_runs,
    for_compare,
    higher_is_better,
    judge_ceiling,
    judge_floors,
    per_seed_sampler,
    reverse,
    run_systems,
)
from d2mlib.metrics.classifier import (
    DanceClassifier,
    DanceClassifierConfig,
    DanceClassifierStage,
    DanceEmbedding,
    embed_dances,
    load_dance_classifier,
    train_dance_classifier,
)
from d2mlib.metrics.confidence import bootstrap, bootstrap_ci, mean_and_spread
from d2mlib.metrics.dependence import clip_dependence
from d2mlib.metrics.diversity import diversity, multimodality, style_consistency
from d2mlib.metrics.eval_data import EvalConfig, EvalData, balanced_order, load_eval_data
from d2mlib.metrics.evaluation import (
    CORE_METRICS,
    FIELD_METRICS,
    METRIC_NAMES,
    MUSIC_METRICS,
    PER_CLIP_METRICS,
    TABLE_COLUMNS,
    TRUE_BEAT_METRICS,
    DanceSampler,
    cached_sampler,
    clip_beat_scores,
    comp_recon_table,
    dance_classifier_for_data,
    evaluate,
    evaluate_systems,
    floor_samplers,
    generator_sampler,
    keyed_floors,
    main,
    model_systems,
    score_fixed,
    score_system,
    seed_means,
    summarise,
    unit_recon_table,
    warp_dance,
    warped_sampler,
    write_table,
)
from d2mlib.metrics.features import (
    FEATURE_STD_FLOOR,
    feature_diversity,
    feature_matrix,
    fid_g,
    fid_k,
    geometric_features,
    kinetic_features,
    normalise_by_real,
)
from d2mlib.metrics.frechet import FRECHET_EPS, fid_from_features, frechet_distance
from d2mlib.metrics.systems import (
    BANK_FITTED,
    BANK_SYSTEM,
    KEYED_BANK_POOL,
    KEYED_RETRIEVAL,
    ablation_name,
    find_systems,
)
from d2mlib.validate import check_dance, check_dance_set

__all__ = [
    "BAS_SIGMA",
    "CORE_METRICS",
    "DanceClassifier",
    "DanceClassifierConfig",
    "DanceClassifierStage",
    "DanceEmbedding",
    "DanceSampler",
    "EvalConfig",
    "EvalData",
    "FEATURE_STD_FLOOR",
    "FIELD_METRICS",
    "FRECHET_EPS",
    "HIT_TOLERANCE",
    "KIN_MIN_MOTION",
    "KIN_SMOOTHING",
    "METRIC_DIRECTIONS",
    "METRIC_NAMES",
    "MUSIC_METRICS",
    "PER_CLIP_METRICS",
    "TABLE_COLUMNS",
    "TRUE_BEAT_METRICS",
    "BANK_FITTED",
    "BANK_SYSTEM",
    "KEYED_RETRIEVAL",
    "KEYED_BANK_POOL",
    "KeyedRetrieval",
    "ablation_name",
    "balanced_order",
    "beat_align_score",
    "beat_coverage",
    "beat_hit_rate",
    "beat_hits",
    "beat_metrics",
    "bootstrap",
    "bootstrap_ci",
    "cached_sampler",
    "chain_units",
    "clip_dependence",
    "check_dance",
    "check_dance_set",
    "clip_beat_scores",
    "comp_recon_table",
    "composer_reconstruction_ceiling",
    "dance_classifier_for_data",
    "diversity",
    "embed_dances",
    "evaluate",
    "evaluate_runs",
    "evaluate_systems",
    "feature_diversity",
    "feature_matrix",
    "fid_from_features",
    "fid_g",
    "fid_k",
    "find_systems",
    "floor_samplers",
    "for_compare",
    "frechet_distance",
    "generator_sampler",
    "keyed_floors",
    "geometric_features",
    "higher_is_better",
    "judge_ceiling",
    "judge_floors",
    "kinematic_beat_times",
    "kinetic_features",
    "load_dance_classifier",
    "load_eval_data",
    "main",
    "mean_and_spread",
    "model_systems",
    "multimodality",
    "music_beat_times",
    "normalise_by_real",
    "per_seed_sampler",
    "random_units_baseline",
    "retrieval_baseline",
    "reverse",
    "run_systems",
    "score_fixed",
    "score_system",
    "seed_means",
    "style_consistency",
    "summarise",
    "train_dance_classifier",
    "unit_recon_table",
    "unit_reconstruction_ceiling",
    "warp_dance",
    "warped_sampler",
    "write_table",
]
