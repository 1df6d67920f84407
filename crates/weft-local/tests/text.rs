//! Text in and out of a local model: the tokenizer checked id for id against
//! an independent pure-Python byte-level BPE (`tests/reference/tokenize_ref.py`)
//! on the real SmolLM2 vocabulary, real chat templates rendered exactly as
//! transformers' Jinja2 renders them (`tests/reference/render_ref.py`, outputs
//! committed under `tests/templates/expected/`), and tool calls parsed back
//! out of generated text.
//!
//! Needs a Python with `gguf`, `regex` and `jinja2` (`WEFT_REF_PYTHON`, else
//! `python3`) and the SmolLM2 GGUF (`WEFT_SMOLLM2_GGUF`, else the cache path
//! `scripts/fetch-fixtures.sh` downloads to). `WEFT_BLESS_TEMPLATES=1`
//! rewrites the expected template outputs from Jinja2.

mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use support::{python, smollm2_path};

use serde_json::{Value as Json, json};
use weft_local::LoadError;
use weft_local::gguf::GgufFile;
use weft_local::template::{self, CHATML, ChatTemplate};
use weft_local::tokenizer::{GgufVocab, StreamDecoder, Tokenizer};
use weft_local::toolcall::{Parsed, ToolCallFormat};
use weft_model::{Message, Part, Reasoning, Role, ToolCall, ToolResult, ToolSpec};

/// SmolLM2-135M-Instruct's chat template, as its GGUF file's
/// `tokenizer.chat_template` holds it (also `tests/templates/`).
const SMOLLM2_TEMPLATE: &str = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Runs a reference script with `input` as JSON on stdin; returns its JSON
/// output.
fn run_reference(script: &str, args: &[&Path], input: &Json, needs: &str) -> Json {
    let script = manifest_dir().join("tests/reference").join(script);
    let mut child = Command::new(python())
        .arg(&script)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run `{}` (set WEFT_REF_PYTHON to a Python with {needs}): {e}",
                python()
            )
        });
    let mut stdin = child.stdin.take().expect("stdin");
    let body = serde_json::to_vec(input).expect("input JSON");
    let writer = std::thread::spawn(move || stdin.write_all(&body));
    let output = child.wait_with_output().expect("reference output");
    writer
        .join()
        .expect("writer thread")
        .expect("write to the reference");
    assert!(
        output.status.success(),
        "{} failed (it needs a Python with {needs}; set WEFT_REF_PYTHON): {}",
        script.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("reference output is JSON")
}

// ---------------------------------------------------------------------------
// Tokenizer
// ---------------------------------------------------------------------------

fn smollm2_file() -> &'static GgufFile {
    static FILE: OnceLock<GgufFile> = OnceLock::new();
    FILE.get_or_init(|| GgufFile::read(smollm2_path()).expect("read the SmolLM2 GGUF"))
}

fn smollm2() -> &'static Tokenizer {
    static TOKENIZER: OnceLock<Tokenizer> = OnceLock::new();
    TOKENIZER.get_or_init(|| Tokenizer::from_gguf(smollm2_file()).expect("SmolLM2 tokenizer"))
}

/// Texts and whether special tokens are parsed in them.
fn corpus() -> Vec<(String, bool)> {
    let texts = [
        "Hello, world! This is a test.",
        "I'm sure you'll see they've done it; we'd've known. DON'T SHOUT, it's FINE. 'quoted' words",
        "fn main() {\n    let v: Vec<u32> = (0..10).map(|x| x * 2).collect();\n    println!(\"{:?}\", v);\n}\n",
        "def f(x):\n\tif x > 0:\n\t\treturn x ** 2  # square\n\treturn -x\n\n\nclass A:\n    pass\n",
        "你好，世界！今天天气很好。日本語のテキストも。한국어 문장입니다.",
        "Emoji: 😀👍🏽 family 👨‍👩‍👧‍👦 flag 🇫🇷 heart ❤️ done.",
        "Numbers: 0 12 345 6789 3.14159 1,000,000 and ²³ Ⅻ ٣٤٥ 2024-09-15",
        "  leading and trailing   \n\n\n  \t mixed\r\nwindows\r\n",
        "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n",
        "a<|im_end|>b<|endoftext|>c<repo_name>d",
        "Café déjà vu — naïve façade, Ñandú, Łódź, Ελληνικά, русский текст.",
        "https://example.com/path?query=1&x=y#frag user@example.org",
        "tabs\tand\u{a0}nbsp\u{2003}em-space\u{200b}zero-width",
        "",
        " ",
        "\n",
        "        deeply indented",
    ];
    let mut corpus: Vec<(String, bool)> = texts.iter().map(|t| (t.to_string(), true)).collect();
    for t in [
        "<|im_start|>user\nhi<|im_end|>",
        "literal <|endoftext|> marker",
    ] {
        corpus.push((t.to_string(), false));
    }
    corpus
}

