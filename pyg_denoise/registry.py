r"""The registry of backbones and denoising methods: one line per method.

Each class declares its own hyper-parameters (:class:`~pyg_denoise.options.Option`, in its
file); the command line and the recipes are derived from this registry and those
declarations. Adding a method: its file (with :obj:`options`), its test and one line here.
"""
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Type

from pyg_denoise.data.negative_sampling import NegativeSampler
from pyg_denoise.nn import (CDAE, GMF, MF, NGCF, ItemKNN, LightGCN, NeuMF, Popularity,
                            PyGRecommender, Recommender, pyg_backbone)
from pyg_denoise.options import Option
from pyg_denoise.transforms import (BOD, DCF, DPI, DVAE, PLD, SGDL, UDT, Denoiser,
                                    ExtraFeedback, GraphDenoising, ReweightedLoss,
                                    TruncatedLoss)

#: name -> the Denoiser class (None: normal training; 'wbpr' is a negative sampler).
DENOISERS: Dict[str, Optional[Type[Denoiser]]] = {
    'none': None,
    'tce': TruncatedLoss,
    'rce': ReweightedLoss,
    'pld': PLD,
    'dcf': DCF,
    'udt': UDT,
    'dpi': DPI,
    'dvae': DVAE,
    'deca': DPI,  # the official code's name of DPI
    'deca_p': DVAE,  # ... and of DVAE
    'bod': BOD,
    'sgdl': SGDL,
    'wbpr': None,  # popularity-weighted negatives (NegativeSampler's option)
}

ModelBuilder = Callable[[int, int, Mapping[str, Any]], Recommender]

#: name -> builder(num_users, num_items, option values). 'dim' and 'layers' are the generic
#: size options of the command line; a class's own options come from its declaration.
MODELS: Dict[str, ModelBuilder] = {
    'lightgcn': lambda u, i, v: LightGCN(u, i, embedding_dim=v['dim'], num_layers=v['layers'],
                                         **LightGCN.option_values(v)),
    'ngcf': lambda u, i, v: NGCF(u, i, embedding_dim=v['dim'],
                                 layer_sizes=[v['dim']] * v['layers']),
    'mf': lambda u, i, v: MF(u, i, embedding_dim=v['dim']),
    'gmf': lambda u, i, v: GMF(u, i, factor_num=v['dim']),
    'neumf': lambda u, i, v: NeuMF(u, i, factor_num=v['dim']),
    'cdae': lambda u, i, v: CDAE(u, i, hidden_dim=v['dim'], **CDAE.option_values(v)),
    'pop': lambda u, i, v: Popularity(u, i),
    'itemknn': lambda u, i, v: ItemKNN(u, i, **ItemKNN.option_values(v)),
    # PyG's own models through the adapter (pyg_denoise.nn.PyGRecommender)
    # (the graph as one CSR adj_t built once: PyG's sparse path, same results as edge_index)
    'pyg:lightgcn': lambda u, i, v: pyg_backbone('lightgcn', u, i, v['dim'], v['layers'],
                                                 'csr'),
    'pyg:sage': lambda u, i, v: pyg_backbone('sage', u, i, v['dim'], v['layers']),
    'pyg:gcn': lambda u, i, v: pyg_backbone('gcn', u, i, v['dim'], v['layers'], 'csr'),
}
#: name -> the class each builder of :data:`MODELS` makes (for its :attr:`revision`).
MODEL_TYPES: Dict[str, Type[Recommender]] = {
    'lightgcn': LightGCN, 'ngcf': NGCF, 'mf': MF, 'gmf': GMF, 'neumf': NeuMF, 'cdae': CDAE,
    'pop': Popularity, 'itemknn': ItemKNN,
    'pyg:lightgcn': PyGRecommender, 'pyg:sage': PyGRecommender, 'pyg:gcn': PyGRecommender,
}
#: The models whose class declares options (for the command line's groups).
MODEL_CLASSES: Dict[str, type] = {'lightgcn': LightGCN, 'cdae': CDAE, 'itemknn': ItemKNN}
#: Baselines without parameters: evaluated once, never with a denoiser.
BASELINES = ('pop', 'itemknn')
#: Models trained with pointwise BCE by default (the DenoisingRec code), others with BPR.
BCE_MODELS = ('gmf', 'neumf', 'cdae')
#: Default embedding size per model (64 otherwise).
DEFAULT_DIM = {'gmf': 32, 'neumf': 32, 'cdae': 200}


