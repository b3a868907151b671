"""torch's global generator around a fit or a probe (layer 4, used only with skorch nets)."""

import contextlib


@contextlib.contextmanager
def _seeded_torch(seed):
    """Seed torch's global generator from ``seed`` inside the block, restoring it after."""
    if seed is None:
        yield
        return
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


@contextlib.contextmanager
def _kept_torch_rng(active):
    """Restore torch's global generator after the block (when ``active``)."""
    if not active:
        yield
        return
    import torch

    with torch.random.fork_rng(devices=[]):
        yield
