"""A small synthetic English corpus and a word-level tokenizer for the transformer samples.

Used by bert-tiny/train.py and llama-tiny/train.py under Debian's /usr/bin/python3 (standard
library only). Everything is deterministic: a text depends only on the seed of the
random.Random that makes it.

The language has structure a small model can learn and a test can probe:
- sentences with number agreement between determiner, noun and verb, across a prepositional
  phrase ("The cats near the old farmer see a red ball."), tense agreement with a time word
  ("Yesterday ... saw", "Tomorrow ... will see") and verbs that take only some objects
  (animals and people eat food, people read texts, animals chase animals);
- arithmetic in words ("Seven plus five is twelve.", "Nine minus four is five.") and
  comparisons ("Three is less than eight.");
- counting ("Count from four to seven: four five six seven.");
- attributes stated and then asked about, which needs attention over the context
  ("The cup is blue and the hat is green. What color is the cup? Blue.").

Tokenization is word level: lowercase, split on whitespace and around every punctuation
character (what the Hugging Face `tokenizers` BertNormalizer + BertPreTokenizer do on ASCII
text), then a vocabulary lookup with an unknown token. `write_bert_tokenizer` and
`write_llama_tokenizer` write the same tokenizer as a `tokenizer.json` for the `tokenizers`
package (and the files that go with it).
"""
import json
import re

NUMBERS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
           "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
           "eighteen", "nineteen", "twenty"]
ANIMALS = [("cat", "cats"), ("dog", "dogs"), ("bird", "birds"), ("horse", "horses"),
           ("cow", "cows"), ("fox", "foxes"), ("mouse", "mice"), ("rabbit", "rabbits")]
PEOPLE = [("child", "children"), ("man", "men"), ("woman", "women"), ("teacher", "teachers"),
          ("farmer", "farmers"), ("doctor", "doctors"), ("king", "kings"), ("queen", "queens"),
          ("student", "students"), ("baker", "bakers")]
FOODS = [("apple", "apples"), ("cake", "cakes"), ("egg", "eggs"), ("pear", "pears"),
         ("carrot", "carrots"), ("cookie", "cookies")]
TEXTS = [("book", "books"), ("letter", "letters"), ("story", "stories"), ("poem", "poems"),
         ("note", "notes")]
THINGS = [("ball", "balls"), ("box", "boxes"), ("car", "cars"), ("cup", "cups"),
          ("hat", "hats"), ("chair", "chairs"), ("key", "keys"), ("bag", "bags")]
COLORS = ["red", "blue", "green", "yellow", "white", "black", "brown", "pink"]
SIZES = ["big", "small", "old", "young", "tall", "happy", "sad", "quiet", "hungry", "clever"]
PLACES = ["garden", "kitchen", "park", "school", "river", "forest", "market", "village",
          "farm", "library"]
PREPS = ["near", "behind", "beside", "under", "with"]
# verb: (present singular, present plural / base, past, subject kinds, object kinds)
VERBS = [("sees", "see", "saw", "ap", "apftk"),
         ("likes", "like", "liked", "ap", "apftk"),
         ("finds", "find", "found", "ap", "ftk"),
         ("carries", "carry", "carried", "p", "ftk"),
         ("wants", "want", "wanted", "ap", "ftk"),
         ("eats", "eat", "ate", "ap", "f"),
         ("reads", "read", "read", "p", "t"),
         ("writes", "write", "wrote", "p", "t"),
         ("chases", "chase", "chased", "a", "a"),
         ("helps", "help", "helped", "p", "ap"),
         ("paints", "paint", "painted", "p", "k")]
KINDS = {"a": ANIMALS, "p": PEOPLE, "f": FOODS, "t": TEXTS, "k": THINGS}
DET_SG = ["the", "a", "this", "that", "every", "my", "your", "one"]
DET_PL = ["the", "these", "those", "some", "many", "my", "your", "two", "three", "four"]
FACTS = ["Snow is white.", "The sky is blue.", "Grass is green.", "The sun is hot.",
         "Ice is cold.", "Milk is white.", "Coal is black.", "The night is dark."]
