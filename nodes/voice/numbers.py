"""Numbers as words, both ways: ``21.5`` <-> ``"twenty one point five"`` (0..999 999, one decimal
place per spoken digit, negative with "minus"). Used for the grammar and to read values aloud."""

from __future__ import annotations

import math

ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
        "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
        "eighteen", "nineteen"]
TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_VALUES: dict[str, int] = {w: i for i, w in enumerate(ONES)} | {
    w: 10 * i for i, w in enumerate(TENS) if w}
_VALUES["oh"] = 0
NUMBER_WORDS = frozenset([*_VALUES, "hundred", "thousand", "point", "minus", "and", "a"])


def _below_thousand(n: int) -> list[str]:
    words: list[str] = []
    if n >= 100:
        words += [ONES[n // 100], "hundred"]
        n %= 100
    if n >= 20:
        words.append(TENS[n // 10])
        if n % 10:
            words.append(ONES[n % 10])
    elif n or not words:
        words.append(ONES[n])
    return words


def int_to_words(n: int) -> list[str]:
    if n < 0:
        return ["minus", *int_to_words(-n)]
    if n >= 1000:
        rest = n % 1000
        return [*_below_thousand(n // 1000), "thousand", *(_below_thousand(rest) if rest else [])]
    return _below_thousand(n)


def number_to_words(value: float, decimals: int = 1) -> str:
    """``21.5`` -> ``"twenty one point five"``; integers have no ``point``."""
    if not math.isfinite(value):
        return "unknown"
    value = round(value, decimals)
    if float(value).is_integer():
        return " ".join(int_to_words(int(value)))
    sign = ["minus"] if value < 0 else []
    whole, _, frac = f"{abs(value):.{decimals}f}".partition(".")
    frac = frac.rstrip("0")
    return " ".join([*sign, *int_to_words(int(whole)), "point", *(ONES[int(d)] for d in frac)])


def words_to_number(text: str) -> float | None:
    """``"twenty one point five"`` -> 21.5; digits pass through; None when it is no number."""
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        pass
    words = [w for w in text.split() if w != "and"]
    if not words:
        return None
    sign = 1.0
    if words[0] == "minus":
        sign, words = -1.0, words[1:]
    if "point" in words:
        i = words.index("point")
        whole_words, frac_words = words[:i], words[i + 1:]
        if not frac_words:  # "twenty one point": the digits were not heard, not 21
            return None
    else:
        whole_words, frac_words = words, []
    total = current = 0
    seen = False
    for w in whole_words:
        if w in ("a",) and not seen:
            current, seen = 1, True
        elif w == "hundred":
            current = max(current, 1) * 100
        elif w == "thousand":
            total += max(current, 1) * 1000
            current = 0
        elif w in _VALUES:
            value = _VALUES[w]
            if (current % 10 != 0 and value < 10) or (current % 100 >= 10 and value >= 10
                                                    and current % 100 != 0):
                return None  # "five three", "twenty thirty": not a number
            current += value
            seen = True
        else:
            return None
    if not seen and not frac_words:
        return None
    number = float(total + current)
    if frac_words:
        digits = []
        for w in frac_words:
            if w not in _VALUES or _VALUES[w] > 9:
                return None
            digits.append(str(_VALUES[w]))
        if not digits:
            return None
        number += float("0." + "".join(digits))
    return sign * number
