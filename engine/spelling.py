"""Spelling fixes for a small model: a dictionary proposes, the model chooses in context.

A 135M model asked to "fix the typos" rewrites the sentence and fixes half of them (docs/BENCHMARKS.md,
quality). It is a good judge, though, of which of a few words fits a sentence. So a correction on a small
model goes the way spelling correctors have long gone (the noisy channel): words the dictionary does not know,
or knows only as rare, are suspects; the dictionary's words within one or two edits of each, and the word
itself, are the options; the model scores each option with the words that follow it, and the best, after a
prior that favours leaving a word alone, wins. Common confusions (its / it's, your / you're...) are suspects
too, and only the model can tell them apart.

Only words are touched: in code, only comments and strings; never inline code, paths, addresses, names in
the middle of a sentence, acronyms or identifiers. British spellings count as known (colour, organise).
The dictionary is pyspellchecker's English word frequencies (MIT), loaded once.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Callable, Iterator

# The model's log-likelihood of each continuation after a prefix, in nats: (prefix, continuations) -> scores.
Scorer = Callable[[str, list[str]], list[float]]

# A known word seen fewer times than this in the dictionary's 1.6 billion words is rare: a typo can land on
# one ("wal" for "wall" is seen 187 times, "wall" 65,520), so it is a suspect when an option is far commoner.
RARE_COUNT = 1_000
COMMONER = 50  # ...than the rare word, this many times, for an option to count
# Each option costs a model call (~40 ms on one core): the likeliest slips, the commonest words among them.
MAX_OPTIONS = 3
# Priors, in nats, against changing a word: the model must prefer the change by more than this.
# An unknown word is most likely a typo (a small model has seen "recieved" often enough to score it as
# high as "received"), but it may be a term: no prior either way.
KEEP_UNKNOWN = 0.0
KEEP_RARE = 3.0  # a rare word is most likely meant
KEEP_CONFUSABLE = 1.0
KEEP_NAME = 2.0  # an unknown word opening a sentence may be a name, one of three letters a short form  # its / it's: the writer chose one
SUBSTITUTED = 1.0  # a neighbouring key, or a vowel for a vowel (slips: `_slip`)
FAR_KEY = 2.5  # any other wrong letter
DROPPED = 1.0  # a letter dropped or added
FIRST_LETTER = 1.0  # ...at the start of the word
FARTHER = 2.0  # extra, for an option two edits away
MAX_SLIP = 4.0  # options less likely than this are not scored
FARTHEST_WORD = 12  # letters: two edits from a longer word are ~10^6 strings to look up (seconds)
SCORE_CONTEXT = 160  # characters before the text that the model sees when it chooses (a sentence or two)
LEX_CONTEXT = 20_000  # characters before the text that are lexed, in code, to know what is a comment or string
LEX_AFTER = 2_000  # ...and after it (where a docstring closes)
FOLLOWING_WORDS = 3  # the words after an option that are scored with it (each token costs ~5 ms on one core)
FOLLOWING_CHARS = 60  # ...and at most this much text (a long URL is not words)

CONFUSABLES = tuple(
    frozenset(group)
    for group in (
        ("its", "it's"), ("your", "you're"), ("their", "there", "they're"), ("then", "than"),
        ("whose", "who's"), ("lose", "loose"), ("affect", "effect"), ("accept", "except"),
        ("weather", "whether"), ("quiet", "quite"),
    )
)
_CONFUSABLE = {word: group for group in CONFUSABLES for word in group}
_ENGLISH = frozenset("the a an and of to in is was were are it that for on with as be at by this i you he she we "
                     "they not but or have has had".split())

# A word of ASCII letters (and one apostrophe), not a piece of a longer word, path, address or identifier;
# combining marks count as letters (a decomposed "naïve" is one word, not "nai" and "ve").
_WORD = re.compile(r"(?<![\w'’@/\\.\-\u0300-\u036f])[A-Za-z]+(?:['’][A-Za-z]+)?(?![\w@/\\\-\u0300-\u036f]|\.\w)")
# In a docstring: a doctest line, a parameter or section name ("size:", "Args:"), a keyword argument.
_DOC_CODE = re.compile(r"^\s*(?:>>>|\.\.\.).*$|\b\w+(?=\s*[=(:])", re.M)
# Prose the checker stays out of: inline and fenced code, links and addresses, paths.
_NOT_PROSE = re.compile(r"```.*?(?:```|\Z)|`[^`\n]*`|\]\([^)]*\)|<[^>\n]*>|\S+@\S+|https?://\S+|www\.\S+|\S*[/\\]\S*", re.S)
_SENTENCE_START = re.compile(r"(?:^|[.!?:]\s+|\n\s*(?:[-*+>#]+\s+|\d+[.)]\s+)?|^\s*(?:[-*+>#]+\s+|\d+[.)]\s+))[\"'“‘(]*$")
# British endings, tried as their American forms (the dictionary's): colour, organise, centre, travelled.
_BRITISH = ((r"our(s|ed|ing|ful|ite|ites|hood|able)?$", r"or\1"), (r"is(e|es|ed|ing|ation|ations)$", r"iz\1"),
            (r"ys(e|es|ed|ing)$", r"yz\1"), (r"tre(s)?$", r"ter\1"), (r"ll(ed|ing|er|ers)$", r"l\1"),
            (r"ogue(s)?$", r"og\1"), (r"ence(s)?$", r"ense\1"), (r"eable$", r"able"))


@dataclasses.dataclass(frozen=True)
class Suspect:
    """A word that may be misspelled: where it is in the text, and the words it may be (itself first)."""

    start: int
    end: int
    options: tuple[str, ...]
    keep: float  # the prior for leaving it alone, in nats
    curly: bool = False  # the text writes its apostrophes ’

    @property
    def word(self) -> str:
        return self.options[0]


@dataclasses.dataclass(frozen=True)
class Step:
    """The text as it stands during a pass: the words still to be decided (`unsure`), and the one just
    fixed (`fixed`, None for the first step, before any), as (start, end) ranges in `text`."""

    text: str
    unsure: tuple[tuple[int, int], ...]
    fixed: tuple[int, int] | None


def correct(text: str, language: str | None, score: Scorer, before: str = "", after: str = "",
            on_step: Callable[[Step], None] | None = None, cancelled: Callable[[], bool] = lambda: False) -> str:
    """`text` with the words the model judges misspelled replaced, left to right. `before` is the text
    leading up to it (up to LEX_CONTEXT characters: where a docstring opens; the model sees SCORE_CONTEXT),
    `after` what follows it (up to LEX_AFTER: a word the text's end cuts is left alone).
    `on_step` is told of the suspects before the first is decided (what the pass will look at), then after
    each fix."""
    suspects = find_suspects(text, language, before, after)
    before = before[-SCORE_CONTEXT:]
    done = text
    shift = 0
    if suspects and on_step is not None:
        on_step(Step(done, tuple((s.start, s.end) for s in suspects), None))
    for index, suspect in enumerate(suspects):
        if cancelled():
            break
        suspect = _farther(suspect)
        if len(suspect.options) == 1:
            continue
        start, end = suspect.start + shift, suspect.end + shift
        following = _following(done, end, suspects[index + 1].start + shift if index + 1 < len(suspects) else len(done))
        prefix = before + done[:start]
        scores = score(prefix, [option + following for option in suspect.options])
        best = max(range(len(scores)), key=lambda i: scores[i] + _prior(suspect, i))
        if best == 0:
            continue
        word = suspect.options[best]
        done = done[:start] + word + done[end:]
        shift += len(word) - (end - start)
        if on_step is not None:
            later = tuple((s.start + shift, s.end + shift) for s in suspects[index + 1 :])
            on_step(Step(done, later, (start, start + len(word))))
    return done


def find_suspects(text: str, language: str | None, before: str = "", after: str = "") -> list[Suspect]:
    """The suspects of `text`, which `before` precedes and `after` follows in the document: a word cut by
    the text's ends is not one, and neither is what `before` shows to be code."""
    full, at = before + text + after, len(before)
    words = []
    for start, end in _checked_regions(full, language, at):
        for match in _WORD.finditer(full, max(start, at), end):  # (an endpos would hide what follows a word)
            if match.start() >= at and match.end() <= at + len(text):  # not cut by the text's ends
                words.append(match)
    if _foreign([m.group().lower() for m in words]):
        return []
    found = []
    for match in words:
        options = _options(match.group(), _starts_sentence(full, match.start()), _curly(text))
        if options is not None:
            found.append(Suspect(match.start() - at, match.end() - at, *options))
    return found


def _foreign(words: list[str]) -> bool:
    """Another language, not typos: six words or more, none of them one of English's commonest, and a third
    unknown ("Der Hund ist sehr schnell und die Katze": the dictionary knows some German words, from films)."""
    return len(words) >= 6 and not _ENGLISH & set(words) and sum(not is_known(w) for w in words) * 3 > len(words)


def is_known(word: str) -> bool:
    lower = word.lower().replace("’", "'")
    known = counts()
    if known.get(lower, 0):
        return True
    lower = lower.removesuffix("'s")  # a possessive
    return bool(known.get(lower, 0)) or any(
        known.get(re.sub(pattern, american, lower), 0) for pattern, american in _BRITISH if re.search(pattern, lower)
    )


def _options(word: str, sentence_start: bool, curly: bool = False) -> tuple[tuple[str, ...], float, bool] | None:
    """The words `word` may be (itself first), the prior for keeping it and the apostrophe style, or None to
    leave it alone."""
    if len(word) < 2 or word.isupper() or any(c.isupper() for c in word[1:]):
        return None  # acronyms, CamelCase
    lower = word.lower().replace("’", "'")
    if lower in _CONFUSABLE:
        others = sorted(_CONFUSABLE[lower] - {lower})
        return (word, *(_cased(other, word, curly) for other in others)), KEEP_CONFUSABLE, curly
    if word[0].isupper() and not sentence_start and not is_known(word):
        return None  # a name
    known = counts()
    count = known.get(lower, 0)
    if is_known(word) and count >= RARE_COUNT:
        apostrophes = [w for w in _one_edit(lower) if "'" in w and known.get(w, 0) >= COMMONER * count]
        return ((word, *(_cased(w, word, curly) for w in apostrophes)), KEEP_CONFUSABLE, curly) if apostrophes else None
    if count == 0 and is_known(word):
        return None  # a British spelling, or a possessive
    near = [w for w in _one_edit(lower) if w in known and w != lower]
    if count:  # rare: only far commoner words within one edit
        near = [w for w in near if known[w] >= COMMONER * count]
        if not near:
            return None
    # An unknown word with nothing one edit away is a suspect still: its options two edits away are looked
    # for only when its turn comes (a tenth of a second for a long word), not before the first draft.
    if count:
        keep = KEEP_RARE
    elif word[0].isupper() or len(word) <= 3:
        keep = KEEP_NAME  # a name opening a sentence (Anwen), a short form (thx)
    else:
        keep = KEEP_UNKNOWN
    return (word, *_ranked(word, near, curly)), keep, curly


def _ranked(word: str, candidates, curly: bool = False) -> list[str]:
    """The likeliest slips first, the commonest words among them; at most MAX_OPTIONS, cased like `word`."""
    lower, known = word.lower().replace("’", "'"), counts()
    slips = {w: _slip(lower, w) for w in candidates}
    ranked = sorted((w for w, slip in slips.items() if slip <= MAX_SLIP), key=lambda w: (slips[w], -known[w]))
    return [_cased(w, word, curly) for w in ranked[:MAX_OPTIONS]]


def _farther(suspect: Suspect) -> Suspect:
    """An unknown word's options two edits away (when none is one edit away)."""
    if len(suspect.options) > 1 or len(suspect.word) > FARTHEST_WORD:
        return suspect
    known, lower = counts(), suspect.word.lower().replace("’", "'")
    farther = {w for e in _one_edit(lower) for w in _one_edit(e) if w in known and w != lower}
    return dataclasses.replace(suspect, options=(suspect.word, *_ranked(suspect.word, farther, suspect.curly)))


def _prior(suspect: Suspect, index: int) -> float:
    """Against each option: keeping the word, or how unlikely a slip it would take to have typed it."""
    return suspect.keep if index == 0 else -_slip(suspect.word.lower(), suspect.options[index].lower())


def _slip(typed: str, meant: str) -> float:
    """How unlikely a typo turns `meant` into `typed`, in nats: swapped neighbours and a doubled or undoubled
    letter are the commonest slips, a dropped or extra letter next, a wrong letter after; the first letter
    is seldom wrong. Two edits cost FARTHER more."""
    if _distance(typed, meant) > 1:
        return FARTHER + SUBSTITUTED
    cost = 0.0 if typed[:1] == meant[:1] else FIRST_LETTER
    if len(typed) == len(meant):
        if sorted(typed) == sorted(meant):
            return cost  # swapped neighbours
        wrong, right = next((a, b) for a, b in zip(typed, meant) if a != b)
        return cost + (SUBSTITUTED if _neighbours(wrong, right) else FAR_KEY)
    longer, shorter = (typed, meant) if len(typed) > len(meant) else (meant, typed)
    if longer.replace("'", "") == shorter:
        return cost  # a dropped apostrophe (cant)
    at = next((i for i in range(len(shorter)) if longer[i] != shorter[i]), len(shorter))
    doubled = (at > 0 and longer[at] == longer[at - 1]) or (at + 1 < len(longer) and longer[at] == longer[at + 1])
    return cost + (0.0 if doubled else DROPPED)


def _following(text: str, end: int, limit: int) -> str:
    """The text after a word up to FOLLOWING_WORDS words on, and never into the next suspect."""
    rest = text[end:limit]
    words = list(re.finditer(r"\S+", rest))
    rest = rest if len(words) <= FOLLOWING_WORDS else rest[: words[FOLLOWING_WORDS - 1].end()]
    return rest[:FOLLOWING_CHARS]


def _checked_regions(full: str, language: str | None, start: int) -> Iterator[tuple[int, int]]:
    """Where words are prose in `full` from `start` on, read from its beginning (so that a text inside a
    docstring or a code fence is known to be in one): in code, its comments and docstrings (but not their
    doctests and parameter names); elsewhere all but code, links and paths."""
    if language and language != "Markdown":
        for begin, end, kind in _code_prose(full, language):
            if end <= start:
                continue
            if kind == "doc":
                yield from _between(full, begin, end, _DOC_CODE)
            else:
                yield begin, end
        return
    yield from _between(full, 0, len(full), _NOT_PROSE)


def _between(text: str, start: int, end: int, skip: re.Pattern) -> Iterator[tuple[int, int]]:
    at = start
    for skipped in skip.finditer(text, start, end):
        yield at, skipped.start()
        at = skipped.end()
    yield at, end


def _code_prose(text: str, language: str) -> Iterator[tuple[int, int, str]]:
    from pygments.lexers import get_lexer_by_name
    from pygments.token import Comment, String
    from pygments.util import ClassNotFound

    try:
        lexer = get_lexer_by_name(language.lower(), stripnl=False, ensurenl=False)
    except ClassNotFound:
        return
    for at, kind, value in lexer.get_tokens_unprocessed(text):
        if kind in Comment:
            yield at, at + len(value), "comment"
        elif kind in String.Doc:  # other strings are data: SQL, formats, keys
            yield at, at + len(value), "doc"


def _starts_sentence(text: str, at: int) -> bool:
    return bool(_SENTENCE_START.search(text[max(0, at - 12) : at])) or at == 0


def _cased(word: str, like: str, curly: bool = False) -> str:
    """`word` cased like `like` ("I" always), with the text's own apostrophe."""
    if like[0].isupper() or word.startswith("i'"):
        word = word[0].upper() + word[1:]
    return word.replace("'", "’") if curly else word


def _curly(text: str) -> bool:
    return "’" in text and "'" not in text


def _one_edit(word: str) -> set[str]:
    letters = "abcdefghijklmnopqrstuvwxyz'"
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    return {
        *(a + b[1:] for a, b in splits if b),
        *(a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1),
        *(a + c + b[1:] for a, b in splits if b for c in letters),
        *(a + c + b for a, b in splits for c in letters),
    }


_KEY_ROWS = ("qwertyuiop", "asdfghjkl'", "zxcvbnm")
_KEY_AT = {key: (row, column) for row, keys in enumerate(_KEY_ROWS) for column, key in enumerate(keys)}


def _neighbours(a: str, b: str) -> bool:
    """Whether two keys touch on a QWERTY keyboard, or are vowels (sound-alike slips: definately)."""
    if a in "aeiouy" and b in "aeiouy":
        return True
    if a not in _KEY_AT or b not in _KEY_AT:
        return False
    (row_a, col_a), (row_b, col_b) = _KEY_AT[a], _KEY_AT[b]
    return abs(row_a - row_b) <= 1 and abs(col_a - col_b) <= 1


def _distance(a: str, b: str) -> int:
    """Edit distance with transpositions (optimal string alignment); only compared with 1."""
    previous2, previous = None, list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        row = [i]
        for j, cb in enumerate(b, 1):
            cost = min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (ca != cb))
            if previous2 is not None and i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cost = min(cost, previous2[j - 2] + 1)
            row.append(cost)
        previous2, previous = previous, row
    return previous[-1]


def load() -> None:
    """Read the dictionary now (0.4 s) rather than in the first correction."""
    counts()


@functools.cache
def counts() -> dict[str, int]:
    from spellchecker import SpellChecker

    return dict(SpellChecker(language="en", distance=1).word_frequency.dictionary)
