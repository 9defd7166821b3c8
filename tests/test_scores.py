"""charrnn/scores.py: one place that turns a loss in nats into the figures a user reads."""
import math

from charrnn.models.scores import Metrics, bits


def test_a_loss_in_nats_gives_bits_and_perplexity():
    assert bits(math.log(2)) == 1.0
    scores = Metrics(loss=math.log(84), accuracy=0.25, chars=1000)
    assert math.isclose(scores.bpc, math.log2(84))
    assert math.isclose(scores.perplexity, 84)
    assert scores.as_dict("val_") == {"val_loss": scores.loss, "val_bpc": scores.bpc,
                                      "val_perplexity": scores.perplexity, "val_accuracy": 0.25}


def test_a_diverged_loss_still_has_a_perplexity():
    assert math.isfinite(Metrics(loss=1e6, accuracy=0.0, chars=1).perplexity)