FUNCTION_WORDS = ["is", "will", "and", "plus", "minus", "more", "less", "than", "what", "color",
                  "count", "from", "to", "in", "yesterday", "tomorrow", "snow", "sky", "grass",
                  "sun", "hot", "ice", "cold", "milk", "coal", "night", "dark"]
PUNCT = [".", ",", "?", ":"]

BERT_SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
LLAMA_SPECIALS = ["<unk>", "<s>", "</s>", "<pad>"]

_WORD_RE = re.compile(r"[A-Za-z0-9]+|[^A-Za-z0-9\s]")


def vocabulary(specials):
    """Specials first, then every word the generator can produce, in a fixed order."""
    seen, out = set(), []

    def add(w):
        if w not in seen:
            seen.add(w)
            out.append(w)
    for w in specials:
        add(w)
    for w in NUMBERS:
        add(w)
    for group in (ANIMALS, PEOPLE, FOODS, TEXTS, THINGS):
        for sg, pl in group:
            add(sg)
            add(pl)
    for w in COLORS + SIZES + PLACES + PREPS + DET_SG + DET_PL + FUNCTION_WORDS + PUNCT:
        add(w)
    for v in VERBS:
        for w in v[:3]:
            add(w)
    return out


def words(text):
    """Lowercase and split into words and single punctuation characters."""
    return _WORD_RE.findall(text.lower())


def encode(text, index, unk):
    return [index.get(w, index[unk]) for w in words(text)]


def _cap(s):
    return s[0].upper() + s[1:]


def _noun_phrase(rng, kinds, plural, adj_p=0.4):
    noun = rng.choice(KINDS[rng.choice(kinds)])[1 if plural else 0]
    det = rng.choice(DET_PL if plural else DET_SG)
    if det == "a" and noun[0] in "aeiou":
        det = "the"  # avoid "a apple" without teaching "an"
    adj = ""
    if rng.random() < adj_p:
        adj = rng.choice(COLORS + SIZES)
        if det == "a" and adj[0] in "aeiou":
            det = "the"
        adj += " "
    return f"{det} {adj}{noun}"


def clause(rng):
    verb = rng.choice(VERBS)
    plural = rng.random() < 0.45
    subj = _noun_phrase(rng, verb[3], plural)
    if rng.random() < 0.25:  # a prepositional phrase between subject and verb
        subj += f" {rng.choice(PREPS)} " + _noun_phrase(rng, "ap", rng.random() < 0.5, 0.3)
    obj = _noun_phrase(rng, verb[4], rng.random() < 0.4)
    r = rng.random()
    if r < 0.2:
        return f"yesterday {subj} {verb[2]} {obj}"
    if r < 0.35:
        return f"tomorrow {subj} will {verb[1]} {obj}"
    tail = f" in the {rng.choice(PLACES)}" if rng.random() < 0.25 else ""
    return f"{subj} {verb[1] if plural else verb[0]} {obj}{tail}"


def sentence(rng):
    r = rng.random()
    if r < 0.35:
        s = clause(rng)
        if rng.random() < 0.15:
            s += f", and {clause(rng)}"
        return _cap(s) + "."
    if r < 0.5:
        a, b = rng.randrange(11), rng.randrange(11)
        return f"{_cap(NUMBERS[a])} plus {NUMBERS[b]} is {NUMBERS[a + b]}."
    if r < 0.6:
        a = rng.randrange(21)
        b = rng.randrange(a + 1)
        return f"{_cap(NUMBERS[a])} minus {NUMBERS[b]} is {NUMBERS[a - b]}."
    if r < 0.67:
        a, b = rng.sample(range(21), 2)
        return f"{_cap(NUMBERS[a])} is {'more' if a > b else 'less'} than {NUMBERS[b]}."
    if r < 0.75:
        a = rng.randrange(14)
        b = a + 2 + rng.randrange(5)
        return f"Count from {NUMBERS[a]} to {NUMBERS[b]}: " + " ".join(NUMBERS[a:b + 1]) + "."
    if r < 0.8:
        return rng.choice(FACTS)
    # attributes of two different objects, then a question about one of them
    (o1, _), (o2, _) = rng.sample(THINGS, 2)
    c1, c2 = rng.sample(COLORS, 2)
    ask, ans = (o1, c1) if rng.random() < 0.5 else (o2, c2)
    return f"The {o1} is {c1} and the {o2} is {c2}. What color is the {ask}? {_cap(ans)}."


