"""Every draft of one run, kept for scrubbing (Alt+Left / Alt+Right, the review bar's slider). No Qt here.

The model: drafts are appended in the order the engine made them (the bridge hands each one over, not only
the ones a frame showed). Memory is bounded: at most MAX_DRAFTS drafts and about MAX_BYTES of them (a Draft
of a 256-token canvas is about 28 KB, so a 256-step run, about 7 MB, is kept whole). Beyond either bound the
history thins evenly: every second kept draft is dropped and from then on only every second arriving one is
kept (the stride doubles each time), so the kept ones stay evenly spread over the run. The newest draft is
always kept, so the end of the run is always there to go back to.
"""

from __future__ import annotations

from engine import Draft

MAX_DRAFTS = 2048
MAX_BYTES = 32 * 1024 * 1024


def draft_bytes(draft: Draft) -> int:
    """About what a Draft holds in memory (measured with sys.getsizeof: ~110 bytes a piece with its
    confidence and changed flag, the text at 2 bytes a character)."""
    return 200 + 2 * len(draft.text) + 110 * len(draft.pieces)


class DraftHistory:
    """The drafts of a run, oldest first, thinned evenly beyond the bounds; `len()` and `[k]` as a list.

    Attributes:
        seen: drafts added (kept or not); stride: 1 while every draft is kept, else the thinning's step.
    """

    def __init__(self, max_drafts: int = MAX_DRAFTS, max_bytes: int = MAX_BYTES) -> None:
        if max_drafts < 2:
            raise ValueError(f"max_drafts must be at least 2, not {max_drafts}")
        self.max_drafts = max_drafts
        self.max_bytes = max_bytes
        self.seen = 0
        self.stride = 1
        self._kept: list[tuple[int, Draft]] = []  # (arrival index, draft) of the arrivals on the stride
        self._bytes = 0
        self._newest: tuple[int, Draft] | None = None  # the newest arrival when it is off the stride

    def add(self, draft: Draft) -> None:
        index, self.seen = self.seen, self.seen + 1
        if self._newest is not None:
            self._bytes -= draft_bytes(self._newest[1])
            self._newest = None
        if index % self.stride:
            self._newest = (index, draft)
        else:
            self._kept.append((index, draft))
        self._bytes += draft_bytes(draft)
        while len(self) > self.max_drafts or (self._bytes > self.max_bytes and len(self._kept) > 1):
            self._thin()

    def _thin(self) -> None:
        self.stride *= 2
        last = self._kept[-1]
        if self._newest is None and last[0] % self.stride:  # the newest stays, off the stride now
            self._newest = last
        self._kept = [(i, d) for i, d in self._kept if i % self.stride == 0]
        self._bytes = sum(draft_bytes(d) for _, d in self._all())

    def _all(self) -> list[tuple[int, Draft]]:
        return self._kept + ([self._newest] if self._newest is not None else [])

    def __len__(self) -> int:
        return len(self._kept) + (self._newest is not None)

    def __getitem__(self, k: int) -> Draft:
        return self._all()[k][1]

    @property
    def bytes(self) -> int:
        """The estimated memory of the kept drafts (`draft_bytes` each)."""
        return self._bytes
