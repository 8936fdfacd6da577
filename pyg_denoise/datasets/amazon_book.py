from pyg_denoise.datasets.lightgcn_benchmark import LightGCNBenchmark


class AmazonBook(LightGCNBenchmark):
    r"""The Amazon-book benchmark of the `"LightGCN: Simplifying and Powering Graph
    Convolution Network for Recommendation" <https://arxiv.org/abs/2002.02126>`_ paper
    (10-core; official train/test split kept as given: 52,643 users, 91,599 items,
    2,984,108 interactions in the paper).

    See :class:`~pyg_denoise.datasets.LightGCNBenchmark` for the format and the split masks.

    .. note::
        No copy of this dataset is available offline here, so its files carry no checksum
        and its counts are not checked by the test-suite.
    """
    name = 'amazon-book'
