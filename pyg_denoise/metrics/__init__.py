r"""Full-ranking recommendation metrics and denoising diagnostics."""
from pyg_denoise.metrics.ranking import METRICS, RankingEvaluator, evaluate_split
from pyg_denoise.metrics.diagnostics import (DetectionAccumulator, auc_score,
                                             noise_detection)

from pyg_denoise.metrics.loss_distribution import (fit_gmm_1d, loss_separation,
                                                   minmax_per_user, standardize_per_user)

__all__ = ['METRICS', 'RankingEvaluator', 'evaluate_split', 'auc_score', 'noise_detection',
           'DetectionAccumulator', 'loss_separation', 'standardize_per_user',
           'minmax_per_user', 'fit_gmm_1d']
