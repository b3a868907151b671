"""A dask scheduler preload that keeps no spans: ``dask scheduler --preload _no_spans``.

dask's spans extension appends one metadata entry per graph submission to the
current span and never frees spans (dask/distributed#7977), so a scheduler that
serves requests for days grows by about 0.4 KiB per coded request
(``bench_serving_soak.py``). Spans only feed dask's dashboard and fine
performance metrics; this preload replaces the extension with one that records
nothing and accepts the workers' span heartbeats. The scheduler tests
``if spans_ext:`` before it files tasks in spans, so a false extension turns
the filing off.
"""


class NoSpans:
    """Stands in for ``SpansSchedulerExtension``: false, so no task is filed in a span."""

    def __init__(self):
        self.spans, self.root_spans = {}, []  # what readers of the extension look at

    def __bool__(self):
        return False

    def heartbeat(self, ws, data):
        """The workers' span metrics: dropped."""


def dask_setup(scheduler):
    scheduler.extensions["spans"] = NoSpans()