#: The code revisions of a run stored before runs recorded them (or before they recorded
#: one of these parts: a part missing from a stored revision is its revision 1).
FIRST_REVISION: Dict[str, int] = {'trainer': 1, 'denoiser': 1, 'model': 1}


def code_revision(denoiser: Optional[str], model: Optional[str] = None) -> Dict[str, int]:
    r"""The revisions of the code a run of :obj:`denoiser` on :obj:`model` executes: the
    training loop's (:data:`~pyg_denoise.trainer.REVISION`), the method's
    (:attr:`~pyg_denoise.transforms.Denoiser.revision`) and the backbone's
    (:attr:`~pyg_denoise.nn.Recommender.revision`); part of a run's fingerprint."""
    from pyg_denoise.trainer import REVISION
    cls = DENOISERS.get(denoiser) if denoiser is not None else None
    return {'trainer': REVISION, 'denoiser': getattr(cls, 'revision', 1),
            'model': getattr(MODEL_TYPES.get(model), 'revision', 1)}


def stored_revision(revision: Optional[Dict[str, int]]) -> Dict[str, int]:
    r"""A revision as stored in a run's fingerprint, its missing parts filled with
    :data:`FIRST_REVISION` (none stored: the run predates revisions)."""
    return {**FIRST_REVISION, **(revision or {})}


def entry_options(model: Optional[str], denoiser: Optional[str]) -> set:
    r"""The declared options a run of :obj:`(model, denoiser)` reads: its method's (WBPR's
    for :obj:`'wbpr'`), those of structure denoising and extra feedback (any method), and
    its backbone class's. The other declared options are ignored by that run."""
    owned = {o.name for o in GraphDenoising.options + ExtraFeedback.options}
    cls = DENOISERS.get(denoiser)
    if cls is not None:
        owned |= {o.name for o in cls.options}
    if denoiser == 'wbpr':
        owned |= {o.name for o in NegativeSampler.options}
    if model in MODEL_CLASSES:
        owned |= {o.name for o in MODEL_CLASSES[model].options}
    return owned


def build_denoiser(name: str, values: Mapping[str, Any]) -> Optional[Denoiser]:
    r"""The denoiser :obj:`name` with the options of :obj:`values` (its declared defaults
    where a value is missing); :obj:`None` for normal training and :obj:`'wbpr'`."""
    if name not in DENOISERS:
        raise ValueError(f"unknown denoiser {name!r}; choose from {sorted(DENOISERS)}")
    cls = DENOISERS[name]
    return None if cls is None else cls.from_options(values)


def option_owners() -> List[Tuple[str, Sequence[Option]]]:
    r"""Every declared option with its owner (a registry name), in registry order: the
    command line makes one group of each."""
    out: List[Tuple[str, Sequence[Option]]] = []
    seen = set()
    for name, cls in DENOISERS.items():
        if cls is not None and cls not in seen and cls.options:
            seen.add(cls)
            aliases = [n for n, c in DENOISERS.items() if c is cls and n != name]
            out.append((name + (f' (= {", ".join(aliases)})' if aliases else ''), cls.options))
    out.append(('wbpr', NegativeSampler.options))
    out.append(('structure denoising, any method', GraphDenoising.options))
    out.append(('extra feedback (ADT, TKDE), any method', ExtraFeedback.options))
    out += [(name, cls.options) for name, cls in MODEL_CLASSES.items()]
    return out


def all_options() -> Dict[str, Option]:
    r"""Every declared option by name."""
    return {o.name: o for _, opts in option_owners() for o in opts}


__all__ = ['DENOISERS', 'MODELS', 'BASELINES', 'BCE_MODELS', 'DEFAULT_DIM', 'build_denoiser',
           'option_owners', 'all_options', 'entry_options']
