from typing import TYPE_CHECKING, Any, Dict, List, Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from pyg_denoise.metrics.diagnostics import weight_summary
from pyg_denoise.transforms.denoiser import Denoiser, EpochContext
from pyg_denoise.typing import EDGE_TYPE
from pyg_denoise.options import Option, Space

if TYPE_CHECKING:  # pragma: no cover
    from pyg_denoise.data.negative_sampling import Triples
    from pyg_denoise.trainer import Trainer


class WeightGenerator(torch.nn.Module):
    r"""BOD's generator: :math:`w_{ui} = \sigma(W_3 (W_2\,\mathrm{ReLU}(W_1 [e_u \Vert e_i])))`
    (the code's ``GraphGenerator_VAE``, which has no reparameterisation)."""
    def __init__(self, dim: int, hidden: int = 64) -> None:
        super().__init__()
        self.lin1 = torch.nn.Linear(2 * dim, hidden)
        self.lin2 = torch.nn.Linear(hidden, hidden)
        self.out = torch.nn.Linear(hidden, 1)

    def forward(self, user: Tensor, item: Tensor) -> Tensor:
        h = self.lin2(torch.relu(self.lin1(torch.cat([user, item], dim=-1))))
        return torch.sigmoid(self.out(h)).view(-1)


def weighted_bpr(s_pos: Tensor, s_neg: Tensor, w_pos: Tensor, w_neg: Tensor) -> Tensor:
    r"""BOD's weighted BPR, which weights the **scores**:
    :math:`-\log(10^{-7} + \sigma(w_{ui}s_{ui} - w_{uj}s_{uj}))`, averaged."""
    return -torch.log(1e-7 + torch.sigmoid(w_pos * s_pos - w_neg * s_neg)).mean()


def weighted_alignment(u: Tensor, i: Tensor, w: Tensor) -> Tensor:
    r""":math:`\frac1B\sum w_{ui}\,\lVert \bar e_u - \bar e_i\rVert^2` on L2-normalised
    embeddings (DirectAU's alignment, weighted)."""
    return (w * (F.normalize(u, dim=-1) - F.normalize(i, dim=-1)).pow(2).sum(-1)).mean()


def uniformity(x: Tensor, t: float = 2.0) -> Tensor:
    r"""DirectAU's uniformity :math:`\log \frac{1}{|P|}\sum_{(a,b)} e^{-t\lVert \bar x_a -
    \bar x_b\rVert^2}` over the pairs of rows. Computed from the Gram matrix of the
    normalised rows (:math:`\lVert \bar x_a - \bar x_b\rVert^2 = 2 - 2\bar x_a^\top
    \bar x_b`): the same value as ``torch.pdist``, several times faster with its backward."""
    n = x.size(0)
    xn = F.normalize(x, dim=-1)
    kernel = torch.exp(-t * (2 - 2 * xn @ xn.t()).clamp_min(0))
    return ((kernel.sum() - kernel.diagonal().sum()) / (n * (n - 1))).log()


def gradient_match(g_real: List[Tensor], g_syn: List[Tensor]) -> Tensor:
    r"""BOD's matching distance: for every 2-D parameter gradient, the sum over its columns
    of :math:`1 - \cos` between the two gradients' columns (1-D tensors count 0, as in the
    code)."""
    dist = g_real[0].new_zeros(())
    for gr, gs in zip(g_real, g_syn):
        if gr is None or gs is None or gr.dim() != 2:
            continue
        gr, gs = gr.t(), gs.t()
        cos = (gr * gs).sum(-1) / (gr.norm(dim=-1) * gs.norm(dim=-1) + 1e-6)
        dist = dist + (1 - cos).sum()
    return dist


