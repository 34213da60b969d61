"""PNG figures: a histogram per metric over the run, and per take its waveform with the speaking window,
its pitch contour and its spectrogram.

matplotlib's object API (Figure + the Agg canvas, never pyplot) keeps no global state, so workers in
threads or processes can draw at the same time.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cinedub.evaluation.protocols import METRIC
from cinedub.files import atomic_path
from cinedub.types import Window


def _figure(width: float, height: float, rows: int = 1):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(rows, 1, sharex=rows > 1, squeeze=False)[:, 0]
    return figure, axes


def _save(figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png")
    return path


def histogram(path: str | Path, key: str, values: list[float]) -> Path:
    """Distribution of one metric over the run's items, labelled with its protocol's short name."""
    metric = METRIC[key]
    figure, (ax,) = _figure(6.0, 3.6)
    ax.hist(values, bins=min(20, max(5, len(values))), color="#4477aa", edgecolor="white")
    mean = float(np.mean(values))
    ax.axvline(mean, color="#cc3311", linestyle="--", label=f"mean {mean:.2f}")
    unit = f" ({metric.unit})" if metric.unit else ""
    ax.set_xlabel(f"{metric.label}{unit}")
    ax.set_ylabel("takes")
    ax.set_title(f"{metric.label}, n={len(values)}", fontsize=10)
    ax.legend(fontsize=8)
    return _save(figure, Path(path))


def take_figure(path: str | Path, audio: np.ndarray, sample_rate: int, *, window: Window,
                speech: tuple[float | None, float | None] = (None, None), title: str = "") -> Path:  # fmt: skip
    """Three panels on the take's timeline: waveform with the target window (shaded) and the measured
    speech span (dashed), F0 contour (WORLD, voiced frames), log-magnitude spectrogram."""
    from scipy.signal import spectrogram

    from cinedub.speech.world import track_f0

    audio = np.asarray(audio, np.float32)
    t = np.arange(len(audio)) / sample_rate
    figure, (wave_ax, f0_ax, spec_ax) = _figure(9.0, 7.0, rows=3)
    step = max(1, len(audio) // 20_000)  # plotting every sample of a long take is slow and no clearer
    wave_ax.plot(t[::step], audio[::step], linewidth=0.5, color="#333333")
    wave_ax.axvspan(window.start, window.end, color="#66ccee", alpha=0.3, label="target window")
    for edge in speech:
        if edge is not None:
            wave_ax.axvline(edge, color="#cc3311", linestyle="--", linewidth=1)
    wave_ax.plot([], [], color="#cc3311", linestyle="--", label="measured speech")
    wave_ax.set_ylabel("amplitude")
    wave_ax.legend(loc="upper right", fontsize=8)
    wave_ax.set_title(title, fontsize=10)

    f0, times = track_f0(audio, sample_rate)
    voiced = np.where(f0 > 0, f0, np.nan)
    f0_ax.plot(times, voiced, ".", markersize=2, color="#228833")
    f0_ax.axvspan(window.start, window.end, color="#66ccee", alpha=0.15)
    f0_ax.set_ylabel("F0 (Hz)")

    freqs, seg_times, power = spectrogram(audio, fs=sample_rate, nperseg=512, noverlap=384)
    spec_ax.pcolormesh(seg_times, freqs / 1000.0, 10 * np.log10(power + 1e-12), shading="auto", cmap="magma")
    spec_ax.set_ylabel("kHz")
    spec_ax.set_xlabel("time (s)")
    spec_ax.set_xlim(0, len(audio) / sample_rate)
    return _save(figure, Path(path))
