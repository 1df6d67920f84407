//! The `tools!` macro, exercised natively through the generated `Guest` impl.
#![cfg(feature = "tool")]

use weft_sdk::tool::Guest;
use weft_sdk::{Serialize, ToolError};

weft_sdk::json_types! {
    /// Arguments of `count_words`.
    struct CountArgs {
        /// The text to count.
        text: String,
        /// Stop counting after this many words.
        max_words: Option<u32>,
        /// An exact 64-bit id echoed back.
        #[serde(default)]
        id: Option<u64>,
    }

    /// Result of `count_words`.
    #[derive(Debug)]
    struct Counts {
        words: u32,
        id: Option<u64>,
    }
}

struct NoSchema {
    n: u8,
}

impl Serialize for NoSchema {
    fn serialize<S: weft_sdk::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(self.n)
    }
}

weft_sdk::tools! {
    /// Counts the words of a text.
    ///
    /// Words are separated by whitespace.
    fn count_words(args: CountArgs) -> Result<Counts, String> {
        let n = args.text.split_whitespace().count() as u32;
        Ok(Counts { words: args.max_words.map_or(n, |m| n.min(m)), id: args.id })
    }

    /// Always fails.
    fn fail() -> Result<u8, ToolError> {
        Err(ToolError::Denied("nope".into()))
    }

    /// Returns a value without a schema.
    fn opaque() -> Result<NoSchema, &'static str> {
        Ok(NoSchema { n: 7 })
    }
}

#[test]
fn lists_tools_with_docs_and_schemas() {
    let tools = __WeftTools::list_tools();
    let names: Vec<_> = tools.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["count_words", "fail", "opaque"]);
    let cw = &tools[0];
    assert_eq!(
        cw.description,
        "Counts the words of a text.\n\nWords are separated by whitespace."
    );
    let input: serde_json::Value = serde_json::from_str(&cw.input_schema).unwrap();
    assert_eq!(input["type"], "object");
    assert_eq!(
        input["properties"]["text"]["description"],
        "The text to count."
    );
    assert_eq!(input["required"], serde_json::json!(["text"]));
    assert_eq!(
        input["properties"]["id"]["maximum"].as_u64(),
        Some(u64::MAX)
    );
    let output: serde_json::Value =
        serde_json::from_str(cw.output_schema.as_deref().unwrap()).unwrap();
    assert_eq!(output["properties"]["words"]["format"], "uint32");
    assert!(tools[1].output_schema.is_some());
    assert!(tools[2].output_schema.is_none());
    let empty: serde_json::Value = serde_json::from_str(&tools[1].input_schema).unwrap();
    assert_eq!(empty["type"], "object");
}

#[test]
fn dispatches_by_name() {
    let out = __WeftTools::call(
        "count_words".into(),
        r#"{"text": "a b c", "max_words": 2, "id": 18446744073709551615}"#.into(),
    )
    .unwrap();
    assert_eq!(out, r#"{"words":2,"id":18446744073709551615}"#);
    assert_eq!(
        __WeftTools::call("fail".into(), "{}".into()),
        Err(ToolError::Denied("nope".into()))
    );
    assert_eq!(
        __WeftTools::call("opaque".into(), "{}".into()).unwrap(),
        "7"
    );
    assert!(matches!(
        __WeftTools::call("missing".into(), "{}".into()),
        Err(ToolError::NotFound(_))
    ));
    assert_eq!(
        __WeftTools::call(
            "count_words".into(),
            r#"{"text": "a", "max_words": "x"}"#.into()
        ),
        Err(ToolError::InvalidArguments(
            "`.max_words`: invalid type: string \"x\", expected u32".into()
        ))
    );
}

#[test]
fn functions_stay_callable() {
    let c = count_words(CountArgs {
        text: "one two".into(),
        max_words: None,
        id: None,
    })
    .unwrap();
    assert_eq!(c.words, 2);
}
