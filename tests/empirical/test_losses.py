import pytest
import torch

from eoss.empirical.losses import LOSS_NAMES, Loss, get_loss


def test_scalings_relate_exactly():
    gen = torch.Generator().manual_seed(1)
    f = torch.randn(7, 4, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 4, (7,), generator=gen)
    mse = get_loss("mse").per_sample(f, y)
    expected = ((f - torch.nn.functional.one_hot(y, 4)) ** 2).sum(1)
    torch.testing.assert_close(mse, expected, rtol=1e-15, atol=0)
    torch.testing.assert_close(get_loss("mse_half").per_sample(f, y), mse / 2)
    torch.testing.assert_close(get_loss("mse_mean").per_sample(f, y), mse / 4)
    torch.testing.assert_close(
        get_loss("mse_mean").mean(f, y),
        torch.nn.functional.mse_loss(f, torch.nn.functional.one_hot(y, 4).double()),
    )
    torch.testing.assert_close(
        get_loss("ce").mean(f, y), torch.nn.functional.cross_entropy(f, y)
    )


def test_chunked_mean_weights_by_data_points():
    gen = torch.Generator().manual_seed(2)
    f = torch.randn(10, 3, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 3, (10,), generator=gen)
    loss = get_loss("mse")
    total = sum(loss.mean(f[s], y[s], n_total=10) for s in (slice(0, 7), slice(7, 10)))
    torch.testing.assert_close(total, loss.mean(f, y), rtol=1e-14, atol=0)


def test_float_targets_and_errors():
    f = torch.zeros(3, 1, dtype=torch.float64)
    y = torch.tensor([1.0, -1.0, 2.0], dtype=torch.float64)
    torch.testing.assert_close(
        get_loss("mse").per_sample(f, y),
        torch.tensor([1.0, 1.0, 4.0], dtype=torch.float64),
    )
    with pytest.raises(ValueError, match="unknown loss"):
        get_loss("hinge")
    with pytest.raises(ValueError, match="integer class labels"):
        get_loss("ce").per_sample(f, y)
    assert set(LOSS_NAMES) == {"mse", "mse_half", "mse_mean", "ce"}


def per_token_ce(outputs, targets):
    return torch.nn.functional.cross_entropy(
        outputs.transpose(1, 2), targets, reduction="none"
    )


def test_callable_losses_average_trailing_dimensions():
    gen = torch.Generator().manual_seed(3)
    f = torch.randn(4, 5, 6, generator=gen, dtype=torch.float64)  # (N, T, V)
    y = torch.randint(0, 6, (4, 5), generator=gen)
    loss = get_loss(per_token_ce)
    assert loss.name == "callable:per_token_ce" and not loss.is_mse
    assert not loss.is_builtin and "per_token_ce" in loss.formula
    per = loss.per_sample(f, y)
    manual = torch.stack(
        [
            torch.stack(
                [-torch.log_softmax(f[n, t], 0)[y[n, t]] for t in range(5)]
            ).mean()
            for n in range(4)
        ]
    )
    torch.testing.assert_close(per, manual, rtol=1e-14, atol=0)
    # the built-in ce on (N, T, V) outputs is the same convention
    torch.testing.assert_close(get_loss("ce").per_sample(f, y), manual)
    # a torch loss object with reduction="none" works; names record the class
    obj = get_loss(torch.nn.MSELoss(reduction="none"))
    assert obj.name == "callable:MSELoss"
    g = torch.randn(4, 3, generator=gen, dtype=torch.float64)
    t = torch.randn(4, 3, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(obj.per_sample(g, t), ((g - t) ** 2).mean(1))
    assert get_loss(loss) is loss


def test_callable_loss_errors():
    f = torch.zeros(3, 2)
    with pytest.raises(ValueError, match="reduction='none'"):
        get_loss(torch.nn.MSELoss()).per_sample(f, f)
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        get_loss(lambda o, t: o[:2, 0]).per_sample(f, f)
    with pytest.raises(ValueError, match="callable"):
        Loss("mine", fn=per_token_ce)
    with pytest.raises(TypeError, match="callable"):
        Loss("callable:x", fn=3)
