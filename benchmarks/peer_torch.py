"""The same models in PyTorch, for `make bench-peer`: the reference charrnn is measured against.

Same sizes, data windows, loss (mean cross-entropy), global-norm clipping and optimizer as
charrnn; generation uses PyTorch's fastest path measured here, unfused cells at batch 1.
"""
from __future__ import annotations

import torch
from torch import nn

from benchmarks.measure import SEQ_LEN, corpus, median_rate

_LAYERS = {"lstm": nn.LSTM, "gru": nn.GRU,
           "rnn_relu": lambda *a, **k: nn.RNN(*a, nonlinearity="relu", **k),
           "rnn_tanh": lambda *a, **k: nn.RNN(*a, nonlinearity="tanh", **k)}
_CELLS = {"lstm": nn.LSTMCell, "gru": nn.GRUCell,
          "rnn_relu": lambda i, h: nn.RNNCell(i, h, nonlinearity="relu"),
          "rnn_tanh": lambda i, h: nn.RNNCell(i, h, nonlinearity="tanh")}


class TorchCharModel(nn.Module):
    def __init__(self, mode: str, vocab: int, embed: int = 64, hidden: int = 256,
                 layers: int = 2, dropout: float = 0.2):
        super().__init__()
        self.mode, self.vocab = mode, vocab
        self.embedding = nn.Embedding(vocab, embed)
        self.rnn = _LAYERS[mode](embed, hidden, layers, dropout=dropout)
        self.dropout = nn.Dropout(dropout)
        self.decoder = nn.Linear(hidden, vocab)

    def forward(self, x, state=None):
        out, state = self.rnn(self.embedding(x), state)
        return self.decoder(self.dropout(out)).view(-1, self.vocab), state


def training_rate(mode: str, batch: int, steps: int, chunks: int) -> float:
    data = corpus()
    model = TorchCharModel(mode, len(data.vocab))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.002)
    ids = torch.from_numpy(data.part("train")[:(steps * SEQ_LEN + 1) * batch].astype("int64"))
    columns = ids.view(batch, -1).t().contiguous()
    state = None

    def chunk() -> float:
        nonlocal state
        for s in range(steps):
            window = columns[s * SEQ_LEN:(s + 1) * SEQ_LEN + 1]
            if state is not None:
                state = tuple(h.detach() for h in state) if mode == "lstm" else state.detach()
            optimizer.zero_grad()
            logits, state = model(window[:-1], state)
            loss = nn.functional.cross_entropy(logits, window[1:].reshape(-1))
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
        return steps * SEQ_LEN * batch

    return median_rate(chunk, chunks)


def _cells(model: TorchCharModel) -> list:
    cells = []
    for i in range(model.rnn.num_layers):
        cell = _CELLS[model.mode](model.rnn.input_size if i == 0 else model.rnn.hidden_size,
                                  model.rnn.hidden_size)
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(cell, name).data.copy_(getattr(model.rnn, f"{name}_l{i}").data)
        cells.append(cell)
    return cells


def generation_rate(mode: str, length: int, chunks: int, samples: int = 1,
                    greedy: bool = True) -> float:
    """Characters per second, one step at a time with unfused cells (no_grad, eval mode)."""
    model = TorchCharModel(mode, len(corpus().vocab)).eval()
    cells = _cells(model)

    @torch.no_grad()
    def chunk() -> float:
        ids = torch.zeros(samples, dtype=torch.long)
        hidden = [None] * len(cells)
        for _ in range(length):
            x = model.embedding(ids)
            for i, cell in enumerate(cells):
                hidden[i] = cell(x, hidden[i])
                x = hidden[i][0] if mode == "lstm" else hidden[i]
            logits = model.decoder(x)
            ids = (logits.argmax(dim=1) if greedy else
                   torch.multinomial(torch.softmax(logits / 0.8, dim=1), 1).squeeze(1))
        return length * samples

    return median_rate(chunk, chunks)


def exported_difference(run_dir: str, text_chars: int = 2000) -> tuple[float, int]:
    """The run's safetensors export (charrnn export) loaded into these torch.nn modules by
    name, as a PyTorch user would: the largest difference of a character's log-probability
    from charrnn's own, over `text_chars` characters of the test split; and that count."""
    import tempfile

    import numpy as np
    from safetensors.torch import load_file

    import charrnn
    from charrnn.runs import loading

    model = charrnn.load(run_dir, "cpu")
    config = model.config
    with tempfile.TemporaryDirectory() as folder:
        model.export(f"{folder}/out", ["safetensors"])
        weights = load_file(f"{folder}/out/model.safetensors")
    peer = TorchCharModel(config.model, config.vocab_size, config.embed, config.hidden,
                          config.layers, dropout=0.0)
    peer.load_state_dict(weights)
    peer.eval()
    ids = loading.training_corpus(model.run, model.vocab).part("test")[:text_chars]
    with torch.no_grad():
        logits, _ = peer(torch.from_numpy(ids[:-1].astype("int64"))[:, None])
        theirs = torch.log_softmax(logits.double(), dim=1)[torch.arange(len(ids) - 1),
                                                            torch.from_numpy(ids[1:].astype("int64"))]
    import mxnet as mx

    ours, _ = model.network(mx.nd.array(ids[:-1, None]), model.network.begin_state(1))
    ours = mx.nd.log_softmax(ours).asnumpy().astype(np.float64)[np.arange(len(ids) - 1), ids[1:]]
    return float(np.abs(theirs.numpy() - ours).max()), len(ids) - 1
