"""AM-Softmax (CosFace) against its definition, written independently here."""

import math

import pytest
import torch
import torch.nn.functional as F

from custom_modules.models.am_softmax import AMSoftmax, MarginSchedule, minimum_scale


def reference_loss(x, weight, y, m, s):
    cos = F.normalize(x, dim=1) @ F.normalize(weight, dim=1).t()
    return F.cross_entropy(s * (cos - m * F.one_hot(y, weight.shape[0])), y)


@pytest.fixture
def batch():
    torch.manual_seed(0)
    return torch.randn(12, 16), torch.randint(0, 7, (12,))


@pytest.mark.parametrize("m,s", [(0.2, 30.0), (0.2, 10.0), (0.35, 64.0), (0.0, 1.0)])
def test_loss_equals_cosface_definition(batch, m, s):
    x, y = batch
    head = AMSoftmax(16, 7, margin=m, scale=s)
    out = head(x, y)
    ref = reference_loss(x, head.weight.detach(), y, m, s)
    assert abs(out.loss.item() - ref.item()) < 1e-6


def test_gradients_reach_weight_and_input(batch):
    x, y = batch
    x = x.clone().requires_grad_(True)
    head = AMSoftmax(16, 7)
    head(x, y).loss.backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert head.weight.grad is not None and head.weight.grad.abs().sum() > 0


def test_weight_is_a_registered_parameter_that_follows_to():
    head = AMSoftmax(4, 3)
    assert any(p is head.weight for p in head.parameters())
    assert "weight" in head.state_dict()
    head = head.to(torch.float64)
    assert head.weight.dtype == torch.float64


def test_accuracy_is_margin_free_and_independent_of_margin(batch):
    x, y = batch
    torch.manual_seed(1)
    heads = [AMSoftmax(16, 7, margin=m) for m in (0.0, 0.2, 0.5)]
    for h in heads[1:]:
        h.weight.data.copy_(heads[0].weight.data)
    counts = [(int(h(x, y).correct), int(h(x, y).total)) for h in heads]
    expected = int((heads[0].cosine(x).argmax(1) == y).sum())
    assert counts == [(expected, 12)] * 3


def test_accuracy_counts_cosine_argmax_when_margin_would_flip_it():
    head = AMSoftmax(8, 4, margin=0.2)
    w = F.normalize(head.weight.detach(), dim=1)
    y = torch.tensor([0, 1, 2, 3])
    x = w[y] + 0.97 * w[(y + 1) % 4]  # true class wins, but by less than the margin
    cos = head.cosine(x)
    assert bool((cos.argmax(1) == y).all())
    assert not bool(((cos - 0.2 * F.one_hot(y, 4)).argmax(1) == y).any())
    out = head(x, y)
    assert (int(out.correct), int(out.total)) == (4, 4)


def test_three_dim_input_and_column_labels_give_identical_results(batch):
    x, y = batch
    head = AMSoftmax(16, 7)
    flat, nested = head(x, y), head(x.unsqueeze(1), y.unsqueeze(1))
    assert torch.equal(flat.loss, nested.loss)
    assert (int(flat.correct), int(flat.total)) == (int(nested.correct), int(nested.total))


def test_batch_of_one_contributes_one_sample_to_epoch_accuracy(batch):
    x, y = batch
    head = AMSoftmax(16, 7)
    correct = total = 0
    for i in range(x.shape[0]):
        out = head(x[i : i + 1], y[i : i + 1])
        assert int(out.total) == 1
        correct += int(out.correct)
        total += int(out.total)
    whole = head(x, y)
    assert (correct, total) == (int(whole.correct), 12)


@pytest.mark.parametrize("label", [7, -1, 100])
def test_label_out_of_range_names_label_and_class_count(label):
    head = AMSoftmax(16, 7)
    with pytest.raises(ValueError, match=rf"label {label} is outside \[0, 7\).*num_classes=7"):
        head(torch.randn(3, 16), torch.tensor([0, label, 1]))