def text_of_length(rng, lo, hi):
    """Whole sentences whose word count lies in [lo, hi] (retries until one fits). The
    shortest sentence has 4 words, so lo is raised to 4; hi must be at least 4."""
    lo = max(lo, 4)
    if hi < lo:
        raise ValueError(f"no text of {lo}..{hi} words")
    while True:
        parts, n = [], 0
        target = lo + rng.randrange(hi - lo + 1)
        while n < target:
            s = sentence(rng)
            parts.append(s)
            n += len(words(s))
        if lo <= n <= hi:
            return " ".join(parts)
        if len(parts) > 1:
            parts.pop()
            n = sum(len(words(p)) for p in parts)
            if lo <= n <= hi:
                return " ".join(parts)


def write_bert_tokenizer(folder, vocab, max_len):
    """vocab.txt (one token a line, BERT's WordPiece format), tokenizer.json (a WordPiece
    model over whole words, BertNormalizer, BertPreTokenizer, [CLS] A [SEP] (B [SEP])) and
    tokenizer_config.json."""
    with open(folder / "vocab.txt", "w") as f:
        f.write("".join(w + "\n" for w in vocab))
    ids = {w: i for i, w in enumerate(vocab)}

    def special(w):
        return {"id": ids[w], "content": w, "single_word": False, "lstrip": False,
                "rstrip": False, "normalized": False, "special": True}
    tok = {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [special(w) for w in BERT_SPECIALS],
        "normalizer": {"type": "BertNormalizer", "clean_text": True,
                       "handle_chinese_chars": True, "strip_accents": None,
                       "lowercase": True},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}},
                       {"Sequence": {"id": "A", "type_id": 0}},
                       {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}},
                     {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": "[SEP]", "type_id": 0}},
                     {"Sequence": {"id": "B", "type_id": 1}},
                     {"SpecialToken": {"id": "[SEP]", "type_id": 1}}],
            "special_tokens": {w: {"id": w, "ids": [ids[w]], "tokens": [w]}
                               for w in ("[CLS]", "[SEP]")}},
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": True},
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                  "max_input_chars_per_word": 100, "vocab": ids},
    }
    _write_json(folder / "tokenizer.json", tok)
    _write_json(folder / "tokenizer_config.json", {
        "tokenizer_class": "BertTokenizer", "do_lower_case": True, "model_max_length": max_len,
        "padding_side": "right", "pad_token": "[PAD]", "unk_token": "[UNK]",
        "cls_token": "[CLS]", "sep_token": "[SEP]", "mask_token": "[MASK]"})


def write_llama_tokenizer(folder, vocab, max_len):
    """tokenizer.json (a WordLevel model, lowercase, BertPreTokenizer, <s> prepended) and
    tokenizer_config.json. Right padding with <pad>."""
    ids = {w: i for i, w in enumerate(vocab)}
    tok = {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [{"id": ids[w], "content": w, "single_word": False, "lstrip": False,
                          "rstrip": False, "normalized": False, "special": True}
                         for w in LLAMA_SPECIALS],
        "normalizer": {"type": "Lowercase"},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                       {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                     {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": "<s>", "type_id": 1}},
                     {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {"<s>": {"id": "<s>", "ids": [ids["<s>"]], "tokens": ["<s>"]}}},
        "decoder": None,
        "model": {"type": "WordLevel", "vocab": ids, "unk_token": "<unk>"},
    }
    _write_json(folder / "tokenizer.json", tok)
    _write_json(folder / "tokenizer_config.json", {
        "tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": max_len,
        "padding_side": "right", "add_bos_token": True, "add_eos_token": False,
        "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>"})


def _write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")
