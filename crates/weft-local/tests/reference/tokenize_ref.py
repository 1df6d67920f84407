#!/usr/bin/env python3
"""An independent byte-level BPE tokenizer, the reference for weft-local's.

It shares no code with the Rust side (which runs the Hugging Face
`tokenizers` crate): the vocabulary, merges and token types are read from
the GGUF file with the `gguf` package (llama.cpp's own reader), the
pre-tokenizer regexes are those llama.cpp applies for the file's
`tokenizer.ggml.pre`, and the merges run as in OpenAI's GPT-2 `encoder.py`
(repeatedly merge the lowest-ranked adjacent pair).

Usage:

    tokenize_ref.py MODEL.gguf < corpus.json > ids.json

`corpus.json` is a JSON list; each item is a string (special tokens written
in it are parsed) or `{"text": "...", "parse_special": false}`. The output is
a JSON list of id lists, one per item.

Requirements: `pip install gguf regex`. Without the `regex` package the
Unicode classes `\\p{L}` and `\\p{N}` are built from `unicodedata` for the
standard `re` module instead (same categories, Python's Unicode version).
"""

import json
import sys
import unicodedata

from gguf import GGUFReader

try:
    import regex as _regex

    HAVE_REGEX = True
except ImportError:  # pragma: no cover - depends on the environment
    import re as _regex

    HAVE_REGEX = False

# llama.cpp token types (`tokenizer.ggml.token_type`).
NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6

# The regexes llama.cpp's `llm_tokenizer_bpe` applies, one after the other,
# for each `tokenizer.ggml.pre` family (src/llama-vocab.cpp).
GPT2 = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)"
LLAMA3 = (
    r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+"
    r"|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
QWEN2 = (
    r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+"
    r"|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
PRE = {
    "gpt2": ([GPT2], False),
    "smollm": ([r"\p{N}", GPT2], False),
    "llama3": ([LLAMA3], True),
    "qwen2": ([QWEN2], False),
}
PRE_ALIASES = {
    "default": "gpt2", "gpt-2": "gpt2", "phi-2": "gpt2", "mpt": "gpt2", "olmo": "gpt2",
    "jais": "gpt2", "exaone4": "gpt2", "trillion": "gpt2", "roberta-bpe": "gpt2",
    "smollm": "smollm", "starcoder": "smollm", "refact": "smollm", "command-r": "smollm",
    "codeshell": "smollm", "exaone": "smollm", "minerva-7b": "smollm",
    "llama3": "llama3", "llama-v3": "llama3", "llama-bpe": "llama3", "falcon3": "llama3",
    "pixtral": "llama3", "dbrx": "llama3", "smaug-bpe": "llama3",
    "qwen2": "qwen2", "deepseek-r1-qwen": "qwen2", "megrez": "qwen2", "stablelm2": "qwen2",
}


def _class_ranges(prefix):
    """A character class body for the Unicode categories starting with `prefix`."""
    out, start, prev = [], None, None
    for cp in range(sys.maxunicode + 1):
        hit = unicodedata.category(chr(cp)).startswith(prefix)
        if hit and start is None:
            start = cp
        if not hit and start is not None:
            out.append((start, prev))
            start = None
        prev = cp
    if start is not None:
        out.append((start, prev))
    esc = lambda cp: "\\U%08x" % cp
    return "".join(esc(a) if a == b else esc(a) + "-" + esc(b) for a, b in out)


def compile_regex(pattern):
    if HAVE_REGEX:
        return _regex.compile(pattern)
    letters, numbers = _class_ranges("L"), _class_ranges("N")
    pattern = (
        pattern.replace(r"[^\s\p{L}\p{N}]", "[^\\s" + letters + numbers + "]")
        .replace(r"[^\r\n\p{L}\p{N}]", "[^\\r\\n" + letters + numbers + "]")
        .replace(r"\p{L}", "[" + letters + "]")
        .replace(r"\p{N}", "[" + numbers + "]")
    )
    return _regex.compile(pattern)


def bytes_to_unicode():
    """GPT-2's reversible byte <-> printable character map."""
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("\xa1"), ord("\xac") + 1))
        + list(range(ord("\xae"), ord("\xff") + 1))
    )
    chars = printable[:]
    n = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + n)
            n += 1
    return dict(zip(printable, map(chr, chars)))


