//! The model's tokenizer: byte-level BPE, built from a Hugging Face
//! `tokenizer.json` or from the vocabulary arrays of a GGUF file, run by the
//! Hugging Face `tokenizers` crate.
//!
//! A GGUF file stores a byte-level BPE tokenizer as plain arrays
//! (`tokenizer.ggml.tokens`, `tokenizer.ggml.merges`,
//! `tokenizer.ggml.token_type`) plus the name of its pre-tokenizer
//! (`tokenizer.ggml.pre`). [`Tokenizer::from_gguf_vocab`] rebuilds the
//! equivalent Hugging Face pipeline from them: the pre-tokenizer's split
//! regexes (the ones llama.cpp applies for that name), the byte-to-unicode
//! mapping, the BPE merges, and the control and user-defined tokens as added
//! tokens, so chat markers such as `<|im_start|>` encode to one id.
//!
//! [`Tokenizer::encode`] never adds a BOS token: chat templates write it
//! themselves (`{{ bos_token }}`); [`Tokenizer::add_bos`] says whether the
//! model wants one in front of raw text.

use std::collections::HashSet;
use std::sync::{Arc, OnceLock};

use serde_json::{Value as Json, json};

use crate::LoadError;

/// GGUF token types (`tokenizer.ggml.token_type`), as llama.cpp numbers them.
pub mod token_type {
    /// An ordinary vocabulary entry.
    pub const NORMAL: i32 = 1;
    /// The unknown token.
    pub const UNKNOWN: i32 = 2;
    /// A control token (`<|im_start|>`, `<|eot_id|>`): matched in text only
    /// when special tokens are parsed, and dropped when decoding skips them.
    pub const CONTROL: i32 = 3;
    /// A user-defined token: always matched as a whole, decoded as its text.
    pub const USER_DEFINED: i32 = 4;
    /// A reserved, unused entry.
    pub const UNUSED: i32 = 5;
    /// A byte-fallback token (`<0x0A>`; SentencePiece vocabularies).
    pub const BYTE: i32 = 6;
}

/// Names of tokens that end a turn or the text, in the order of preference
/// for the primary end-of-sequence token when nothing else names one.
const END_TOKENS: &[&str] = &[
    "<|im_end|>",
    "<|eot_id|>",
    "<|eom_id|>",
    "<|end_of_text|>",
    "<|endoftext|>",
    "<|end|>",
    "<end_of_turn>",
    "<|return|>",
    "</s>",
    "<eos>",
];

/// Names of beginning-of-sequence tokens, tried in order for
/// `tokenizer.json` files that do not say which one is used.
const BEGIN_TOKENS: &[&str] = &["<|begin_of_text|>", "<s>", "<|startoftext|>", "<bos>"];

/// The GPT-2 split regex, as Hugging Face's `ByteLevel` pre-tokenizer writes
/// it.
const GPT2_REGEX: &str =
    r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";
/// Llama 3's split regex (from its `tokenizer.json`): digits in groups of up
/// to three.
const LLAMA3_REGEX: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// Qwen2's split regex (from its `tokenizer.json`): one digit per piece.
const QWEN2_REGEX: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// Splits every digit off on its own (StarCoder, SmolLM).
const DIGIT_REGEX: &str = r"\p{N}";

/// The pre-tokenizer families this module rebuilds from a GGUF
/// `tokenizer.ggml.pre` name, with the regexes llama.cpp applies for them
/// (`llm_tokenizer_bpe` in `src/llama-vocab.cpp`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PreTokenizer {
    /// The GPT-2 regex alone.
    Gpt2,
    /// Every digit alone, then the GPT-2 regex (StarCoder, SmolLM).
    DigitsThenGpt2,
    /// The Llama 3 regex; whole pieces found in the vocabulary skip the
    /// merges.
    Llama3,
    /// The Qwen2 regex.
    Qwen2,
}

