"""stopping.py: a signal asks for a stop; a second one is the default again."""
from __future__ import annotations

import os
import signal

from charrnn.machine.stopping import StopRequest, stop_on_signals


def test_a_signal_requests_a_stop_and_a_second_one_is_the_default_again():
    stop = StopRequest()
    before = signal.getsignal(signal.SIGTERM)
    with stop_on_signals(stop):
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.signal == signal.SIGTERM
        assert signal.getsignal(signal.SIGTERM) == before  # a second SIGTERM is not caught
    assert signal.getsignal(signal.SIGTERM) == before
