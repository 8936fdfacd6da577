r"""Full-ranking recommendation metrics and denoising diagnostics."""
from pyg_denoise.metrics.ranking import (COLD_START, GROUPS, METRICS, RankingEvaluator,
                                         cold_start_scorer, evaluate_split, excluded_index,
                                         user_groups)
from pyg_denoise.metrics.diagnostics import (DetectionAccumulator, auc_score,
                                             noise_detection)

from pyg_denoise.metrics.loss_distribution import (fit_gmm_1d, loss_separation,
                                                   minmax_per_user, standardize_per_user)
from pyg_denoise.metrics.reference import (degenerate_flags, random_ranking_metrics,
                                           reference_metrics)

__all__ = ['METRICS', 'GROUPS', 'COLD_START', 'RankingEvaluator', 'evaluate_split',
           'excluded_index', 'cold_start_scorer', 'user_groups', 'auc_score', 'noise_detection',
           'DetectionAccumulator', 'loss_separation', 'standardize_per_user',
           'minmax_per_user', 'fit_gmm_1d', 'random_ranking_metrics', 'reference_metrics',
           'degenerate_flags']