class BOD(Denoiser):
    r"""Bi-level optimisation denoising from the `"Efficient Bi-Level Optimization for
    Recommendation Denoising" <https://arxiv.org/abs/2210.10321>`_ paper (Wang et al., KDD
    2023): a generator network maps each (user, item) pair of final embeddings to a weight;
    the recommender trains on the weighted objective, and once per epoch the generator is
    updated so that the gradient of the weighted BPR matches the gradient of the weighted
    alignment loss (gradient matching instead of unrolled hyper-gradients).

    Inner step (every batch, weights detached):
    :math:`-\log\sigma(w_{ui}s_{ui} - w_{uj}s_{uj}) + \lambda_a\, w_{ui}\lVert\bar e_u -
    \bar e_i\rVert^2 + \lambda_u\,\mathrm{uniformity}`. Outer step (one random batch per
    epoch): :math:`g_{real} = \nabla_\theta` weighted BPR, :math:`g_{syn} = \nabla_\theta`
    weighted alignment (both differentiable in the generator), generator loss
    :math:`\sum (1 - \cos(g_{real}, g_{syn}))` over the columns of each parameter.

    .. note::
        This follows the official code (``CoderWZW/BOD``): the weights multiply the scores
        inside BPR; no L2 term in the inner step (the trainer's regulariser is not used);
        the uniformity term averages the batch's users (counted twice, as the code's positive
        and negative user views), positive items and negative items; the outer step runs
        after each epoch on one batch of :obj:`batch_size` random training edges (here at
        the start of the next epoch, which is the same order); its L2 term on the batch
        embeddings does not depend on the generator and is left out. **Code quirk, kept by
        default**: in the outer step the positive weight is ``Gen(user, user)``;
        :obj:`outer_positive='item'` uses ``Gen(user, item)``. The code fixes LightGCN at 2
        layers and selects the epoch on the test set; neither is imposed here.

        BOD needs a dot-product backbone (LightGCN, NGCF, MF, CDAE): its losses act on the final
        user and item embeddings.

    Args:
        weight_bpr (float, optional): :obj:`1.`; weight_alignment (float, optional):
            :obj:`1.`; weight_uniformity (float, optional): :obj:`0.5`.
        lr (float, optional): The generator's Adam learning rate. (default: :obj:`1e-3`)
        hidden (int, optional): Generator width. (default: :obj:`64`)
        outer_batch_size (int, optional): Edges in the outer batch (default: the trainer's
            batch size).
        outer_positive (str, optional): :obj:`'user'` (the code) or :obj:`'item'`.
        outer_loop (int, optional): Generator updates per epoch (the code's
            ``outer_loop``). (default: :obj:`1`)
    """
    supports_distributed = False  # its own meta / multi-model steps
    options = (
        Option('weight_alignment', float, 1.0, 'alignment weight', low=0,
               search=Space(0.1, 10.0, log=True)),
        Option('weight_uniformity', float, 0.5, 'uniformity weight', low=0,
               search=Space(0.05, 5.0, log=True)),
        Option('generator_lr', float, 1e-3, 'generator lr', arg='lr', low=0, low_open=True,
               search=Space(1e-4, 1e-2, log=True)),
        Option('outer_loop', int, 1, 'generator updates per epoch', low=1),
        Option('bod_outer_positive', str, 'user', "the outer step's positive weight Gen(u, u) "
               "(code) or Gen(u, i)", arg='outer_positive', choices=('user', 'item')),
    )
    def __init__(self, weight_bpr: float = 1.0, weight_alignment: float = 1.0,
                 weight_uniformity: float = 0.5, lr: float = 1e-3, hidden: int = 64,
                 outer_batch_size: Optional[int] = None, outer_positive: str = 'user',
                 outer_loop: int = 1) -> None:
        for name, v in (('weight_bpr', weight_bpr), ('weight_alignment', weight_alignment),
                        ('weight_uniformity', weight_uniformity)):
            if not v >= 0:
                raise ValueError(f"'{name}' must be non-negative (got {v})")
        if not lr > 0 or int(hidden) != hidden or hidden < 1:
            raise ValueError(f"'lr' must be positive and 'hidden' a positive integer "
                             f"(got {lr}, {hidden})")
        if outer_batch_size is not None and outer_batch_size < 2:
            raise ValueError(f"'outer_batch_size' must be >= 2 (got {outer_batch_size})")
        if int(outer_loop) != outer_loop or outer_loop < 1:
            raise ValueError(f"'outer_loop' must be a positive integer (got {outer_loop})")
        if outer_positive not in ('user', 'item'):
            raise ValueError(f"'outer_positive' must be 'user' or 'item' "
                             f"(got {outer_positive!r})")
        self.weight_bpr, self.weight_alignment = float(weight_bpr), float(weight_alignment)
        self.weight_uniformity, self.lr, self.hidden = float(weight_uniformity), float(lr), \
            int(hidden)
        self.outer_batch_size, self.outer_positive = outer_batch_size, outer_positive
        self.outer_loop = int(outer_loop)
        self.generator: Optional[WeightGenerator] = None
        self.optimizer: Optional[torch.optim.Optimizer] = None
        self.noisy: Optional[Tensor] = None
        self._trainer: Optional['Trainer'] = None
        self._epoch = 0
        self._outer: Dict[str, float] = {}

    def _build(self, dim: int, device) -> None:
        self.generator = WeightGenerator(dim, self.hidden).to(device)
        self.optimizer = torch.optim.Adam(self.generator.parameters(), lr=self.lr)
        self._dim = dim

    def update(self, ctx: EpochContext) -> None:
        trainer = ctx.trainer
        model = trainer.model
        if not model.dot_product:
            raise ValueError(f"BOD needs a dot-product backbone (LightGCN, NGCF, MF, CDAE); "
                             f"{type(model).__name__} scores pairs with its own network")
        self._trainer = trainer
        store = ctx.data[EDGE_TYPE]
        self.noisy = store.noisy if 'noisy' in store else None
        if self.generator is None:
            with torch.no_grad():
                dim = model.get_embedding(trainer.current_adjacency())[0].size(-1)
            self._build(dim, trainer.device)
        if ctx.epoch > 1 and ctx.epoch > self._epoch:  # after each finished epoch
            for k in range(self.outer_loop):
                self._outer = self.outer_step(trainer, ctx.epoch, k)
        self._epoch = ctx.epoch

    def training_step(self, trainer: 'Trainer', batch: 'Triples') -> Optional[Dict[str, float]]:
        model = trainer.model
        user_rep, item_rep = model.get_embedding(trainer.current_adjacency())
        u, i, j = user_rep[batch.user], item_rep[batch.pos], item_rep[batch.neg]
        with torch.no_grad():
            w_pos, w_neg = self.generator(u, i), self.generator(u, j)
        s_pos, s_neg = (u * i).sum(-1), (u * j).sum(-1)
        loss = self.weight_bpr * weighted_bpr(s_pos, s_neg, w_pos, w_neg)
        if self.weight_alignment:
            loss = loss + self.weight_alignment * weighted_alignment(u, i, w_pos)
        if self.weight_uniformity:
            loss = loss + self.weight_uniformity * (2 * uniformity(u) + uniformity(i) +
                                                    uniformity(j)) / 4
        return {'loss': trainer.step(loss)}

    def outer_step(self, trainer: 'Trainer', epoch: int, k: int = 0) -> Dict[str, float]:
        r"""One generator update by gradient matching on a random batch of training edges."""
        model = trainer.model
        gen = trainer.generator(epoch, salt=4 + 100 * k)
        edge_index = trainer.train_edge_index
        size = min(self.outer_batch_size or trainer.config.batch_size, edge_index.size(1))
        pick = torch.randint(edge_index.size(1), (size, ), generator=gen,
                             device=edge_index.device)
        user, pos = edge_index[0, pick], edge_index[1, pick]
        neg = trainer.negatives.sample(user, gen)
        match, real, syn = self.matching_loss(model, trainer.current_adjacency(), user, pos,
                                              neg)
        grads = torch.autograd.grad(match, list(self.generator.parameters()),
                                    allow_unused=True)
        self.optimizer.zero_grad()
        for p, g in zip(self.generator.parameters(), grads):
            p.grad = None if g is None else g.detach()
        self.optimizer.step()
        return {'outer_match': float(match.detach()), 'outer_bpr': float(real.detach()),
                'outer_alignment': float(syn.detach())}

    def matching_loss(self, model: torch.nn.Module, adj, user: Tensor, pos: Tensor,
                      neg: Tensor):
        r"""The outer objective on the triples (user, pos, neg): the gradient-matching
        distance between :math:`\nabla_\theta` of the weighted BPR and of the weighted
        alignment (both kept differentiable in the generator). Returns
        :obj:`(match, bpr, alignment)`."""
        params = [p for p in model.parameters() if p.requires_grad]
        user_rep, item_rep = model.get_embedding(adj)
        u, i, j = user_rep[user], item_rep[pos], item_rep[neg]
        w_pos = self.generator(u, u if self.outer_positive == 'user' else i)
        w_neg = self.generator(u, j)
        real = weighted_bpr((u * i).sum(-1), (u * j).sum(-1), w_pos, w_neg)
        g_real = torch.autograd.grad(real, params, create_graph=True, allow_unused=True)
        syn = weighted_alignment(u, i, self.generator(u, i))
        g_syn = torch.autograd.grad(syn, params, create_graph=True, allow_unused=True)
        return gradient_match(list(g_real), list(g_syn)), real, syn

    @torch.no_grad()
    def edge_weights(self, model: torch.nn.Module, adj, edge_index: Tensor) -> Tensor:
        r"""The generator's weight of every edge of :obj:`edge_index`."""
        user_rep, item_rep = model.get_embedding(adj)
        return self.generator(user_rep[edge_index[0]], item_rep[edge_index[1]])

    @torch.no_grad()
    def edge_scores(self, trainer) -> Tensor:
        r"""The generator's weight of every training positive."""
        was = trainer.model.training
        trainer.model.eval()
        out = self.edge_weights(trainer.model, trainer.current_adjacency(),
                                trainer.train_edge_index)
        trainer.model.train(was)
        return out

    def epoch_diagnostics(self) -> Dict[str, float]:
        tr = self._trainer
        out = dict(self._outer)
        if tr is None or self.generator is None:
            return out
        was = tr.model.training
        tr.model.eval()
        w = self.edge_weights(tr.model, tr.current_adjacency(), tr.train_edge_index)
        tr.model.train(was)
        out['mean_weight'] = float(w.mean())
        if self.noisy is not None:
            out.update(weight_summary(w, self.noisy))
        return out

    def state_dict(self) -> Dict[str, Any]:
        if self.generator is None:
            return {}
        return {'dim': self._dim, 'epoch': self._epoch,
                'generator': self.generator.state_dict(),
                'optimizer': self.optimizer.state_dict()}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        if not state:
            return
        device = next(iter(state['generator'].values())).device
        self._build(state['dim'], device)
        self.generator.load_state_dict(state['generator'])
        self.optimizer.load_state_dict(state['optimizer'])
        self._epoch = state['epoch']

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(weight_bpr={self.weight_bpr}, '
                f'weight_alignment={self.weight_alignment}, '
                f'weight_uniformity={self.weight_uniformity}, lr={self.lr}, '
                f'outer_loop={self.outer_loop}, outer_positive={self.outer_positive!r})')
