from __future__ import annotations

import mxnet as mx
import numpy as np
import pytest
from mxnet import autograd

from charrnn.config import MODELS, ModelConfig
from charrnn.errors import CharrnnError
from charrnn.models import CharModel, ForwardStepper, build_model, count_parameters, hybridize
from charrnn.training.step import forward_backward

VOCAB = 12


def make(model: str, layers: int = 2, dropout: float = 0.0, seed: int = 0):
    mx.random.seed(seed)
    net = build_model(ModelConfig(model=model, vocab_size=VOCAB, embed=8, hidden=16,
                                  layers=layers, dropout=dropout))
    net.initialize(mx.init.Xavier())
    return net


def ids(steps: int, batch: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, VOCAB, (steps, batch))


@pytest.mark.parametrize("model", MODELS)
def test_every_model_gives_logits_of_shape_steps_times_batch_by_vocab(model):
    net = hybridize(make(model))
    for steps, batch in [(5, 3), (9, 2)]:
        logits, state = net(mx.nd.array(ids(steps, batch)), net.begin_state(batch))
        assert logits.shape == (steps * batch, VOCAB)
        assert [s.shape for s in state] == [s.shape for s in net.begin_state(batch)]


@pytest.mark.parametrize("model", ["lstm", "gru", "rnn_tanh"])
def test_dropout_between_layers_acts_in_training_only(model):
    net = hybridize(make(model, layers=3, dropout=0.5))
    x, state = mx.nd.array(ids(6, 4)), net.begin_state(4)
    with autograd.train_mode():
        first, second = net(x, state)[0].asnumpy(), net(x, state)[0].asnumpy()
    assert not np.allclose(first, second)
    assert np.array_equal(net(x, state)[0].asnumpy(), net(x, state)[0].asnumpy())


@pytest.mark.parametrize("model", MODELS)
def test_carried_state_gives_the_same_logits_as_one_pass(model):
    net = make(model)
    text = mx.nd.array(ids(24, 3))
    whole, _ = net(text, net.begin_state(3))
    state, parts = net.begin_state(3), []
    for start in range(0, 24, 5):
        logits, state = net(text[start:start + 5], state)
        parts.append(logits.asnumpy())
    np.testing.assert_allclose(np.concatenate(parts), whole.asnumpy(), rtol=1e-5, atol=1e-5)


def test_gradients_stop_at_the_window_boundary():
    """The second window's gradients are those of a model started from a constant state."""
    net, ctx = make("lstm"), [mx.cpu()]
    data = ids(21, 2)
    carried, _ = forward_backward(net, data[:10], data[1:11], [net.begin_state(2)], ctx)
    forward_backward(net, data[10:20], data[11:21], carried, ctx)
    through_carried = {k: p.grad().asnumpy().copy() for k, p in net.collect_params().items()}
    constant = [[mx.nd.array(s.asnumpy()) for s in carried[0]]]
    forward_backward(net, data[10:20], data[11:21], constant, ctx)
    for name, grad in through_carried.items():
        np.testing.assert_allclose(grad, net.collect_params()[name].grad().asnumpy(), atol=1e-7)


