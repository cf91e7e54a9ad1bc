"""Password strength: long enough, not a common password, not trivially repetitive.

The common list (``data/common_passwords.txt``, bundled) is small: the most used passwords
of public breach corpora; a candidate is compared lower-cased and with trailing digits and
punctuation stripped too (``Password123!`` is ``password``). Repetitive: one character or one
short unit repeated (``aaaaaaaaaa``, ``abcabcabcabc``), an ascending or descending run of
letters, digits or a keyboard row (``1234567890``, ``zyxwvutsrq``, ``qwertyuiop``), or fewer
than four different characters.
"""

from __future__ import annotations

import functools
from importlib import resources

KEYBOARD_ROWS = ("1234567890", "qwertyuiop", "asdfghjkl", "zxcvbnm", "abcdefghijklmnopqrstuvwxyz")
MAX_CHECKED = 256  # characters examined by the repetition checks (bounded work)


@functools.cache
def common_passwords() -> frozenset[str]:
    text = resources.files("spark.ui.api").joinpath("data/common_passwords.txt").read_text()
    return frozenset(line.strip().lower() for line in text.splitlines()
                     if line.strip() and not line.startswith("#"))


def _repeated_unit(text: str) -> bool:
    """One unit of 1-4 characters repeated over the whole text (``abab...``)."""
    return any(len(text) >= 2 * n and text == (text[:n] * (len(text) // n + 1))[:len(text)]
               for n in range(1, 5))


def _run(text: str) -> bool:
    """The whole text is a slice of a sequence, forwards or backwards."""
    return any(text in seq or text in seq[::-1] or text in seq * 2 or text in (seq * 2)[::-1]
               for seq in KEYBOARD_ROWS)


def weakness(password: str, min_length: int, username: str = "") -> str | None:
    """Why ``password`` is refused, or None when it is acceptable."""
    if len(password) < min_length:
        return f"passwords need at least {min_length} characters"
    low = password.lower()[:MAX_CHECKED]
    core = low.rstrip("0123456789!@#$%^&*.?_- ")
    common = common_passwords()
    if low in common or core in common or low.strip() in common:
        return "that is one of the most common passwords; choose another"
    if username and username.lower() in low and len(low) - len(username) < min_length:
        return "the password must not be built from the username"
    if len(set(low)) < 4 or _repeated_unit(low) or _run(low):
        return "that password is too easy to guess (repeated or sequential characters)"
    return None
