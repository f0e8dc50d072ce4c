"""Request counts and latency histograms in the Prometheus text format (version 0.0.4).

>>> m = Metrics()
>>> m.observe("POST", "/v1/detect", 200, 0.042)
>>> text = m.render()
>>> 'detectkit_requests_total{method="POST",route="/v1/detect",status="200"} 1' in text
True
>>> 'detectkit_request_duration_seconds_bucket{route="/v1/detect",le="0.05"} 1' in text
True
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence

__all__ = ["LATENCY_BUCKETS", "Metrics"]

LATENCY_BUCKETS: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    return repr(float(value)) if value != int(value) else str(int(value))


class _Histogram:
    def __init__(self, buckets: Sequence[float]) -> None:
        self.buckets = tuple(buckets)
        self.counts = [0] * len(self.buckets)
        self.total = 0
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.total += 1
        self.sum += value
        for i, edge in enumerate(self.buckets):
            if value <= edge:
                self.counts[i] += 1


class Metrics:
    """Thread-safe request counters and per-route latency histograms.

    Routes are the path templates (``/v1/detect``), never raw paths, so a scan of random URLs
    cannot grow the label set: unknown paths are counted under ``route="other"``.
    """

    def __init__(self, buckets: Sequence[float] = LATENCY_BUCKETS) -> None:
        self._lock = threading.Lock()
        self._buckets = tuple(buckets)
        self._requests: dict[tuple[str, str, str], int] = {}
        self._latency: dict[str, _Histogram] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one finished request."""
        with self._lock:
            key = (method, route, str(status))
            self._requests[key] = self._requests.get(key, 0) + 1
            hist = self._latency.get(route)
            if hist is None:
                hist = self._latency[route] = _Histogram(self._buckets)
            hist.observe(seconds)

    def count(self, route: str, status: int | None = None) -> int:
        """Requests seen for ``route`` (and ``status``), all methods.

        >>> Metrics().count("/v1/detect")
        0
        """
        with self._lock:
            return sum(
                n for (_, r, s), n in self._requests.items() if r == route and (status is None or s == str(status))
            )

    def render(
        self,
        gauges: Mapping[str, tuple[str, float]] | None = None,
        counters: Mapping[str, tuple[str, str, Mapping[str, float]]] | None = None,
    ) -> str:
        """The metrics as Prometheus text.

        Args:
            gauges: extra ``name -> (help, value)`` gauges.
            counters: extra ``name -> (help, label, {label_value: value})`` counters.
        """
        lines = [
            "# HELP detectkit_requests_total HTTP requests by method, route and status.",
            "# TYPE detectkit_requests_total counter",
        ]
        with self._lock:
            for (method, route, status), n in sorted(self._requests.items()):
                labels = f'method="{_label(method)}",route="{_label(route)}",status="{status}"'
                lines.append(f"detectkit_requests_total{{{labels}}} {n}")
            lines += [
                "# HELP detectkit_request_duration_seconds Request latency by route.",
                "# TYPE detectkit_request_duration_seconds histogram",
            ]
            for route, hist in sorted(self._latency.items()):
                r = _label(route)
                for edge, n in zip(hist.buckets, hist.counts, strict=True):
                    lines.append(f'detectkit_request_duration_seconds_bucket{{route="{r}",le="{_number(edge)}"}} {n}')
                lines.append(f'detectkit_request_duration_seconds_bucket{{route="{r}",le="+Inf"}} {hist.total}')
                lines.append(f'detectkit_request_duration_seconds_sum{{route="{r}"}} {hist.sum!r}')
                lines.append(f'detectkit_request_duration_seconds_count{{route="{r}"}} {hist.total}')
        for name, (help_text, value) in sorted((gauges or {}).items()):
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge", f"{name} {_number(value)}"]
        for name, (help_text, label, values) in sorted((counters or {}).items()):
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} counter"]
            lines += [f'{name}{{{label}="{_label(k)}"}} {_number(v)}' for k, v in sorted(values.items())]
        return "\n".join(lines) + "\n"