#[test]
fn tokenizer_matches_the_python_reference() {
    let tokenizer = smollm2();
    let corpus = corpus();
    let input: Vec<Json> = corpus
        .iter()
        .map(|(text, parse_special)| json!({ "text": text, "parse_special": parse_special }))
        .collect();
    let reference = run_reference(
        "tokenize_ref.py",
        &[smollm2_path().as_path()],
        &Json::Array(input),
        "gguf and regex",
    );
    let reference: Vec<Vec<u32>> = serde_json::from_value(reference).expect("id lists");
    assert_eq!(reference.len(), corpus.len());
    for ((text, parse_special), expected) in corpus.iter().zip(&reference) {
        let ids = tokenizer.encode(text, *parse_special).expect("encode");
        assert_eq!(
            &ids, expected,
            "ids differ for {text:?} (parse_special: {parse_special})"
        );
    }
}

#[test]
fn tokenizer_known_ids() {
    // Independent anchors: SmolLM2's own tokenizer gives these.
    let t = smollm2();
    assert_eq!(
        t.encode("Hello world! 123", true).unwrap(),
        [19556, 905, 17, 216, 33, 34, 35]
    );
    assert_eq!(
        t.encode("<|im_start|>user\nhi<|im_end|>", true).unwrap(),
        [1, 4093, 198, 6004, 2]
    );
    assert_eq!(t.vocab_size(), 49152);
    assert_eq!(t.bos_id(), Some(1));
    assert_eq!(t.bos_token().as_deref(), Some("<|im_start|>"));
    assert_eq!(t.eos_token().as_deref(), Some("<|im_end|>"));
    assert_eq!(t.eos_ids(), [2, 0]); // <|im_end|>, <|endoftext|>
    assert!(!t.add_bos());
    assert_eq!(t.token_to_id("<|im_start|>"), Some(1));
    assert_eq!(t.id_to_token(19556).as_deref(), Some("Hello"));
    assert_eq!(t.id_to_token(905).as_deref(), Some("Ġworld"));
    assert!(t.is_special(1) && !t.is_special(905));
    assert!(t.token_bytes(1).is_empty(), "control tokens have no bytes");
    assert_eq!(t.token_bytes(905), b" world");
    assert_eq!(t.token_bytes(198), b"\n");
    assert_eq!(t.id_to_token(u32::MAX), None);
    assert!(t.token_bytes(u32::MAX).is_empty());
}

#[test]
fn tokenizer_round_trips_and_streams() {
    let t = smollm2();
    let mut saw_split_character = false;
    for (text, parse_special) in corpus() {
        let ids = t.encode(&text, parse_special).unwrap();
        assert_eq!(
            t.decode(&ids, false),
            text,
            "decode(encode(x)) for {text:?}"
        );

        let mut stream = t.stream_decoder(false);
        let mut streamed = String::new();
        for &id in &ids {
            match stream.push(id) {
                Some(piece) => {
                    assert!(
                        !piece.contains('\u{FFFD}'),
                        "a split character in {piece:?}"
                    );
                    streamed.push_str(&piece);
                }
                None => saw_split_character |= !t.token_bytes(id).is_empty(),
            }
        }
        assert_eq!(stream.finish(), None, "nothing left over for {text:?}");
        assert_eq!(streamed, text, "streamed pieces for {text:?}");
    }
    assert!(
        saw_split_character,
        "the corpus should have characters spread over several tokens"
    );

    let chat = "<|im_start|>user\nhi<|im_end|>";
    let ids = t.encode(chat, true).unwrap();
    assert_eq!(t.decode(&ids, true), "user\nhi");
    let mut stream = StreamDecoder::new(t, true);
    let text: String = ids.iter().filter_map(|&id| stream.push(id)).collect();
    assert_eq!(text, "user\nhi");

    // An unfinished character at the end comes out as U+FFFD.
    let smile = t.encode("😀", true).unwrap();
    assert!(
        smile.len() > 1,
        "😀 is several byte tokens in this vocabulary"
    );
    let mut stream = t.stream_decoder(false);
    assert_eq!(stream.push(smile[0]), None);
    assert_eq!(stream.finish().as_deref(), Some("\u{FFFD}"));
}

fn small_vocab(model: &str, pre: Option<&str>) -> GgufVocab {
    GgufVocab {
        model: model.into(),
        pre: pre.map(str::to_string),
        tokens: vec!["a".into(), "b".into(), "ab".into(), "<|im_end|>".into()],
        merges: vec!["a b".into()],
        token_type: vec![1, 1, 1, 3],
        eos_id: Some(3),
        ..GgufVocab::default()
    }
}

#[test]
fn tokenizer_from_gguf_vocab_checks_its_input() {
    let t = Tokenizer::from_gguf_vocab(small_vocab("gpt2", None)).unwrap();
    assert_eq!(t.encode("ab<|im_end|>", true).unwrap(), [2, 3]);
    assert_eq!(t.eos_ids(), [3]);

    let err = |v: GgufVocab| match Tokenizer::from_gguf_vocab(v) {
        Err(LoadError::Tokenizer(m)) => m,
        other => panic!("expected a tokenizer error, got {other:?}"),
    };
    assert!(err(small_vocab("llama", None)).contains("SentencePiece"));
    assert!(err(small_vocab("bert", None)).contains("WordPiece"));
    assert!(err(small_vocab("gpt2", Some("made-up"))).contains("made-up"));
    let mut v = small_vocab("gpt2", None);
    v.merges.push("ab x".into());
    assert!(err(v).contains("cannot build"));
    let mut v = small_vocab("gpt2", None);
    v.token_type.pop();
    assert!(err(v).contains("token_type"));
    let mut v = small_vocab("gpt2", None);
    v.eos_id = Some(99);
    assert!(err(v).contains("eos"));
    let mut v = small_vocab("gpt2", None);
    v.merges = vec!["nospace".into()];
    assert!(err(v).contains("nospace"));
}

