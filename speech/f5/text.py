"""Text -> F5 token ids with a checkpoint's vocabulary file (one symbol a line, line number = id, " " = 0).

English (and any non-CJK text) is split into characters the way F5-TTS's convert_char_to_pinyin does it
(word-like runs, a space inserted between runs that touch punctuation other than space : ' "); Chinese
characters become tone-numbered pinyin syllables when pypinyin is installed (as F5 does).
"""

from __future__ import annotations

import re
from pathlib import Path

import torch
from torch.nn.utils.rnn import pad_sequence

from cinedub.errors import CinedubError

_TRANSLATE = str.maketrans({";": ",", "“": '"', "”": '"', "‘": "'", "’": "'"})
_RUNS = re.compile(r"[\u3100-\u9fff]+|[A-Za-z0-9]+(?:\.[0-9]+[A-Za-z]*)*|.", re.DOTALL)


def read_vocab(path: str | Path) -> dict[str, int]:
    """F5's vocab.txt: symbol -> id (the line's text without its newline)."""
    path = Path(path)
    if not path.is_file():
        raise CinedubError(f"no vocabulary file at {path}")
    with path.open(encoding="utf-8") as handle:
        vocab = {line[:-1] if line.endswith("\n") else line: i for i, line in enumerate(handle)}
    if vocab.get(" ") != 0:
        raise CinedubError(f"{path} is not an F5 vocabulary: its first symbol must be a space (id 0)")
    return vocab


def _is_cjk(char: str) -> bool:
    return "\u3100" <= char <= "\u9fff"


def to_symbols(text: str) -> list[str]:
    """The symbol sequence F5 feeds its tokenizer for `text`."""
    text = text.translate(_TRANSLATE)
    symbols: list[str] = []
    for run in _RUNS.findall(text):
        if _is_cjk(run[0]):
            try:
                from pypinyin import Style, lazy_pinyin
            except ImportError:
                symbols.extend(run)
                continue
            for syllable in lazy_pinyin(run, style=Style.TONE3, tone_sandhi=True):
                symbols.extend((" ", syllable))
        else:
            if symbols and len(run) > 1 and symbols[-1] not in " :'\"":
                symbols.append(" ")
            symbols.extend(run)
    return symbols


def tokenize(texts: list[str], vocab: dict[str, int] | None) -> torch.Tensor:
    """(b, nt) long ids, padded with -1; unknown symbols -> 0; with no vocab, UTF-8 bytes (F5's byte mode)."""
    if vocab is None:
        rows = [torch.tensor([*bytes(t, "UTF-8")], dtype=torch.long) for t in texts]
    else:
        rows = [torch.tensor([vocab.get(s, 0) for s in to_symbols(t)], dtype=torch.long) for t in texts]
    return pad_sequence(rows, padding_value=-1, batch_first=True)


def build_vocab(texts: list[str]) -> dict[str, int]:
    """A character vocabulary for training a model from scratch (space first, as F5 requires)."""
    symbols = sorted({s for t in texts for s in to_symbols(t)} - {" "})
    return {" ": 0, **{s: i + 1 for i, s in enumerate(symbols)}}


def write_vocab(vocab: dict[str, int], path: str | Path) -> Path:
    path = Path(path)
    path.write_text("".join(f"{s}\n" for s, _ in sorted(vocab.items(), key=lambda kv: kv[1])), encoding="utf-8")
    return path
