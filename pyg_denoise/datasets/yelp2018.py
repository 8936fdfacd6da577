from pyg_denoise.datasets.lightgcn_benchmark import LightGCNBenchmark


class Yelp2018(LightGCNBenchmark):
    r"""The Yelp2018 benchmark of the `"LightGCN: Simplifying and Powering Graph Convolution
    Network for Recommendation" <https://arxiv.org/abs/2002.02126>`_ paper (Yelp 2018
    challenge, 10-core; official train/test split kept as given).

    See :class:`~pyg_denoise.datasets.LightGCNBenchmark` for the format and the split masks.

    **STATS:**

    .. list-table::
        :widths: 30 20
        :header-rows: 1

        * - Type
          - Count
        * - users
          - 31,668
        * - items
          - 38,048
        * - train interactions
          - 1,237,259
        * - test interactions
          - 324,147
    """
    name = 'yelp2018'
    md5 = {
        'train.txt': '1b8b5d22a227e01d6de002c53d32b4c4',
        'test.txt': '0d57d7399862c32152b045ec5d2698e7',
        'user_list.txt': 'ae4f810cd6e827f10fc418753c7d92f9',
        'item_list.txt': '520fe559761ff2c654629201c807f353',
    }
