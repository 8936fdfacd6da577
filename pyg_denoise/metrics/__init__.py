r"""Full-ranking recommendation metrics and denoising diagnostics."""
from pyg_denoise.metrics.ranking import METRICS, RankingEvaluator, evaluate_split
from pyg_denoise.metrics.diagnostics import (DetectionAccumulator, auc_score,
                                             noise_detection)

__all__ = ['METRICS', 'RankingEvaluator', 'evaluate_split', 'auc_score', 'noise_detection',
           'DetectionAccumulator']
