"""Terminal escape codes in stored strings are shown, not executed (issue 14 low items)."""

from circulith.io.terminal import printable


def test_escape_sequences_are_made_visible() -> None:
    assert printable("site\x1b[2J\x1b]8;;http://evil\x07x") == "site\\x1b[2J\\x1b]8;;http://evil\\x07x"
    assert printable("a\u202eb") == "a\\u202eb"
    assert printable("Zwickau, DE\tok\n") == "Zwickau, DE\tok\n"
    assert printable(None) == "None"