impl PreTokenizer {
    /// The family llama.cpp maps `name` to, for the names this module
    /// supports. A missing name means the GPT-2 regex.
    fn from_name(name: Option<&str>) -> Result<Self, LoadError> {
        Ok(match name.unwrap_or("default") {
            "default" | "gpt-2" | "gpt2" | "phi-2" | "mpt" | "olmo" | "jais" | "exaone4"
            | "trillion" | "roberta-bpe" => PreTokenizer::Gpt2,
            "smollm" | "starcoder" | "refact" | "command-r" | "codeshell" | "exaone"
            | "minerva-7b" => PreTokenizer::DigitsThenGpt2,
            "llama3" | "llama-v3" | "llama-bpe" | "falcon3" | "pixtral" | "dbrx" | "smaug-bpe" => {
                PreTokenizer::Llama3
            }
            "qwen2" | "deepseek-r1-qwen" | "megrez" | "stablelm2" => PreTokenizer::Qwen2,
            other => {
                return Err(LoadError::Tokenizer(format!(
                    "unsupported GGUF pre-tokenizer `{other}` (tokenizer.ggml.pre); supported: \
                     gpt-2, smollm, starcoder, llama-bpe, qwen2 and their aliases"
                )));
            }
        })
    }

    /// The split regexes, applied one after the other.
    fn regexes(self) -> &'static [&'static str] {
        match self {
            PreTokenizer::Gpt2 => &[GPT2_REGEX],
            PreTokenizer::DigitsThenGpt2 => &[DIGIT_REGEX, GPT2_REGEX],
            PreTokenizer::Llama3 => &[LLAMA3_REGEX],
            PreTokenizer::Qwen2 => &[QWEN2_REGEX],
        }
    }

    /// Whether a piece found whole in the vocabulary is one token without
    /// running the merges (llama.cpp's `ignore_merges`).
    fn ignore_merges(self) -> bool {
        self == PreTokenizer::Llama3
    }

    /// Whether the model wants a BOS token in front of raw text when the
    /// file does not say (llama.cpp's default for the family).
    fn default_add_bos(self) -> bool {
        self == PreTokenizer::Llama3
    }
}

/// A GGUF file's tokenizer, as plain data (the `tokenizer.ggml.*` keys).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GgufVocab {
    /// `tokenizer.ggml.model`: `gpt2` (byte-level BPE) is the only one
    /// supported.
    pub model: String,
    /// `tokenizer.ggml.pre`: the pre-tokenizer (`smollm`, `qwen2`,
    /// `llama-bpe`, ...); `None` means the GPT-2 regex.
    pub pre: Option<String>,
    /// `tokenizer.ggml.tokens`: every token, by id, in byte-level form
    /// (`Ġthe`); control and user-defined tokens as plain text.
    pub tokens: Vec<String>,
    /// `tokenizer.ggml.merges`: `"left right"` pairs, by rank.
    pub merges: Vec<String>,
    /// `tokenizer.ggml.token_type`: one [`token_type`] per token; empty
    /// means every token is normal.
    pub token_type: Vec<i32>,
    /// `tokenizer.ggml.bos_token_id`.
    pub bos_id: Option<u32>,
    /// `tokenizer.ggml.eos_token_id`.
    pub eos_id: Option<u32>,
    /// `tokenizer.ggml.eot_token_id` (end of turn).
    pub eot_id: Option<u32>,
    /// `tokenizer.ggml.eom_token_id` (end of message, Llama 3.1 tool turns).
    pub eom_id: Option<u32>,
    /// `tokenizer.ggml.padding_token_id`.
    pub pad_id: Option<u32>,
    /// `tokenizer.ggml.add_bos_token`; `None` takes the pre-tokenizer
    /// family's default (true for Llama 3, false otherwise).
    pub add_bos: Option<bool>,
}