def field(reader, key):
    f = reader.fields.get(key)
    return None if f is None else f.contents()


class Reference:
    def __init__(self, path):
        reader = GGUFReader(path)
        model = field(reader, "tokenizer.ggml.model")
        if model != "gpt2":
            raise SystemExit(f"only gpt2 (byte-level BPE) vocabularies are supported, not {model!r}")
        pre = field(reader, "tokenizer.ggml.pre") or "default"
        if pre not in PRE_ALIASES:
            raise SystemExit(f"unsupported pre-tokenizer {pre!r}")
        regexes, self.ignore_merges = PRE[PRE_ALIASES[pre]]
        self.regexes = [compile_regex(r) for r in regexes]
        self.tokens = field(reader, "tokenizer.ggml.tokens")
        types = field(reader, "tokenizer.ggml.token_type") or [NORMAL] * len(self.tokens)
        self.vocab = {}
        for i, t in enumerate(self.tokens):
            self.vocab.setdefault(t, i)
        merges = field(reader, "tokenizer.ggml.merges") or []
        self.ranks = {tuple(m.split(" ", 1)): r for r, m in enumerate(merges)}
        self.byte_char = bytes_to_unicode()
        # Control and unknown tokens are matched only when special tokens are
        # parsed; user-defined ones always.
        always = [t for t, k in zip(self.tokens, types) if k == USER_DEFINED and t]
        special = [t for t, k in zip(self.tokens, types) if k in (CONTROL, UNKNOWN) and t]
        self.split_plain = self._alternation(always)
        self.split_special = self._alternation(always + special)
        self.cache = {}

    @staticmethod
    def _alternation(tokens):
        if not tokens:
            return None
        tokens = sorted(set(tokens), key=len, reverse=True)  # longest first
        import re

        return re.compile("|".join(re.escape(t) for t in tokens))

    def pieces(self, text):
        """Applies the pre-tokenizer regexes in turn; unmatched text stays a piece."""
        pieces = [text]
        for rx in self.regexes:
            out = []
            for piece in pieces:
                pos = 0
                for m in rx.finditer(piece):
                    if m.start() > pos:
                        out.append(piece[pos : m.start()])
                    if m.end() > m.start():
                        out.append(m.group())
                    pos = m.end()
                if pos < len(piece):
                    out.append(piece[pos:])
            pieces = out
        return pieces

    def bpe(self, word):
        if word in self.cache:
            return self.cache[word]
        if self.ignore_merges and word in self.vocab:
            return [word]
        symbols = list(word)
        while len(symbols) > 1:
            pairs = {(a, b) for a, b in zip(symbols, symbols[1:])}
            best = min(pairs, key=lambda p: self.ranks.get(p, float("inf")))
            if best not in self.ranks:
                break
            merged, i = [], 0
            while i < len(symbols):
                if i + 1 < len(symbols) and (symbols[i], symbols[i + 1]) == best:
                    merged.append(symbols[i] + symbols[i + 1])
                    i += 2
                else:
                    merged.append(symbols[i])
                    i += 1
            symbols = merged
        self.cache[word] = symbols
        return symbols

    def encode_plain(self, text):
        ids = []
        for piece in self.pieces(text):
            word = "".join(self.byte_char[b] for b in piece.encode("utf-8"))
            for sym in self.bpe(word):
                if sym not in self.vocab:
                    raise SystemExit(f"symbol {sym!r} is not in the vocabulary")
                ids.append(self.vocab[sym])
        return ids

    def encode(self, text, parse_special=True):
        splitter = self.split_special if parse_special else self.split_plain
        if splitter is None:
            return self.encode_plain(text)
        ids, pos = [], 0
        for m in splitter.finditer(text):
            if m.start() > pos:
                ids += self.encode_plain(text[pos : m.start()])
            ids.append(self.vocab[m.group()])
            pos = m.end()
        if pos < len(text):
            ids += self.encode_plain(text[pos:])
        return ids


def main():
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    ref = Reference(sys.argv[1])
    corpus = json.load(sys.stdin)
    out = []
    for item in corpus:
        if isinstance(item, str):
            out.append(ref.encode(item))
        else:
            out.append(ref.encode(item["text"], item.get("parse_special", True)))
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
