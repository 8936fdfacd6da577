from pyg_denoise.datasets.lightgcn_benchmark import LightGCNBenchmark


class Gowalla(LightGCNBenchmark):
    r"""The Gowalla check-in benchmark of the `"LightGCN: Simplifying and Powering Graph
    Convolution Network for Recommendation" <https://arxiv.org/abs/2002.02126>`_ paper
    (from SNAP's loc-gowalla; 10-core; official 80/20 train/test split kept as given).

    See :class:`~pyg_denoise.datasets.LightGCNBenchmark` for the format and the split masks.

    **STATS:**

    .. list-table::
        :widths: 30 20
        :header-rows: 1

        * - Type
          - Count
        * - users
          - 29,858
        * - items
          - 40,981
        * - train interactions
          - 810,128
        * - test interactions
          - 217,242
    """
    name = 'gowalla'
    md5 = {
        'train.txt': '5eec1eb2edb8dd648377d348b8e136cf',
        'test.txt': 'c04e2c4bcd2389f53ed8281816166149',
        'user_list.txt': 'f83ec6f2cd974ba6470e8808830cc144',
        'item_list.txt': '13b1c0d75b07b8cea9413f40042f476f',
    }