impl GgufVocab {
    /// Reads the `tokenizer.ggml.*` keys of a GGUF file.
    pub fn from_gguf(file: &crate::gguf::GgufFile) -> Result<Self, LoadError> {
        let model = file.get_str("tokenizer.ggml.model").ok_or_else(|| {
            LoadError::Tokenizer("the GGUF file has no tokenizer.ggml.model".into())
        })?;
        let tokens = file.get_str_array("tokenizer.ggml.tokens").ok_or_else(|| {
            LoadError::Tokenizer("the GGUF file has no tokenizer.ggml.tokens array".into())
        })?;
        let merges = match file.get_array("tokenizer.ggml.merges") {
            None => Vec::new(),
            Some(crate::gguf::MetaArray::String(m)) => m.clone(),
            Some(other) => {
                return Err(LoadError::Tokenizer(format!(
                    "tokenizer.ggml.merges holds {} items, not strings",
                    other.item_type().name()
                )));
            }
        };
        let token_type = match file.get_array("tokenizer.ggml.token_type") {
            None => Vec::new(),
            Some(array) => int_array(array).ok_or_else(|| {
                LoadError::Tokenizer(format!(
                    "tokenizer.ggml.token_type holds {} items, not integers",
                    array.item_type().name()
                ))
            })?,
        };
        Ok(Self {
            model: model.to_string(),
            pre: file.get_str("tokenizer.ggml.pre").map(str::to_string),
            tokens: tokens.to_vec(),
            merges,
            token_type,
            bos_id: file.get_u32("tokenizer.ggml.bos_token_id"),
            eos_id: file.get_u32("tokenizer.ggml.eos_token_id"),
            eot_id: file.get_u32("tokenizer.ggml.eot_token_id"),
            eom_id: file.get_u32("tokenizer.ggml.eom_token_id"),
            pad_id: file.get_u32("tokenizer.ggml.padding_token_id"),
            add_bos: file.get_bool("tokenizer.ggml.add_bos_token"),
        })
    }
}

/// The items of an integer array as `i32` (token types fit).
fn int_array(array: &crate::gguf::MetaArray) -> Option<Vec<i32>> {
    use crate::gguf::MetaArray as A;
    fn all<T: Copy>(v: &[T], f: impl Fn(T) -> Option<i32>) -> Option<Vec<i32>> {
        v.iter().map(|&x| f(x)).collect()
    }
    match array {
        A::I32(v) => Some(v.clone()),
        A::U32(v) => all(v, |x| i32::try_from(x).ok()),
        A::I8(v) => all(v, |x| Some(i32::from(x))),
        A::U8(v) => all(v, |x| Some(i32::from(x))),
        A::I16(v) => all(v, |x| Some(i32::from(x))),
        A::U16(v) => all(v, |x| Some(i32::from(x))),
        A::I64(v) => all(v, |x| i32::try_from(x).ok()),
        A::U64(v) => all(v, |x| i32::try_from(x).ok()),
        _ => None,
    }
}

/// How one token id turns back into bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decoding {
    /// GPT-2 byte-level: each character stands for one byte.
    ByteLevel,
    /// SentencePiece style: `▁` is a space, `<0xAB>` is a byte.
    Metaspace,
}

/// The parts shared by every clone of a [`Tokenizer`].
struct Inner {
    /// Special tokens are parsed in the input.
    hf: tokenizers::Tokenizer,
    /// The same tokenizer with special tokens read as plain text; built on
    /// first use.
    literal: OnceLock<tokenizers::Tokenizer>,
    /// Highest id plus one.
    vocab_size: usize,
    /// Control (special) token ids: no bytes, skipped when asked.
    special: HashSet<u32>,
    /// User-defined (added, not special) token ids: stored as their text.
    verbatim: HashSet<u32>,
    /// How ids become bytes.
    decoding: Decoding,
}

/// A tokenizer: text to token ids and back. Cloning is cheap (the tables are
/// shared).
#[derive(Clone)]
pub struct Tokenizer {
    inner: Arc<Inner>,
    bos: Option<u32>,
    eos: Vec<u32>,
    add_bos: bool,
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokenizer")
            .field("vocab_size", &self.inner.vocab_size)
            .field("bos", &self.bos)
            .field("eos", &self.eos)
            .field("add_bos", &self.add_bos)
            .finish_non_exhaustive()
    }
}