/// A byte-level `tokenizer.json` in the Hugging Face layout, over the 256
/// byte characters plus a few merges and chat markers.
fn small_tokenizer_json() -> Vec<u8> {
    let mut printable: Vec<u32> = (0x21..=0x7E)
        .chain(0xA1..=0xAC)
        .chain(0xAE..=0xFF)
        .collect();
    let mut chars: Vec<u32> = printable.clone();
    let mut n = 0;
    for b in 0..=255u32 {
        if !printable.contains(&b) {
            printable.push(b);
            chars.push(256 + n);
            n += 1;
        }
    }
    let mut pairs: Vec<(u32, char)> = printable
        .iter()
        .zip(&chars)
        .map(|(&b, &c)| (b, char::from_u32(c).unwrap()))
        .collect();
    pairs.sort();
    let mut vocab = serde_json::Map::new();
    for (b, c) in &pairs {
        vocab.insert(c.to_string(), json!(b));
    }
    vocab.insert("Ġh".into(), json!(256));
    vocab.insert("Ġhi".into(), json!(257));
    vocab.insert("<|im_start|>".into(), json!(258));
    vocab.insert("<|im_end|>".into(), json!(259));
    serde_json::to_vec(&json!({
        "version": "1.0",
        "added_tokens": [
            {"id": 258, "content": "<|im_start|>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
            {"id": 259, "content": "<|im_end|>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}
        ],
        "normalizer": null,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
        "post_processor": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false, "use_regex": true},
        "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
        "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
                  "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
                  "vocab": vocab, "merges": [["Ġ", "h"], ["Ġh", "i"]]}
    }))
    .unwrap()
}

#[test]
fn tokenizer_from_json() {
    let t = Tokenizer::from_json(&small_tokenizer_json()).unwrap();
    let ids = t.encode("<|im_start|>say hi ✓<|im_end|>", true).unwrap();
    assert_eq!(&ids[..1], [258]);
    assert!(ids.contains(&257), "the merges ran: {ids:?}");
    assert_eq!(ids.last(), Some(&259));
    assert_eq!(t.decode(&ids, false), "<|im_start|>say hi ✓<|im_end|>");
    assert_eq!(t.decode(&ids, true), "say hi ✓");
    assert_eq!(t.eos_ids(), [259]);
    assert_eq!(t.eos_token().as_deref(), Some("<|im_end|>"));
    assert_eq!(t.bos_id(), None);
    assert_eq!(t.vocab_size(), 260);
    let literal = t.encode("<|im_end|>", false).unwrap();
    assert!(literal.len() > 1 && !literal.contains(&259));
    let t = t
        .with_bos(Some(258))
        .with_eos([259, 258])
        .with_add_bos(true);
    assert_eq!(t.bos_token().as_deref(), Some("<|im_start|>"));
    assert_eq!(t.eos_ids(), [259, 258]);
    assert!(t.add_bos());
    assert!(matches!(
        Tokenizer::from_json(b"{not json"),
        Err(LoadError::Tokenizer(_))
    ));
}

// ---------------------------------------------------------------------------
// Chat templates
// ---------------------------------------------------------------------------

fn template_path(file: &str) -> PathBuf {
    manifest_dir().join("tests/templates").join(file)
}

fn read_template(file: &str) -> String {
    std::fs::read_to_string(template_path(file)).expect("template fixture")
}

fn weather_schema() -> &'static str {
    r#"{"type": "object", "properties": {"city": {"type": "string", "description": "City name"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}, "days": {"type": "integer", "minimum": 1, "default": 1}}, "required": ["city"]}"#
}

fn search_schema() -> &'static str {
    r#"{"type":"object","properties":{"query":{"type":"string"},"limit":{"type":"number","default":2.5}},"required":["query"]}"#
}

fn weather_tool() -> ToolSpec {
    ToolSpec {
        name: "get_weather".into(),
        description: "Current weather for a city.".into(),
        input_schema: weather_schema().into(),
        output_schema: None,
    }
}

fn all_tools() -> Vec<ToolSpec> {
    vec![
        weather_tool(),
        ToolSpec {
            name: "search".into(),
            description: "Search the web (résumé: 'quick').".into(),
            input_schema: search_schema().into(),
            output_schema: None,
        },
    ]
}

fn tools_json(tools: &[ToolSpec]) -> Json {
    Json::Array(
        tools
            .iter()
            .map(|t| {
                json!({"type": "function", "function": {
                    "name": t.name,
                    "description": t.description,
                    "parameters": serde_json::from_str::<Json>(&t.input_schema).unwrap(),
                }})
            })
            .collect(),
    )
}

/// The tools as transformers receives them, as JSON text with every key in
/// the order written (the schemas as the tools give them).
fn tools_text(tools: &[ToolSpec]) -> String {
    let items: Vec<String> = tools
        .iter()
        .map(|t| {
            format!(
                r#"{{"type": "function", "function": {{"name": {}, "description": {}, "parameters": {}}}}}"#,
                Json::String(t.name.clone()),
                Json::String(t.description.clone()),
                t.input_schema
            )
        })
        .collect();
    format!("[{}]", items.join(", "))
}

