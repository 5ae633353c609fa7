"""Qt counts UTF-16 units, the engine code points: the conversion around characters outside the BMP."""

from hypothesis import given
from hypothesis import strategies as st

from engine.offsets import index_to_utf16, utf16_to_index


def test_astral_characters_take_two_utf16_units():
    text = "a🦊b𝒳c"
    assert [index_to_utf16(text, i) for i in range(len(text) + 1)] == [0, 1, 3, 4, 6, 7]
    assert [utf16_to_index(text, u) for u in range(8)] == [0, 1, 1, 2, 3, 3, 4, 5]


@given(st.text(alphabet=st.characters(blacklist_categories=["Cs"])), st.data())
def test_round_trip(text, data):
    index = data.draw(st.integers(0, len(text)))
    units = index_to_utf16(text, index)
    assert units == len(text[:index].encode("utf-16-le")) // 2
    assert utf16_to_index(text, units) == index
