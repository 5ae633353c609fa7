"""Token ids to display pieces: `"".join(pieces)` is the decoded text, each piece knows its tokens.

A multi-byte character split over several byte tokens becomes one piece, so the app never shows half a
character. Uses tokenizers' incremental `DecodeStream`: one pass per draft, no per-token full decodes.
"""

from __future__ import annotations

from collections.abc import Sequence

from tokenizers.decoders import DecodeStream


class Detokenizer:
    def __init__(self, tokenizer) -> None:
        self._tokenizer = tokenizer
        self._backend = tokenizer.backend_tokenizer

    def pieces(self, tokens: Sequence[int]) -> tuple[list[str], list[list[int]]]:
        """The pieces and, for each, the indices of the tokens it came from."""
        stream = DecodeStream(skip_special_tokens=True)
        pieces: list[str] = []
        groups: list[list[int]] = []
        pending: list[int] = []
        for i, token in enumerate(tokens):
            pending.append(i)
            out = stream.step(self._backend, token)
            if out is not None:
                pieces.append(out)
                groups.append(pending)
                pending = []
        if pending:
            # Bytes that never completed a character: show what a full decode shows for them.
            joined = "".join(pieces)
            full = self._tokenizer.decode(list(tokens), skip_special_tokens=True)
            pieces.append(full[len(joined) :] if full.startswith(joined) else "")
            groups.append(pending)
        return pieces, groups