fn tokenizer_error(context: &str) -> impl FnOnce(tokenizers::Error) -> LoadError + '_ {
    move |e| LoadError::Tokenizer(format!("{context}: {e}"))
}

impl Tokenizer {
    /// Loads a Hugging Face `tokenizer.json`.
    ///
    /// The file does not say which tokens begin and end a sequence; they are
    /// taken from its post-processor (a BOS the template processing adds)
    /// and from well-known names among its special tokens (`<|im_end|>`,
    /// `<|eot_id|>`, `<|endoftext|>`, ...). Override them with
    /// [`Tokenizer::with_bos`], [`Tokenizer::with_eos`] and
    /// [`Tokenizer::with_add_bos`] from `tokenizer_config.json` or
    /// `generation_config.json`.
    pub fn from_json(json: &[u8]) -> Result<Self, LoadError> {
        let hf = tokenizers::Tokenizer::from_bytes(json)
            .map_err(tokenizer_error("cannot read tokenizer.json"))?;
        let doc: Json = serde_json::from_slice(json)
            .map_err(|e| LoadError::Tokenizer(format!("cannot read tokenizer.json: {e}")))?;
        let decoding = if mentions_type(&doc["decoder"], "ByteLevel") {
            Decoding::ByteLevel
        } else {
            Decoding::Metaspace
        };
        let added = hf.get_added_tokens_decoder();
        let (special, verbatim): (HashSet<u32>, HashSet<u32>) = {
            let (s, v): (Vec<_>, Vec<_>) = added.iter().partition(|(_, t)| t.special);
            (
                s.into_iter().map(|(id, _)| *id).collect(),
                v.into_iter().map(|(id, _)| *id).collect(),
            )
        };
        let vocab_size = hf
            .get_vocab(true)
            .values()
            .copied()
            .max()
            .map_or(0, |m| m as usize + 1);
        let special_id = |name: &str| hf.token_to_id(name).filter(|id| special.contains(id));
        let (bos, add_bos) = match post_processor_bos(&doc["post_processor"], &hf) {
            Some(id) => (Some(id), true),
            None => (BEGIN_TOKENS.iter().find_map(|n| special_id(n)), false),
        };
        let mut eos = Vec::new();
        for name in END_TOKENS {
            if let Some(id) = special_id(name) {
                push_unique(&mut eos, id);
            }
        }
        Ok(Self {
            inner: Arc::new(Inner {
                hf,
                literal: OnceLock::new(),
                vocab_size,
                special,
                verbatim,
                decoding,
            }),
            bos,
            eos,
            add_bos,
        })
    }

