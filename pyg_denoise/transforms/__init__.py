r"""Data transforms (splits, filters, noise labelling and injection) and the denoisers,
one file each."""
from pyg_denoise.transforms.per_user_split import PerUserSplit
from pyg_denoise.transforms.random_split import RandomSplit
from pyg_denoise.transforms.temporal_split import TemporalSplit
from pyg_denoise.transforms.leave_one_out import LeaveOneOut
from pyg_denoise.transforms.k_core import KCore
from pyg_denoise.transforms.sample_users import SampleUsers
from pyg_denoise.transforms.label_noise import LabelNoise, parse_rule
from pyg_denoise.transforms.inject_noise import InjectNoise
from pyg_denoise.transforms.denoiser import Denoiser, EpochContext, LossBatch
from pyg_denoise.transforms.truncated_loss import TruncatedLoss
from pyg_denoise.transforms.reweighted_loss import ReweightedLoss
from pyg_denoise.transforms.pld import PLD
from pyg_denoise.transforms.dcf import DCF
from pyg_denoise.transforms.udt import UDT
from pyg_denoise.transforms.deca import DPI, DVAE
from pyg_denoise.transforms.bod import BOD
from pyg_denoise.transforms.sgdl import SGDL
from pyg_denoise.transforms.graph_denoising import DropByScore, GraphDenoising
from pyg_denoise.transforms.extra_feedback import (CollidingInference, ExtraFeedback,
                                                  PositiveSubset, nearest_users,
                                                  sparse_users)

__all__ = [
    'PerUserSplit',
    'RandomSplit',
    'TemporalSplit',
    'LeaveOneOut',
    'KCore',
    'SampleUsers',
    'LabelNoise',
    'parse_rule',
    'InjectNoise',
    'Denoiser',
    'EpochContext',
    'LossBatch',
    'TruncatedLoss',
    'ReweightedLoss',
    'PLD',
    'DCF',
    'UDT',
    'DPI',
    'DVAE',
    'BOD',
    'SGDL',
    'GraphDenoising',
    'DropByScore',
    'ExtraFeedback',
    'PositiveSubset',
    'CollidingInference',
    'nearest_users',
    'sparse_users',
]