@pytest.mark.parametrize("model", MODELS)
def test_numpy_step_matches_the_mxnet_forward_pass(model):
    """The NumPy equations, on the model's own weights, reproduce MXNet step by step."""
    net = make(model)
    text = ids(8, 3, seed=1)
    logits, state = net(mx.nd.array(text), net.begin_state(3))
    expected = logits.asnumpy().reshape(8, 3, VOCAB)
    for stepper in (net.stepper(), ForwardStepper(net)):
        stepper.set_state([s.asnumpy() for s in net.begin_state(3)])
        for t in range(8):
            np.testing.assert_allclose(stepper.step(text[t]), expected[t], rtol=1e-4,
                                       atol=1e-5)
        for carried, final in zip(stepper.get_state(), state):  # the server reads it back
            np.testing.assert_allclose(carried, final.asnumpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("model", ["lstm", "gru", "rnn_relu"])
def test_the_fused_gpu_form_shares_the_stacked_forms_parameters_and_state(model, tmp_path):
    """GPUs run all layers in one cuDNN kernel, CPUs stack one-layer blocks: a parameter file
    written by either loads into the other and gives the same outputs and states."""
    config = ModelConfig(model=model, vocab_size=VOCAB, embed=8, hidden=16, layers=3,
                         dropout=0.3)
    stacked = make(model, layers=3, dropout=0.3)
    stacked.save_parameters(str(tmp_path / "stacked.params"))
    fused = hybridize(build_model(config, fused=True))
    fused.load_parameters(str(tmp_path / "stacked.params"))
    fused.save_parameters(str(tmp_path / "fused.params"))
    again = build_model(config)
    again.load_parameters(str(tmp_path / "fused.params"))
    x = mx.nd.array(ids(7, 4))
    for other in (fused, again):
        (a, state_a), (b, state_b) = stacked(x, stacked.begin_state(4)), other(
            x, other.begin_state(4))
        assert np.allclose(a.asnumpy(), b.asnumpy(), atol=1e-5)
        assert [s.shape for s in state_a] == [s.shape for s in state_b]
        assert all(np.allclose(p.asnumpy(), q.asnumpy(), atol=1e-5)
                   for p, q in zip(state_a, state_b))


REGULARISERS = {"locked dropout": {"dropout": 0.5}, "weight drop": {"weight_drop": 0.5},
                "embedding dropout": {"embed_drop": 0.5}}


def regularised(model: str = "lstm", **settings):
    mx.random.seed(0)
    net = build_model(ModelConfig(**{"model": model, "vocab_size": VOCAB, "embed": 8,
                                     "hidden": 16, "layers": 2, "dropout": 0.0, **settings}))
    net.initialize(mx.init.Xavier())
    return hybridize(net)


@pytest.mark.parametrize("name", REGULARISERS)
def test_each_regulariser_acts_in_training_only(name):
    net = regularised(**REGULARISERS[name])
    x, state = mx.nd.array(ids(6, 4)), net.begin_state(4)
    with autograd.train_mode():
        first, second = net(x, state)[0].asnumpy(), net(x, state)[0].asnumpy()
    assert not np.allclose(first, second)
    assert np.array_equal(net(x, state)[0].asnumpy(), net(x, state)[0].asnumpy())
    assert np.allclose(net(x, state)[0].asnumpy(), regularised()(x, state)[0].asnumpy())


def test_locked_dropout_keeps_one_mask_along_the_sequence():
    net = regularised(dropout=0.5)
    with autograd.train_mode():
        dropped = net._locked_dropout(mx.nd, mx.nd.ones((50, 4, 16))).asnumpy()
    assert np.array_equal(dropped, np.broadcast_to(dropped[:1], dropped.shape))
    assert 0.2 < (dropped[0] == 0).mean() < 0.8  # a real mask, not all or nothing


def test_embedding_dropout_drops_whole_characters():
    net = regularised(embed_drop=0.5)
    with autograd.train_mode():
        rows = net.embedding.weight.data().asnumpy()
    dropped = (rows == 0).all(axis=1)
    assert dropped.any() and not dropped.all()
    assert np.array_equal((rows == 0).any(axis=1), dropped)  # a row goes whole or not at all


def test_tied_weights_share_the_embedding_and_need_equal_sizes():
    net = regularised(embed=16, tie_weights=True)
    assert net.decoder.weight.data() is net.embedding.weight.data()
    assert count_parameters(net) == count_parameters(regularised(embed=16)) - VOCAB * 16
    with pytest.raises(CharrnnError, match="tie_weights needs embed equal to hidden"):
        ModelConfig(vocab_size=VOCAB, embed=8, hidden=16, tie_weights=True).check()


@pytest.mark.parametrize("settings", [{"weight_drop": 0.5, "embed_drop": 0.3, "dropout": 0.3},
                                      {"embed": 16, "tie_weights": True}],
                         ids=["regularised", "tied"])
@pytest.mark.parametrize("model", ["lstm", "gru"])
def test_the_step_form_of_a_regularised_model_matches_its_forward(model, settings):
    net = regularised(model, **settings)
    text = ids(8, 3, seed=2)
    expected = net(mx.nd.array(text), net.begin_state(3))[0].asnumpy().reshape(8, 3, VOCAB)
    for stepper in (net.stepper(), ForwardStepper(net)):
        stepper.set_state([s.asnumpy() for s in net.begin_state(3)])
        for t in range(8):
            np.testing.assert_allclose(stepper.step(text[t]), expected[t], rtol=1e-4,
                                       atol=1e-5)


def test_a_model_without_a_step_form_generates_through_its_forward():
    net = regularised()
    assert isinstance(CharModel.stepper(net), ForwardStepper)
    assert not isinstance(net.stepper(), ForwardStepper)
