"""Spelling fixes for small models (engine/spelling.py): which words are suspects, without a model; which
option wins, with the bundled SmolLM2 scoring them; and the backend's drafts, cache and "Try again"."""

import threading

import pytest

from engine import spelling
from engine.backends.llamacpp.autoregressive import LlamaAutoregressiveBackend
from engine.models.bundled import bundled_model_path
from engine.types import EditRequest


def words(text, language=None, before="", after=""):
    return [s.word for s in spelling.find_suspects(text, language, before, after)]


def test_typos_are_suspects_and_names_terms_code_and_british_spellings_are_not():
    assert words("Teh volunters were verry suprised.") == ["Teh", "volunters", "verry", "suprised"]
    assert words("Please ask Marguerite and Siobhan about the NASA grant.") == []  # names, an acronym
    assert words("The colour of the neighbour's centre was realy organised.") == ["realy"]
    assert words("Run `pip instal redraft` or see https://exmaple.org/instal and src/utlis.py.") == []
    assert words("We use kubectl with a QuillNote plugin.") == ["kubectl"]  # unknown (CamelCase is never a suspect)
    assert words("- teh first item\n- Teh second") == ["teh", "Teh"]  # a list item starts a sentence


def test_a_rare_word_is_a_suspect_only_beside_a_far_commoner_one_and_confusables_always_are():
    wal = spelling.find_suspects("the wal had cracks", None)[0]
    assert wal.word == "wal" and "wall" in wal.options and wal.keep == spelling.KEEP_RARE
    assert words("the hostel had a knead for dough") == []  # rare enough, but nothing far commoner one edit away
    its = spelling.find_suspects("it's base", None)[0]
    assert its.options == ("it's", "its") and its.keep == spelling.KEEP_CONFUSABLE
    assert spelling.find_suspects("I cant go", None)[0].options == ("cant", "can't")


def test_in_code_only_comments_and_docstrings_are_checked_even_when_the_span_starts_inside_one():
    doc = 'def mean(valeus):\n    """Retuns the avarage.\n\n    Ignores missing entires.\n    """\n    # teh sum\n    return sum(valeus)\n'
    assert words(doc, "Python") == ["Retuns", "avarage", "entires", "teh"]
    start = doc.index("Ignores")
    line = doc[start : doc.index("\n", start)]
    after = doc[start + len(line) :]
    assert words(line, "Python", doc[:start], after) == ["entires"]  # lexed from before the docstring opened
    assert words(line, "Python") == []  # alone, it reads as names


def test_code_data_doctests_parameters_fences_and_cut_words_are_never_suspects():
    sql = 'q = "SELECT usr_id, nme FROM accts WHERE nme = ?"  # teh query\n'
    assert words(sql, "Python") == ["teh"]  # a string is data; only the comment is prose
    doc = 'def f(valeus, nbytes=3):\n    """Retuns it.\n\n    Args:\n        valeus: the valeus.\n    >>> f([1], nbytes=3)\n    """\n'
    assert words(doc, "Python") == ["Retuns", "valeus"]  # the prose "the valeus", not the parameter nor the doctest
    fence = "Text.\n\n```python\nprint(teh)\n"
    assert words("x = valeus\n```\n\nteh end", "Markdown", fence) == ["teh"]  # inside the fence until it closes
    text = "Send it by tomorrow, plese."
    at = text.index("tomorrow") + 6
    assert words(text[:at], None, "", text[at:]) == []  # "tomorr" is cut by the span's end
    assert words(text[at:], None, text[:at]) == ["plese"]  # "ow" is the end of a word that began before
    decomposed = "a nai\u0308ve plan"
    assert words(decomposed) == []


def test_another_language_is_not_typos_and_replacements_keep_the_texts_style():
    assert words("Der Hund ist sehr schnell und die Katze schläft.") == []
    assert words("Teh volunters were verry suprised.") == ["Teh", "volunters", "verry", "suprised"]
    im = spelling.find_suspects("so im going", None)[0]
    assert im.options[1] == "I'm"
    curly = spelling.find_suspects("we’re late and I dont mind", None)[0]
    assert curly.options[:2] == ("dont", "don’t")
    assert spelling.find_suspects("Anwen said thx", None)[0].keep == spelling.KEEP_NAME