    /// Builds a byte-level BPE tokenizer from a GGUF file's vocabulary.
    ///
    /// Only `gpt2` vocabularies (byte-level BPE: GPT-2, Llama 3, Qwen,
    /// SmolLM, ...) are supported; SentencePiece (`llama`), WordPiece
    /// (`bert`), Unigram (`t5`) and RWKV vocabularies are refused by name.
    pub fn from_gguf_vocab(vocab: GgufVocab) -> Result<Self, LoadError> {
        match vocab.model.as_str() {
            "gpt2" => {}
            "llama" => {
                return Err(LoadError::Tokenizer(
                    "GGUF tokenizer model `llama` (SentencePiece) is not supported; only `gpt2` \
                     (byte-level BPE) is"
                        .into(),
                ));
            }
            other => {
                let kind = match other {
                    "bert" => " (WordPiece)",
                    "t5" => " (Unigram)",
                    "rwkv" => " (RWKV)",
                    "plamo2" => " (PLaMo-2)",
                    "no_vocab" | "none" => " (no vocabulary)",
                    _ => "",
                };
                return Err(LoadError::Tokenizer(format!(
                    "GGUF tokenizer model `{other}`{kind} is not supported; only `gpt2` \
                     (byte-level BPE) is"
                )));
            }
        }
        let pre = PreTokenizer::from_name(vocab.pre.as_deref())?;
        let n = vocab.tokens.len();
        if n == 0 {
            return Err(LoadError::Tokenizer("the GGUF vocabulary is empty".into()));
        }
        if u32::try_from(n).is_err() {
            return Err(LoadError::Tokenizer(format!(
                "the GGUF vocabulary has {n} tokens, more than ids can number"
            )));
        }
        if !vocab.token_type.is_empty() && vocab.token_type.len() != n {
            return Err(LoadError::Tokenizer(format!(
                "tokenizer.ggml.token_type has {} entries for {n} tokens",
                vocab.token_type.len()
            )));
        }
        for (key, id) in [
            ("bos", vocab.bos_id),
            ("eos", vocab.eos_id),
            ("eot", vocab.eot_id),
            ("eom", vocab.eom_id),
            ("padding", vocab.pad_id),
        ] {
            if let Some(id) = id
                && id as usize >= n
            {
                return Err(LoadError::Tokenizer(format!(
                    "tokenizer.ggml.{key}_token_id is {id}, outside the {n}-token vocabulary"
                )));
            }
        }
        let kind = |id: usize| {
            vocab
                .token_type
                .get(id)
                .copied()
                .unwrap_or(token_type::NORMAL)
        };

        // The vocabulary; a repeated string keeps its first id.
        let mut map = serde_json::Map::with_capacity(n);
        for (id, token) in vocab.tokens.iter().enumerate() {
            if !map.contains_key(token) {
                map.insert(token.clone(), json!(id));
            }
        }
        let mut merges = Vec::with_capacity(vocab.merges.len());
        for (rank, merge) in vocab.merges.iter().enumerate() {
            let Some((left, right)) = merge.split_once(' ') else {
                return Err(LoadError::Tokenizer(format!(
                    "tokenizer.ggml.merges[{rank}] (`{merge}`) is not a `left right` pair"
                )));
            };
            merges.push(json!([left, right]));
        }
        let mut added = Vec::new();
        let mut special = HashSet::new();
        let mut verbatim = HashSet::new();
        for (id, token) in vocab.tokens.iter().enumerate() {
            let t = kind(id);
            let is_special = t == token_type::CONTROL || t == token_type::UNKNOWN;
            if !(is_special || t == token_type::USER_DEFINED) || token.is_empty() {
                continue;
            }
            if map.get(token).and_then(Json::as_u64) != Some(id as u64) {
                continue; // a repeated string: the first id stands for it
            }
            if is_special {
                special.insert(id as u32);
            } else {
                verbatim.insert(id as u32);
            }
            added.push(json!({
                "id": id,
                "content": token,
                "single_word": false,
                "lstrip": false,
                "rstrip": false,
                "normalized": false,
                "special": is_special,
            }));
        }
        let mut splits: Vec<Json> = pre
            .regexes()
            .iter()
            .map(|re| {
                json!({
                    "type": "Split",
                    "pattern": { "Regex": re },
                    "behavior": "Isolated",
                    "invert": false,
                })
            })
            .collect();
        splits.push(json!({
            "type": "ByteLevel",
            "add_prefix_space": false,
            "trim_offsets": false,
            "use_regex": false,
        }));
        let doc = json!({
            "version": "1.0",
            "truncation": null,
            "padding": null,
            "added_tokens": added,
            "normalizer": null,
            "pre_tokenizer": { "type": "Sequence", "pretokenizers": splits },
            "post_processor": null,
            "decoder": {
                "type": "ByteLevel",
                "add_prefix_space": false,
                "trim_offsets": false,
                "use_regex": false,
            },
            "model": {
                "type": "BPE",
                "dropout": null,
                "unk_token": null,
                "continuing_subword_prefix": null,
                "end_of_word_suffix": null,
                "fuse_unk": false,
                "byte_fallback": false,
                "ignore_merges": pre.ignore_merges(),
                "vocab": map,
                "merges": merges,
            },
        });
        let text = serde_json::to_vec(&doc)
            .map_err(|e| LoadError::Tokenizer(format!("cannot assemble the tokenizer: {e}")))?;
        let hf = tokenizers::Tokenizer::from_bytes(&text).map_err(tokenizer_error(
            "cannot build the tokenizer from the GGUF vocabulary",
        ))?;

        let mut eos = Vec::new();
        for id in [vocab.eos_id, vocab.eot_id, vocab.eom_id]
            .into_iter()
            .flatten()
        {
            push_unique(&mut eos, id);
        }
        for name in END_TOKENS {
            if let Some(id) = hf.token_to_id(name).filter(|id| special.contains(id)) {
                push_unique(&mut eos, id);
            }
        }
        Ok(Self {
            inner: Arc::new(Inner {
                hf,
                literal: OnceLock::new(),
                vocab_size: n,
                special,
                verbatim,
                decoding: Decoding::ByteLevel,
            }),
            bos: vocab.bos_id,
            eos,
            add_bos: vocab.add_bos.unwrap_or(pre.default_add_bos()),
        })
    }

