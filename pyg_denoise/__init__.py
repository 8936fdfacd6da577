r"""pyg_denoise: denoising training for graph recommenders on implicit feedback."""
import pyg_denoise.data  # noqa: F401
import pyg_denoise.datasets  # noqa: F401

__version__ = '0.1.0'
__all__ = ['__version__']