/// A conversation as weft messages, and as the dictionaries transformers'
/// templates receive (written by hand).
struct Conversation {
    messages: Vec<Message>,
    hf: &'static str,
}

fn assistant(parts: Vec<Part>) -> Message {
    Message::new(Role::Assistant, parts)
}

fn conversation(name: &str) -> Conversation {
    match name {
        "tools" => Conversation {
            messages: vec![
                Message::system("You are a terse assistant."),
                Message::user("What's the weather in Paris and in Tōkyō? Answer in °C."),
                assistant(vec![
                    Part::Text("Let me check both.".into()),
                    Part::ToolCall(ToolCall::new(
                        "call_a",
                        "get_weather",
                        r#"{"city": "Paris", "unit": "celsius"}"#,
                    )),
                    Part::ToolCall(ToolCall::new(
                        "call_b",
                        "get_weather",
                        r#"{"city":"東京","unit":"celsius","days":3}"#,
                    )),
                ]),
                Message::tool_results([
                    ToolResult::ok("call_a", r#"{"temp": 18.5, "sky": "cloudy"}"#),
                    ToolResult::ok("call_b", r#"{"temp": 24, "sky": "sunny ☀"}"#),
                ]),
                Message::assistant("Paris: 18.5 °C, cloudy. Tōkyō: 24 °C, sunny ☀."),
                Message::user("Thanks! <b>bold</b> & \"quotes\""),
            ],
            hf: r#"[
                {"role": "system", "content": "You are a terse assistant."},
                {"role": "user", "content": "What's the weather in Paris and in Tōkyō? Answer in °C."},
                {"role": "assistant", "content": "Let me check both.", "tool_calls": [
                    {"type": "function", "id": "call_a", "function": {"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}},
                    {"type": "function", "id": "call_b", "function": {"name": "get_weather", "arguments": {"city": "東京", "unit": "celsius", "days": 3}}}]},
                {"role": "tool", "content": "{\"temp\": 18.5, \"sky\": \"cloudy\"}", "tool_call_id": "call_a", "name": "get_weather"},
                {"role": "tool", "content": "{\"temp\": 24, \"sky\": \"sunny ☀\"}", "tool_call_id": "call_b", "name": "get_weather"},
                {"role": "assistant", "content": "Paris: 18.5 °C, cloudy. Tōkyō: 24 °C, sunny ☀."},
                {"role": "user", "content": "Thanks! <b>bold</b> & \"quotes\""}
            ]"#,
        },
        "single" => Conversation {
            messages: vec![
                Message::system("You are a helpful assistant.\n"),
                Message::user("  Weather in Paris?  "),
                assistant(vec![Part::ToolCall(ToolCall::new(
                    "call_1",
                    "get_weather",
                    r#"{"city": "Paris"}"#,
                ))]),
                Message::tool_results([ToolResult::ok("call_1", r#"{"temp": 18}"#)]),
                Message::assistant("It is 18 °C in Paris."),
                Message::user("And tomorrow?"),
            ],
            hf: r#"[
                {"role": "system", "content": "You are a helpful assistant.\n"},
                {"role": "user", "content": "  Weather in Paris?  "},
                {"role": "assistant", "content": "", "tool_calls": [
                    {"type": "function", "id": "call_1", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]},
                {"role": "tool", "content": "{\"temp\": 18}", "tool_call_id": "call_1", "name": "get_weather"},
                {"role": "assistant", "content": "It is 18 °C in Paris."},
                {"role": "user", "content": "And tomorrow?"}
            ]"#,
        },
        "think-open" => Conversation {
            messages: vec![
                Message::system("Be brief."),
                Message::user("Weather in Paris?"),
                assistant(vec![
                    Part::Reasoning(Reasoning {
                        text: "The user wants the weather.\nCall the tool.".into(),
                        ..Reasoning::default()
                    }),
                    Part::ToolCall(ToolCall::new(
                        "call_1",
                        "get_weather",
                        r#"{"city":"Paris"}"#,
                    )),
                ]),
                Message::tool_results([ToolResult::ok("call_1", r#"{"temp": 18}"#)]),
            ],
            hf: r#"[
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Weather in Paris?"},
                {"role": "assistant", "content": "", "reasoning_content": "The user wants the weather.\nCall the tool.", "tool_calls": [
                    {"type": "function", "id": "call_1", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]},
                {"role": "tool", "content": "{\"temp\": 18}", "tool_call_id": "call_1", "name": "get_weather"}
            ]"#,
        },
        "think-done" => Conversation {
            messages: vec![
                Message::system("Be brief."),
                Message::user("Weather in Paris?"),
                assistant(vec![
                    Part::Reasoning(Reasoning {
                        text: "The user wants the weather.\nCall the tool.".into(),
                        ..Reasoning::default()
                    }),
                    Part::ToolCall(ToolCall::new(
                        "call_1",
                        "get_weather",
                        r#"{"city":"Paris"}"#,
                    )),
                ]),
                Message::tool_results([ToolResult::ok("call_1", r#"{"temp": 18}"#)]),
                assistant(vec![
                    Part::Reasoning(Reasoning {
                        text: "18 degrees.".into(),
                        ..Reasoning::default()
                    }),
                    Part::Text("18 °C.".into()),
                ]),
                Message::user("And tomorrow?"),
            ],
            hf: r#"[
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Weather in Paris?"},
                {"role": "assistant", "content": "", "reasoning_content": "The user wants the weather.\nCall the tool.", "tool_calls": [
                    {"type": "function", "id": "call_1", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]},
                {"role": "tool", "content": "{\"temp\": 18}", "tool_call_id": "call_1", "name": "get_weather"},
                {"role": "assistant", "content": "18 °C.", "reasoning_content": "18 degrees."},
                {"role": "user", "content": "And tomorrow?"}
            ]"#,
        },
        "plain" => Conversation {
            messages: vec![
                Message::user("Hi there!"),
                Message::assistant("Hello! How can I help?"),
                Message::user("Write a haiku about Rust 🦀."),
            ],
            hf: r#"[
                {"role": "user", "content": "Hi there!"},
                {"role": "assistant", "content": "Hello! How can I help?"},
                {"role": "user", "content": "Write a haiku about Rust 🦀."}
            ]"#,
        },
        "plain-system" => Conversation {
            messages: vec![
                Message::system("You are Weft's test model."),
                Message::user("Hi there!"),
                Message::assistant("Hello! How can I help?"),
                Message::user("Write a haiku about Rust 🦀."),
            ],
            hf: r#"[
                {"role": "system", "content": "You are Weft's test model."},
                {"role": "user", "content": "Hi there!"},
                {"role": "assistant", "content": "Hello! How can I help?"},
                {"role": "user", "content": "Write a haiku about Rust 🦀."}
            ]"#,
        },
        other => panic!("no conversation {other}"),
    }
}

/// One rendering checked against Jinja2.
struct Case {
    name: &'static str,
    /// A file under `tests/templates/`, or `builtin:chatml`.
    template: &'static str,
    conversation: &'static str,
    tools: Vec<ToolSpec>,
    add_generation_prompt: bool,
    bos: &'static str,
    eos: &'static str,
    extra: Json,
}

const QWEN25: &str = "Qwen-Qwen2.5-7B-Instruct.jinja";
const QWEN3: &str = "Qwen-Qwen3-0.6B.jinja";
const LLAMA31: &str = "meta-llama-Llama-3.1-8B-Instruct.jinja";
const LLAMA32: &str = "meta-llama-Llama-3.2-3B-Instruct.jinja";
const CHATML_REAL: &str = "teknium-OpenHermes-2.5-Mistral-7B.jinja";
const SMOLLM2: &str = "HuggingFaceTB-SmolLM2-135M-Instruct.jinja";
const BUILTIN: &str = "builtin:chatml";
/// `strftime_now` answers for this date in every case.
const DATE: (i32, u32, u32) = (2024, 9, 15);

fn cases() -> Vec<Case> {
    let case = |name, template, conversation, tools: Vec<ToolSpec>, bos, eos| Case {
        name,
        template,
        conversation,
        tools,
        add_generation_prompt: true,
        bos,
        eos,
        extra: json!({}),
    };
    let qwen = |name, template, conversation, tools| {
        case(name, template, conversation, tools, "", "<|im_end|>")
    };
    let llama = |name, template, conversation, tools| {
        case(
            name,
            template,
            conversation,
            tools,
            "<|begin_of_text|>",
            "<|eot_id|>",
        )
    };
    vec![
        qwen("qwen2.5-tools", QWEN25, "tools", all_tools()),
        qwen("qwen2.5-plain", QWEN25, "plain", vec![]),
        qwen("qwen3-tools-thinking", QWEN3, "think-open", all_tools()),
        qwen("qwen3-tools-answered", QWEN3, "think-done", all_tools()),
        Case {
            extra: json!({"enable_thinking": false}),
            ..qwen("qwen3-no-thinking", QWEN3, "plain-system", vec![])
        },
        llama("llama3.1-tools", LLAMA31, "single", vec![weather_tool()]),
        llama("llama3.1-plain", LLAMA31, "plain-system", vec![]),
        llama("llama3.2-tools", LLAMA32, "single", all_tools()),
        llama("llama3.2-plain", LLAMA32, "plain", vec![]),
        qwen("chatml", CHATML_REAL, "plain-system", vec![]),
        case(
            "smollm2",
            SMOLLM2,
            "plain",
            vec![],
            "<|im_start|>",
            "<|im_end|>",
        ),
        Case {
            add_generation_prompt: false,
            ..case(
                "smollm2-system",
                SMOLLM2,
                "plain-system",
                vec![],
                "<|im_start|>",
                "<|im_end|>",
            )
        },
        qwen("builtin-chatml-tools", BUILTIN, "tools", all_tools()),
        Case {
            add_generation_prompt: false,
            ..qwen("builtin-chatml-plain", BUILTIN, "plain-system", vec![])
        },
    ]
}

fn template_source(case: &Case) -> String {
    if case.template == BUILTIN {
        CHATML.to_string()
    } else {
        read_template(case.template)
    }
}

fn render(case: &Case) -> Result<String, LoadError> {
    let mut template = ChatTemplate::new(
        &template_source(case),
        case.bos.to_string(),
        case.eos.to_string(),
    )?
    .with_date(DATE.0, DATE.1, DATE.2)?;
    if let Json::Object(extra) = &case.extra {
        for (k, v) in extra {
            template = template.with_variable(k, v);
        }
    }
    template.render(
        &conversation(case.conversation).messages,
        &case.tools,
        case.add_generation_prompt,
    )
}

fn expected_path(case: &Case) -> PathBuf {
    manifest_dir()
        .join("tests/templates/expected")
        .join(format!("{}.txt", case.name))
}

/// Renders every case with Jinja2 (hand-written dictionaries, not ours).
fn jinja2_outputs(cases: &[Case]) -> Vec<String> {
    let builtin = Path::new(env!("CARGO_TARGET_TMPDIR")).join("weft-local-chatml.jinja");
    std::fs::write(&builtin, CHATML).unwrap();
    let input: Vec<Json> = cases
        .iter()
        .map(|c| {
            let path = if c.template == BUILTIN {
                builtin.clone()
            } else {
                template_path(c.template)
            };
            // JSON text, so Python reads the keys in the order written.
            json!({
                "template": path,
                "messages": conversation(c.conversation).hf,
                "tools": if c.tools.is_empty() { Json::Null } else { Json::String(tools_text(&c.tools)) },
                "add_generation_prompt": c.add_generation_prompt,
                "bos_token": c.bos,
                "eos_token": c.eos,
                "date": format!("{:04}-{:02}-{:02}", DATE.0, DATE.1, DATE.2),
                "extra": c.extra,
            })
        })
        .collect();
    let out = run_reference("render_ref.py", &[], &Json::Array(input), "jinja2");
    serde_json::from_value(out).expect("a list of strings")
}

#[test]
fn chat_templates_render_like_transformers() {
    let mut failures = Vec::new();
    for case in cases() {
        let path = expected_path(&case);
        let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (run with WEFT_BLESS_TEMPLATES=1 to write it)",
                path.display()
            )
        });
        let got = render(&case).unwrap_or_else(|e| panic!("{}: {e}", case.name));
        if got != expected {
            failures.push(format!(
                "{}:\n--- expected\n{expected}\n--- got\n{got}\n---",
                case.name
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn expected_template_outputs_come_from_jinja2() {
    let cases = cases();
    let outputs = jinja2_outputs(&cases);
    let bless = std::env::var_os("WEFT_BLESS_TEMPLATES").is_some();
    for (case, output) in cases.iter().zip(outputs) {
        let path = expected_path(case);
        if bless {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &output).unwrap();
            continue;
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!("{}: {e} (WEFT_BLESS_TEMPLATES=1 writes it)", path.display())
        });
        assert_eq!(
            committed, output,
            "{} differs from Jinja2's rendering",
            case.name
        );
    }
}

#[test]
fn messages_become_transformers_dictionaries() {
    for name in [
        "tools",
        "single",
        "think-open",
        "think-done",
        "plain",
        "plain-system",
    ] {
        let c = conversation(name);
        let ours: Json =
            serde_json::from_str(&template::hf_messages_json(&c.messages).unwrap()).unwrap();
        let expected: Json = serde_json::from_str(c.hf).unwrap();
        assert_eq!(ours, expected, "conversation {name}");
    }
    let ours: Json = serde_json::from_str(&template::hf_tools_json(&all_tools()).unwrap()).unwrap();
    assert_eq!(ours, tools_json(&all_tools()));
    // Key order is kept as written (tojson shows it).
    let text = template::hf_tools_json(&all_tools()).unwrap();
    let p = |s: &str| text.find(s).unwrap();
    assert!(
        p("\"type\":\"object\"") < p("\"properties\"") && p("\"properties\"") < p("\"required\"")
    );
    assert!(p("\"city\"") < p("\"unit\"") && p("\"unit\"") < p("\"days\""));
}

#[test]
fn smollm2_template_is_the_fixture_metadata() {
    assert_eq!(
        smollm2_file().get_str("tokenizer.chat_template"),
        Some(SMOLLM2_TEMPLATE)
    );
    assert_eq!(read_template(SMOLLM2), SMOLLM2_TEMPLATE);
}

#[test]
fn template_errors_are_reported() {
    let bad = ChatTemplate::new("{% if %}", String::new(), String::new());
    assert!(matches!(bad, Err(LoadError::Template(_))), "{bad:?}");

    // Llama 3.1 raises for several calls in one turn.
    let llama = ChatTemplate::new(&read_template(LLAMA31), String::new(), String::new()).unwrap();
    let err = llama
        .render(&conversation("tools").messages, &[weather_tool()], true)
        .unwrap_err();
    assert!(
        err.to_string().contains("only supports single tool-calls"),
        "{err}"
    );

    // A tool whose schema is not JSON is named.
    let chatml = ChatTemplate::chatml(String::new(), String::new()).unwrap();
    let mut tool = weather_tool();
    tool.input_schema = "{oops".into();
    let err = chatml
        .render(&[Message::user("hi")], &[tool], true)
        .unwrap_err();
    assert!(err.to_string().contains("get_weather"), "{err}");

    assert!(
        ChatTemplate::chatml(String::new(), String::new())
            .unwrap()
            .with_date(2023, 2, 29)
            .is_err()
    );
}

#[test]
fn tojson_matches_json_dumps() {
    let render = |src: &str, value: Json| {
        ChatTemplate::new(src, String::new(), String::new())
            .unwrap()
            .with_variable("x", value)
            .render(&[], &[], false)
            .unwrap()
    };
    let v = json!({"b": [1, 2.5, 1e-7, true, null], "a": "é\n\"<>&'", "e": {}, "l": []});
    assert_eq!(
        render("{{ x | tojson }}", v.clone()),
        r#"{"a": "é\n\"<>&'", "b": [1, 2.5, 1e-07, true, null], "e": {}, "l": []}"#
    );
    assert_eq!(
        render("{{ x | tojson(indent=2) }}", json!({"k": [1, {"z": 0}]})),
        "{\n  \"k\": [\n    1,\n    {\n      \"z\": 0\n    }\n  ]\n}"
    );
    assert_eq!(
        render("{{ x | tojson(ensure_ascii=true) }}", json!("é😀")),
        r#""\u00e9\ud83d\ude00""#
    );
    assert_eq!(
        render(
            "{{ x | tojson(separators=(',', ':'), sort_keys=true) }}",
            json!({"b": 1, "a": [1, 2]})
        ),
        r#"{"a":[1,2],"b":1}"#
    );
    assert_eq!(
        render("{{ strftime_now('%d %b %Y') }}", Json::Null).len(),
        11
    );
    // Loop controls and Python methods, as templates use them.
    assert_eq!(
        render(
            "{% for i in x %}{% if i == 3 %}{% break %}{% endif %}{% if i == 1 %}{% continue %}{% endif %}{{ i }}{% endfor %}",
            json!([0, 1, 2, 3, 4])
        ),
        "02"
    );
    assert_eq!(
        render(
            "{% for k, v in x.items() %}{{ k }}={{ v | trim }};{% endfor %}",
            json!({"a": " 1 "})
        ),
        "a=1;"
    );
    assert_eq!(
        render(
            "{% if x.strip().split(' ')[-1].lstrip('<').startswith('b') %}yes{% endif %}",
            json!("  a <b  ")
        ),
        "yes"
    );
}

// ---------------------------------------------------------------------------
// Tool calls
// ---------------------------------------------------------------------------

#[test]
fn formats_are_detected_from_the_real_templates() {
    assert_eq!(
        ToolCallFormat::detect(&read_template(QWEN25)),
        ToolCallFormat::QwenXml
    );
    assert_eq!(
        ToolCallFormat::detect(&read_template(QWEN3)),
        ToolCallFormat::QwenXml
    );
    assert_eq!(ToolCallFormat::detect(CHATML), ToolCallFormat::QwenXml);
    assert_eq!(
        ToolCallFormat::detect(&read_template(LLAMA31)),
        ToolCallFormat::Llama3Json
    );
    assert_eq!(
        ToolCallFormat::detect(&read_template(LLAMA32)),
        ToolCallFormat::Llama3Json
    );
    assert_eq!(
        ToolCallFormat::detect(&read_template(CHATML_REAL)),
        ToolCallFormat::None
    );
    assert_eq!(
        ToolCallFormat::detect(SMOLLM2_TEMPLATE),
        ToolCallFormat::None
    );
}

fn call(id: &str, name: &str, arguments: &str) -> ToolCall {
    ToolCall::new(id, name, arguments)
}

#[test]
fn qwen_tool_calls() {
    let f = ToolCallFormat::QwenXml;
    let p = f.parse(
        "Let me check.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"n\": 12345678901234567890, \"x\": 1.50}}\n</tool_call>\n<tool_call>\n{\"name\": \"search\", \"arguments\": {\"query\": \"a \\\"b\\\"  c\"}}\n</tool_call>",
    );
    assert_eq!(p.text, "Let me check.");
    assert_eq!(p.reasoning, None);
    assert_eq!(
        p.tool_calls,
        [
            call(
                "call_0",
                "get_weather",
                r#"{"city":"Paris","n":12345678901234567890,"x":1.50}"#
            ),
            call("call_1", "search", r#"{"query":"a \"b\"  c"}"#),
        ]
    );
    assert!(p.malformed.is_empty());

    // Qwen3: reasoning first; arguments given as a JSON string; no arguments.
    let p = f.parse(
        "<think>\nThe user wants weather.\n</think>\n\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": \"{\\\"city\\\": \\\"Paris\\\"}\"}\n</tool_call><tool_call>{\"name\": \"now\"}</tool_call>",
    );
    assert_eq!(p.reasoning.as_deref(), Some("The user wants weather."));
    assert_eq!(p.text, "");
    assert_eq!(
        p.tool_calls,
        [
            call("call_0", "get_weather", r#"{"city":"Paris"}"#),
            call("call_1", "now", "{}")
        ]
    );

    // Malformed JSON stays in the text and is reported.
    let p = f.parse("Trying.\n<tool_call>\n{\"name\": \"f\", \"arguments\": {oops}}\n</tool_call>");
    assert!(p.tool_calls.is_empty());
    assert_eq!(
        p.text,
        "Trying.\n<tool_call>\n{\"name\": \"f\", \"arguments\": {oops}}\n</tool_call>"
    );
    assert_eq!(p.malformed.len(), 1);
    assert!(
        p.malformed[0].reason.contains("not JSON"),
        "{:?}",
        p.malformed
    );
    assert!(p.malformed[0].raw.starts_with("<tool_call>"));

    // One good call, one without a name.
    let p = f.parse("<tool_call>{\"name\": \"a\", \"arguments\": {}}</tool_call> and <tool_call>{\"arguments\": {}}</tool_call>");
    assert_eq!(p.tool_calls, [call("call_0", "a", "{}")]);
    assert_eq!(p.text, "and <tool_call>{\"arguments\": {}}</tool_call>");
    assert!(p.malformed[0].reason.contains("name"));

    // A call cut off before its closing tag still counts if its JSON is whole.
    let p = f.parse("<tool_call>\n{\"name\": \"a\", \"arguments\": {\"k\": [1, 2]}}\n");
    assert_eq!(p.tool_calls, [call("call_0", "a", r#"{"k":[1,2]}"#)]);
    let p = f.parse("<tool_call>\n{\"name\": \"a\", \"argu");
    assert!(p.tool_calls.is_empty() && p.malformed[0].reason.contains("unclosed"));

    // Plain text passes through untouched.
    let p = f.parse("  Just text, with <b>tags</b>.\n");
    assert_eq!(
        p,
        Parsed {
            text: "  Just text, with <b>tags</b>.\n".into(),
            ..Parsed::default()
        }
    );
}

#[test]
fn reasoning_blocks() {
    let f = ToolCallFormat::None;
    let p = f.parse("<think>\nstep 1\nstep 2\n</think>\n\nThe answer is 4.");
    assert_eq!(p.reasoning.as_deref(), Some("step 1\nstep 2"));
    assert_eq!(p.text, "The answer is 4.");
    // The prompt may have opened the block already (DeepSeek-R1 distills).
    let p = f.parse("thinking...\n</think>\n\nDone.");
    assert_eq!(p.reasoning.as_deref(), Some("thinking..."));
    assert_eq!(p.text, "Done.");
    // Cut off while thinking.
    let p = f.parse("<think>\nstill going");
    assert_eq!(p.reasoning.as_deref(), Some("still going"));
    assert_eq!(p.text, "");
    // Qwen3 with thinking disabled: an empty block.
    let p = ToolCallFormat::QwenXml.parse("<think>\n\n</think>\n\nHi!");
    assert_eq!(p.reasoning.as_deref(), Some(""));
    assert_eq!(p.text, "Hi!");
}

#[test]
fn llama_tool_calls() {
    let f = ToolCallFormat::Llama3Json;
    let p = f.parse(r#"{"name": "get_weather", "parameters": {"city": "Paris", "days": 2}}"#);
    assert_eq!(
        p.tool_calls,
        [call(
            "call_0",
            "get_weather",
            r#"{"city":"Paris","days":2}"#
        )]
    );
    assert_eq!(p.text, "");

    let p = f.parse("<|python_tag|>{\"name\": \"a\", \"parameters\": {}}; {\"name\": \"b\", \"arguments\": {\"x\": [1, 2]}}\n");
    assert_eq!(
        p.tool_calls,
        [
            call("call_0", "a", "{}"),
            call("call_1", "b", r#"{"x":[1,2]}"#)
        ]
    );

    // JSON that is not a call (a JSON-mode answer) is text.
    let p = f.parse(r#"{"answer": 42}"#);
    assert!(p.tool_calls.is_empty() && p.malformed.is_empty());
    assert_eq!(p.text, r#"{"answer": 42}"#);

    // Text is text.
    let p = f.parse("The weather is fine.");
    assert_eq!(p.text, "The weather is fine.");
    assert!(p.tool_calls.is_empty());

    // A broken call stays text and is reported.
    let p = f.parse(r#"{"name": "get_weather", "parameters": {"city": "Par"#);
    assert!(p.tool_calls.is_empty());
    assert_eq!(
        p.text,
        r#"{"name": "get_weather", "parameters": {"city": "Par"#
    );
    assert_eq!(p.malformed.len(), 1);
    let p = f.parse(r#"{"name": "f", "parameters": {}} and some words"#);
    assert!(p.tool_calls.is_empty() && p.malformed.len() == 1);
    let p = f.parse(r#"{"name": "f", "parameters": "not an object"}"#);
    assert!(p.tool_calls.is_empty() && p.malformed.len() == 1);
}

#[test]
fn streaming_holds_back_possible_calls() {
    let q = ToolCallFormat::QwenXml;
    assert!(!q.may_be_call_prefix("Hello"));
    assert!(q.may_be_call_prefix("Hello <tool"));
    assert_eq!(q.streamable_len("Hello <tool"), 6);
    assert!(q.may_be_call_prefix("Hello <tool_call>\n{\"na"));
    assert_eq!(q.streamable_len("Hello <tool_call>\n{"), 6);
    assert!(!q.may_be_call_prefix("a < b"));
    assert_eq!(q.streamable_len("x <"), 2);

    let l = ToolCallFormat::Llama3Json;
    assert!(l.may_be_call_prefix(""));
    assert!(l.may_be_call_prefix("  {\"name\""));
    assert!(l.may_be_call_prefix("<|python"));
    assert!(!l.may_be_call_prefix("Sure, "));
    assert_eq!(l.streamable_len("Sure, "), 6);

    assert!(!ToolCallFormat::None.may_be_call_prefix("<tool_call>"));
}