    /// Builds the tokenizer of a GGUF file from its `tokenizer.ggml.*`
    /// metadata (see [`GgufVocab`] for the keys).
    pub fn from_gguf(file: &crate::gguf::GgufFile) -> Result<Self, LoadError> {
        Self::from_gguf_vocab(GgufVocab::from_gguf(file)?)
    }

    /// This tokenizer with `id` as its beginning-of-sequence token.
    pub fn with_bos(mut self, id: Option<u32>) -> Self {
        self.bos = id;
        self
    }

    /// This tokenizer with these end-of-sequence tokens, the first one the
    /// primary ([`Tokenizer::eos_token`]).
    pub fn with_eos(mut self, ids: impl IntoIterator<Item = u32>) -> Self {
        let mut eos = Vec::new();
        for id in ids {
            push_unique(&mut eos, id);
        }
        self.eos = eos;
        self
    }

    /// This tokenizer, saying whether raw text wants a BOS token in front.
    pub fn with_add_bos(mut self, add_bos: bool) -> Self {
        self.add_bos = add_bos;
        self
    }

    /// Token ids for `text`. With `parse_special`, control tokens written
    /// in the text (`<|im_start|>`) become their ids; without, they are
    /// tokenized as plain text. User-defined tokens are always matched.
    /// Never adds a BOS token.
    pub fn encode(&self, text: &str, parse_special: bool) -> Result<Vec<u32>, LoadError> {
        let tokenizer = if parse_special {
            &self.inner.hf
        } else {
            self.inner.literal.get_or_init(|| {
                let mut literal = self.inner.hf.clone();
                literal.set_encode_special_tokens(true);
                literal
            })
        };
        let encoding = tokenizer
            .encode_fast(text, false)
            .map_err(tokenizer_error("cannot encode"))?;
        Ok(encoding.get_ids().to_vec())
    }

    /// The text of `ids`; with `skip_special`, control tokens are left out.
    /// Unknown ids are skipped and invalid UTF-8 becomes U+FFFD.
    pub fn decode(&self, ids: &[u32], skip_special: bool) -> String {
        let mut bytes = Vec::new();
        for &id in ids {
            self.append_bytes(id, skip_special, &mut bytes);
        }
        let text = String::from_utf8_lossy(&bytes).into_owned();
        self.strip_leading_space(text)
    }

