r"""pyg_denoise: denoising training for graph recommenders on implicit feedback, as a
PyTorch Geometric extension."""
import pyg_denoise.data  # noqa: F401
import pyg_denoise.datasets  # noqa: F401
import pyg_denoise.metrics  # noqa: F401
import pyg_denoise.nn  # noqa: F401
import pyg_denoise.transforms  # noqa: F401

__version__ = '0.1.0'
__all__ = ['__version__', 'Experiment']


def __getattr__(name: str):
    if name == 'Experiment':  # imported on first use: it brings the command line's code
        from pyg_denoise.experiment import Experiment
        return Experiment
    raise AttributeError(f"module 'pyg_denoise' has no attribute {name!r}")