def test_the_cheapest_slip_ranks_first_among_the_options():
    assert spelling.find_suspects("The wal was white.", None)[0].options[1] == "wall"  # doubled letter, not "war"
    assert spelling._slip("teh", "the") == 0.0 < spelling._slip("teh", "ten")
    assert spelling._slip("definately", "definitely") == spelling.SUBSTITUTED  # a vowel for a vowel
    assert spelling._slip("cant", "can't") == 0.0


@pytest.fixture(scope="module")
def smol():
    backend = LlamaAutoregressiveBackend(str(bundled_model_path()), small=True)
    backend.load()
    yield backend
    backend.close()


def test_the_model_chooses_the_option_that_fits_the_sentence(smol):
    fixed = spelling.correct("Teh volunters was verry suprised that the wal had so manny cracks in it's base.", None,
                             smol._log_likelihoods)
    assert fixed == "The volunteers was very surprised that the wall had so many cracks in its base."
    kept = "Please send the report to Marguerite before we deploy it with kubectl on Thursday."
    assert spelling.correct(kept, None, smol._log_likelihoods) == kept


def test_log_likelihoods_follow_the_chain_rule_and_leave_the_cache_usable(smol):
    prefix = "The wall had so many"
    whole, first = smol._log_likelihoods(prefix, [" cracks in its base", " cracks"])
    (rest,) = smol._log_likelihoods(prefix + " cracks", [" in its base"])
    assert whole == pytest.approx(first + rest, abs=1e-3)
    assert whole > smol._log_likelihoods(prefix, [" crakcs in its base"])[0]


def edit(backend, request, drafts=None):
    return backend.edit(request, (drafts if drafts is not None else []).append, threading.Event())


def test_a_spelling_fix_streams_a_draft_per_word_and_keeps_the_cache_of_the_examples(smol):
    doc = "Field notes\n\nTeh volunters were verry suprised.\n"
    start, end = doc.index("Teh"), doc.index(".\n") + 1
    edit(smol, EditRequest(doc, start, end, instruction="fix the grammar", seed=0))  # the examples' prompt, cached
    cached = smol.llm.n_tokens
    drafts = []
    result = edit(smol, EditRequest(doc, start, end, instruction="fix the typos", seed=0), drafts)
    assert result.text == "The volunteers were very surprised."
    assert [d.step for d in drafts] == [1, 2, 3, 4, 5] and result.steps == 5
    assert {d.max_steps for d in drafts} == {5}  # the first, and one per word under consideration
    first = drafts[0]  # the words under consideration, faded, before any is decided
    assert first.text == doc[start:end] and not any(first.changed)
    assert [p for p, c in zip(first.pieces, first.confidence) if c < 0.5] == ["Teh", "volunters", "verry", "suprised"]
    fixed = [[p for p, c in zip(d.pieces, d.changed) if c] for d in drafts[1:]]
    assert fixed == [["The"], ["volunteers"], ["very"], ["surprised"]]
    assert [p for p, c in zip(drafts[2].pieces, drafts[2].confidence) if c < 0.5] == ["verry", "suprised"]
    assert all("".join(d.pieces) == d.text for d in drafts) and drafts[-1].text == result.text
    assert smol.llm.n_tokens == cached  # put back: the next rewrite does not evaluate the examples again
    edit(smol, EditRequest(doc, start, end, instruction="fix the grammar", seed=0))
    assert smol.prefill_chunks == 1  # its last token only


def test_try_again_on_a_spelling_fix_samples_a_rewrite_and_cancel_leaves_no_text(smol):
    doc = "Teh volunters were verry suprised that the wal had so manny cracks in its base."
    tries = {edit(smol, EditRequest(doc, 0, len(doc), instruction="fix the typos", seed=s, varied=True)).text for s in range(4)}
    assert len(tries) >= 2
    cancel = threading.Event()
    result = smol.edit(EditRequest(doc, 0, len(doc), instruction="fix the typos", seed=0),
                       lambda draft: cancel.set(), cancel)
    assert (result.stop_reason, result.text) == ("cancelled", "")