    /// The id of a token, given in its vocabulary form (`Ġthe`,
    /// `<|im_end|>`).
    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.inner.hf.token_to_id(token)
    }

    /// The vocabulary form of a token (`Ġthe`, `<|im_end|>`).
    pub fn id_to_token(&self, id: u32) -> Option<String> {
        self.inner.hf.id_to_token(id)
    }

    /// The bytes a token stands for; empty for control tokens and unknown
    /// ids.
    pub fn token_bytes(&self, id: u32) -> Vec<u8> {
        let mut bytes = Vec::new();
        self.append_bytes(id, true, &mut bytes);
        bytes
    }

    /// Whether `id` is a control (special) token.
    pub fn is_special(&self, id: u32) -> bool {
        self.inner.special.contains(&id)
    }

    /// The beginning-of-sequence token, if the model has one.
    pub fn bos_id(&self) -> Option<u32> {
        self.bos
    }

    /// The beginning-of-sequence token's text (for the chat template's
    /// `bos_token`).
    pub fn bos_token(&self) -> Option<String> {
        self.bos.and_then(|id| self.id_to_token(id))
    }

    /// Whether raw text (not a rendered chat template, which writes its own)
    /// wants [`Tokenizer::bos_id`] in front.
    pub fn add_bos(&self) -> bool {
        self.add_bos && self.bos.is_some()
    }

    /// Every token that ends generation: the end-of-sequence token first,
    /// then end-of-turn tokens (`<|im_end|>`, `<|eot_id|>`, `<|eom_id|>`,
    /// `<|endoftext|>`, ...) present as control tokens.
    pub fn eos_ids(&self) -> Vec<u32> {
        self.eos.clone()
    }

    /// The primary end-of-sequence token's text (for the chat template's
    /// `eos_token`).
    pub fn eos_token(&self) -> Option<String> {
        self.eos.first().and_then(|&id| self.id_to_token(id))
    }

    /// The number of token ids (highest id plus one).
    pub fn vocab_size(&self) -> usize {
        self.inner.vocab_size
    }

    /// An incremental decoder for generated ids.
    pub fn stream_decoder(&self, skip_special: bool) -> StreamDecoder {
        StreamDecoder::new(self, skip_special)
    }

    /// Appends the bytes of one token; control tokens give their text unless
    /// `skip_special`.
    fn append_bytes(&self, id: u32, skip_special: bool, out: &mut Vec<u8>) {
        let Some(token) = self.inner.hf.id_to_token(id) else {
            return;
        };
        if self.inner.special.contains(&id) {
            if !skip_special {
                out.extend_from_slice(token.as_bytes());
            }
            return;
        }
        if self.inner.verbatim.contains(&id) {
            // User-defined tokens are stored as their text.
            out.extend_from_slice(token.as_bytes());
            return;
        }
        match self.inner.decoding {
            Decoding::ByteLevel => {
                let start = out.len();
                for c in token.chars() {
                    match unicode_to_byte(c) {
                        Some(b) => out.push(b),
                        None => {
                            // Not byte-level text: the token's own bytes.
                            out.truncate(start);
                            out.extend_from_slice(token.as_bytes());
                            return;
                        }
                    }
                }
            }
            Decoding::Metaspace => {
                if let Some(b) = byte_fallback(&token) {
                    out.push(b);
                } else {
                    out.extend_from_slice(token.replace('\u{2581}', " ").as_bytes());
                }
            }
        }
    }

    /// SentencePiece decoding drops the space the encoder put in front of
    /// the text.
    fn strip_leading_space(&self, text: String) -> String {
        match (self.inner.decoding, text.strip_prefix(' ')) {
            (Decoding::Metaspace, Some(rest)) => rest.to_string(),
            _ => text,
        }
    }
}

fn push_unique(ids: &mut Vec<u32>, id: u32) {
    if !ids.contains(&id) {
        ids.push(id);
    }
}

/// Whether a pipeline component (or one inside a `Sequence`) has this type.
fn mentions_type(component: &Json, ty: &str) -> bool {
    if component["type"].as_str() == Some(ty) {
        return true;
    }
    ["decoders", "pretokenizers", "processors"]
        .iter()
        .filter_map(|key| component[*key].as_array())
        .flatten()
        .any(|c| mentions_type(c, ty))
}