@pytest.mark.parametrize(
    "shape,labels,message",
    [
        ((3, 15), (3,), r"\(batch, 16\).*got \(3, 15\)"),
        ((3, 2, 16), (3,), r"got \(3, 2, 16\)"),
        ((3, 16), (3, 2), r"labels shaped \(3,\) or \(3, 1\).*got \(3, 2\)"),
        ((3, 16), (4,), r"got \(4,\)"),
    ],
)
def test_bad_shapes_raise_value_error_naming_them(shape, labels, message):
    head = AMSoftmax(16, 7)
    with pytest.raises(ValueError, match=message):
        head(torch.randn(*shape), torch.zeros(labels, dtype=torch.long))


def test_float_labels_rejected():
    with pytest.raises(ValueError, match="integer class indices"):
        AMSoftmax(4, 3)(torch.randn(2, 4), torch.tensor([0.0, 1.0]))


def test_logits_float32_under_bf16_autocast(batch):
    x, y = batch
    head = AMSoftmax(16, 7)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        cos = head.cosine(x.bfloat16())
        out = head(x.bfloat16(), y)
    assert cos.dtype == torch.float32 and out.loss.dtype == torch.float32
    assert abs(out.loss.item() - head(x, y).loss.item()) < 1e-2


def test_margin_schedule_linear_and_exp_and_set_epoch():
    linear = MarginSchedule(0.2, start_epoch=2, end_epoch=6)
    assert [linear(e) for e in (0, 2, 4, 6, 10)] == pytest.approx([0, 0, 0.1, 0.2, 0.2])
    exp = MarginSchedule(0.2, 0, 4, kind="exp")
    values = [exp(e) for e in (0, 1, 2, 3, 4)]
    assert values[0] == 0 and values[-1] == pytest.approx(0.2)
    assert all(a < b for a, b in zip(values, values[1:]))
    assert values[1] - values[0] > values[3] - values[2]  # fast first, then levelling off
    head = AMSoftmax(4, 3, margin=0.2, margin_schedule=linear)
    assert head.set_epoch(4) == pytest.approx(0.1) and head.margin == pytest.approx(0.1)
    x, y = torch.randn(5, 4), torch.randint(0, 3, (5,))
    assert abs(head(x, y).loss.item() - reference_loss(x, head.weight.detach(), y, 0.1, 30.0).item()) < 1e-6
    with pytest.raises(ValueError, match="linear' or 'exp"):
        MarginSchedule(0.2, kind="cosine")


def test_minimum_scale_matches_closed_form_and_reaches_target():
    c, p = 16, 0.99
    s = minimum_scale(c, p)
    assert s == pytest.approx((c - 1) / c * math.log((c - 1) * p / (1 - p)))
    # at that scale the best-case posterior (target cos 1, others -1/(C-1)) is exactly p
    logits = torch.full((c,), -s / (c - 1))
    logits[0] = s
    assert torch.softmax(logits, 0)[0].item() == pytest.approx(p, abs=1e-6)
    m = 0.2
    sm = minimum_scale(c, p, margin=m)
    logits = torch.full((c,), -sm / (c - 1))
    logits[0] = sm * (1 - m)
    assert torch.softmax(logits, 0)[0].item() == pytest.approx(p, abs=1e-6)


@pytest.mark.parametrize("m", [0.2, 0.5])
def test_aam_softmax_equals_speechbrain_additive_angular_margin(batch, m):
    from speechbrain.nnet.losses import AdditiveAngularMargin, LogSoftmaxWrapper

    from custom_modules.models.am_softmax import AAMSoftmax

    x, y = batch
    head = AAMSoftmax(16, 7, margin=m, scale=30.0)
    cos = F.normalize(x, dim=1) @ F.normalize(head.weight.detach(), dim=1).t()
    reference = LogSoftmaxWrapper(AdditiveAngularMargin(margin=m, scale=30.0))(cos.unsqueeze(1), y.unsqueeze(1))
    out = head(x, y)
    assert abs(out.loss.item() - reference.item()) < 1e-5
    assert int(out.correct) == int((cos.argmax(1) == y).sum())
