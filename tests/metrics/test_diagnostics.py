import pytest
import torch

from pyg_denoise.metrics import auc_score, noise_detection


def naive_auc(score, label):
    pos = score[label.bool()].tolist()
    neg = score[~label.bool()].tolist()
    total = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p in pos for n in neg)
    return total / (len(pos) * len(neg))


@pytest.mark.parametrize('seed', range(5))
def test_auc_matches_pairwise_count(seed):
    gen = torch.Generator().manual_seed(seed)
    score = torch.randint(0, 6, (60, ), generator=gen).float()  # many ties
    label = torch.rand(60, generator=gen) < 0.3
    assert auc_score(score, label) == pytest.approx(naive_auc(score, label))


def test_auc_degenerate():
    assert auc_score(torch.tensor([1., 2.]), torch.tensor([True, True])) != \
        auc_score(torch.tensor([1., 2.]), torch.tensor([True, True]))  # nan


def test_noise_detection_keep_mask():
    noisy = torch.tensor([True, True, False, False, False])
    keep = torch.tensor([False, True, False, True, True])
    out = noise_detection(keep, noisy)
    assert out['precision'] == pytest.approx(0.5)
    assert out['recall'] == pytest.approx(0.5)
    assert out['flagged'] == 2


def test_noise_detection_weights_perfect_and_inverted():
    noisy = torch.tensor([True, False, True, False])
    good = noise_detection(torch.tensor([0.1, 0.9, 0.2, 0.8]), noisy)
    assert good['auc'] == pytest.approx(1.0) and good['precision'] == pytest.approx(1.0)
    assert good['mean_weight_noisy'] == pytest.approx(0.15)
    bad = noise_detection(torch.tensor([0.9, 0.1, 0.8, 0.2]), noisy)
    assert bad['auc'] == pytest.approx(0.0) and bad['recall'] == pytest.approx(0.0)


def test_noise_detection_length_mismatch():
    with pytest.raises(ValueError, match='entries'):
        noise_detection(torch.ones(3), torch.zeros(4, dtype=torch.bool))


def test_loss_separation_against_per_user_loop():
    from pyg_denoise.metrics import loss_separation, standardize_per_user
    gen = torch.Generator().manual_seed(0)
    user = torch.randint(0, 12, (300, ), generator=gen)
    noisy = torch.rand(300, generator=gen) < 0.3
    # Users differ in their loss level, noisy positives are higher inside each user.
    loss = user.double() * 2 + torch.rand(300, generator=gen) + noisy.double() * 0.5
    out = loss_separation(loss, noisy, user, 12)
    aucs = []
    for u in range(12):
        m = user == u
        if noisy[m].any() and (~noisy[m]).any():
            aucs.append(naive_auc(loss[m], noisy[m]))
    assert out['per_user_auc'] == pytest.approx(sum(aucs) / len(aucs))
    assert out['users_with_both'] == len(aucs)
    assert out['global_auc'] == pytest.approx(naive_auc(loss, noisy))
    # The premise of PLD on this toy: per-user separation beats the global one.
    assert out['per_user_auc'] > out['global_auc'] + 0.1
    z = standardize_per_user(loss, user, 12)
    for u in range(12):
        m = user == u
        if m.sum() > 1:
            ref = (loss[m] - loss[m].mean()) / loss[m].std(unbiased=False)
            assert torch.allclose(z[m], ref, atol=1e-9)


def test_plot_loss_distributions(tmp_path):
    pytest.importorskip('matplotlib')
    from pyg_denoise.plot import plot_loss_distributions
    gen = torch.Generator().manual_seed(1)
    user = torch.randint(0, 5, (200, ), generator=gen)
    noisy = torch.rand(200, generator=gen) < 0.2
    loss = torch.rand(200, generator=gen) + noisy.float()
    path = plot_loss_distributions(loss, noisy, user, 5, str(tmp_path / 'l.png'))
    with open(path, 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'


def test_plot_lines_and_bars(tmp_path):
    pytest.importorskip('matplotlib')
    from pyg_denoise.plot import plot_bars, plot_lines
    for path in (plot_lines([1, 2, 3], {'a': [0.1, 0.2, 0.3], 'b': [0.3, 0.2, 0.1]},
                            str(tmp_path / 'lines.png')),
                 plot_bars(['1', '2'], {'x': [0.5, 0.7], 'y': [0.6, 0.4]},
                           str(tmp_path / 'bars.png'))):
        with open(path, 'rb') as f:
            assert f.read(8) == b'\x89PNG\r\n\x1a\n'


def test_weight_summary():
    from pyg_denoise.metrics.diagnostics import weight_summary
    w = torch.tensor([0.9, 0.8, 0.1, 0.2])
    noisy = torch.tensor([False, False, True, True])
    out = weight_summary(w, noisy)
    assert out == pytest.approx({'auc': 1.0, 'mean_weight_clean': 0.85,
                                 'mean_weight_noisy': 0.15, 'noisy_share': 0.5})
