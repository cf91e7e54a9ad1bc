"""A small back-off bigram language model (ARPA text) over the command sentences plus a list of
everyday words that soak up speech which is not a command.

Used twice: the wake-word spotter (a wake phrase must show up in what this model hears) and the
command verifier (a grammar result is accepted only when this freer decoder roughly agrees).
Absolute discounting; everyday words share a fixed slice of the unigram mass.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter, defaultdict
from collections.abc import Iterable

EVERYDAY = """a about after again all also always am an and any are as at away back be because
been before best better big bit both but buy by call came can car cat children city coffee cold
come could day did do does dog done door down each eat email even evening every family far
father find first food for friend from garden get give go going good got great had has have he
hello her here him his home hot house how i if in into is it its just keep kind know last later
leave left let life like little live long look lot love made make man many may me mean meet
milk money more morning most mother much music must my name need never new news next nice night
no not nothing now of off office often oh old on once one only open or other our out over
people phone picnic place play please put radio rain read really right room said same saw say
school see she should show sleep small snow so some something song soon still stop street such
sun sure take talk tea tell than thank thanks that the their them then there these they thing
think this those thought three through time to today together told tomorrow too took train tree
two under up us use very walk want warm was water way we weather week well went were what when
where which while who why will window with woman word work world would write year yes yesterday
yet you young your""".split()


def build_arpa(sentences: Iterable[str], words_known: set[str] | None = None,
               everyday: Iterable[str] = EVERYDAY, everyday_mass: float = 0.05,
               discount: float = 0.5) -> str:
    """ARPA text for a bigram model of ``sentences`` plus ``everyday`` words (those in
    ``words_known`` when given: every word must be in the recogniser's dictionary)."""
    unigrams: Counter[str] = Counter()
    bigrams: Counter[tuple[str, str]] = Counter()
    for sentence in sentences:
        words = ["<s>", *sentence.split(), "</s>"]
        unigrams.update(words[1:])
        bigrams.update(itertools.pairwise(words))
    total = sum(unigrams.values()) or 1
    p_uni: dict[str, float] = {w: (1 - everyday_mass) * c / total for w, c in unigrams.items()}
    extra = [w for w in dict.fromkeys(everyday) if words_known is None or w in words_known]
    for word in extra:
        p_uni[word] = p_uni.get(word, 0.0) + everyday_mass / max(1, len(extra))
    p_uni["</s>"] = p_uni.get("</s>", 1e-6)
    following: dict[str, dict[str, int]] = defaultdict(dict)
    for (a, b), c in bigrams.items():
        following[a][b] = c
    p_bi: dict[tuple[str, str], float] = {}
    backoff: dict[str, float] = {}
    for a, nexts in following.items():
        n = sum(nexts.values())
        for b, c in nexts.items():
            p_bi[(a, b)] = (c - discount) / n
        left = discount * len(nexts) / n
        rest = 1.0 - sum(p_uni.get(b, 0.0) for b in nexts)
        backoff[a] = left / rest if rest > 1e-9 else 1e-9
    lines = ["\\data\\", f"ngram 1={len(p_uni) + 1}", f"ngram 2={len(p_bi)}", "",
             "\\1-grams:", f"-99.0000 <s> {math.log10(backoff.get('<s>', 1.0)):.4f}"]
    for word, p in sorted(p_uni.items()):
        bo = backoff.get(word)
        lines.append(f"{math.log10(max(p, 1e-12)):.4f} {word}"
                     + (f" {math.log10(bo):.4f}" if bo is not None else ""))
    lines += ["", "\\2-grams:"]
    lines += [f"{math.log10(p):.4f} {a} {b}" for (a, b), p in sorted(p_bi.items())]
    lines += ["", "\\end\\", ""]
    return "\n".join(lines)