/// The BOS a template post-processor puts first (Llama 3's
/// `<|begin_of_text|>`), if any.
fn post_processor_bos(processor: &Json, hf: &tokenizers::Tokenizer) -> Option<u32> {
    if processor["type"].as_str() == Some("TemplateProcessing") {
        let first = processor["single"].as_array()?.first()?;
        let name = first["SpecialToken"]["id"].as_str()?;
        return hf.token_to_id(name);
    }
    processor["processors"]
        .as_array()?
        .iter()
        .find_map(|p| post_processor_bos(p, hf))
}

/// `<0xAB>` byte-fallback tokens.
fn byte_fallback(token: &str) -> Option<u8> {
    let hex = token.strip_prefix("<0x")?.strip_suffix('>')?;
    if hex.len() != 2 {
        return None;
    }
    u8::from_str_radix(hex, 16).ok()
}

/// GPT-2's byte-to-unicode table, inverted: printable Latin-1 characters
/// stand for themselves; the other bytes were shifted to U+0100 and up, in
/// byte order.
fn unicode_to_byte(c: char) -> Option<u8> {
    static TABLE: OnceLock<std::collections::HashMap<char, u8>> = OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let printable = |b: u8| matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
        let mut shifted = 0u32;
        let mut map = std::collections::HashMap::with_capacity(256);
        for b in 0..=255u8 {
            let c = if printable(b) {
                char::from(b)
            } else {
                shifted += 1;
                // 0x100..=0x143: always a valid scalar value.
                char::from_u32(0xFF + shifted).unwrap_or(char::REPLACEMENT_CHARACTER)
            };
            map.insert(c, b);
        }
        map
    });
    table.get(&c).copied()
}

/// Turns token ids into text as they arrive, never splitting a UTF-8
/// character: bytes of an unfinished character (an emoji or CJK character
/// spread over several byte tokens) wait for the next ids.
#[derive(Debug, Clone)]
pub struct StreamDecoder {
    tokenizer: Tokenizer,
    skip_special: bool,
    /// Bytes of an unfinished character.
    pending: Vec<u8>,
    /// Whether text has been produced (SentencePiece drops the first
    /// space).
    started: bool,
}

impl StreamDecoder {
    /// A decoder for `tokenizer`'s ids; with `skip_special`, control tokens
    /// produce no text.
    pub fn new(tokenizer: &Tokenizer, skip_special: bool) -> Self {
        Self {
            tokenizer: tokenizer.clone(),
            skip_special,
            pending: Vec::new(),
            started: false,
        }
    }

    /// Adds one id; returns the text it completes, if any.
    pub fn push(&mut self, id: u32) -> Option<String> {
        self.tokenizer
            .append_bytes(id, self.skip_special, &mut self.pending);
        let mut text = String::new();
        loop {
            match std::str::from_utf8(&self.pending) {
                Ok(s) => {
                    text.push_str(s);
                    self.pending.clear();
                    break;
                }
                Err(e) => {
                    let valid = e.valid_up_to();
                    // Checked by from_utf8 up to `valid`.
                    text.push_str(&String::from_utf8_lossy(&self.pending[..valid]));
                    match e.error_len() {
                        Some(bad) => {
                            text.push(char::REPLACEMENT_CHARACTER);
                            self.pending.drain(..valid + bad);
                        }
                        None => {
                            // An unfinished character: wait for more bytes.
                            self.pending.drain(..valid);
                            break;
                        }
                    }
                }
            }
        }
        self.emit(text)
    }

    /// Ends the stream: bytes of a character that never finished come out
    /// as U+FFFD.
    pub fn finish(&mut self) -> Option<String> {
        let text = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        self.emit(text)
    }

    fn emit(&mut self, mut text: String) -> Option<String> {
        if text.is_empty() {
            return None;
        }
        if !self.started {
            self.started = true;
            if self.tokenizer.inner.decoding == Decoding::Metaspace && text.starts_with(' ') {
                text.remove(0);
                if text.is_empty() {
                    return None;
                }
            }
        }
        Some(text)
    }
}
