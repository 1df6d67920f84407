//! Writing tool plugins (the `tool-plugin` world).
//!
//! Most tool plugins need only the [`tools!`](crate::tools) macro: each
//! tool is a plain function taking one argument struct that derives
//! `Deserialize` and `JsonSchema`, returning `Result<T, E>` where `T:
//! Serialize` and `E: Into<ToolError>` (`String`, `&str`, `ToolError`,
//! `std::io::Error`, or your own type with a `From` impl).
//!
//! * The tool's name is the function's name.
//! * Its description is the function's doc comment.
//! * Its input schema is derived by schemars from the argument struct
//!   (draft 2020-12, with exact 64-bit integer bounds, see
//!   [`crate::schema`]); field doc comments become property descriptions.
//! * Its output schema is derived from `T` when `T: JsonSchema`.
//! * Arguments are parsed with `serde_path_to_error`, so a bad argument
//!   yields `invalid-arguments("`.max_words`: invalid type: string \"x\",
//!   expected u32")`.
//!
//! For full control implement [`Guest`] yourself and call
//! [`export_tool!`](crate::export_tool).

use std::marker::PhantomData;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::{ToolError, ToolSpec};

/// Generated bindings of the `tool-plugin` world (exports only; imports and
/// types live in [`crate::bindings`]).
#[allow(missing_docs, unsafe_code, clippy::all)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "weft:plugins/tool-plugin@0.1.0",
        with: {
            "weft:plugins/types@0.1.0": crate::bindings::weft::plugins::types,
            "weft:plugins/logging@0.1.0": crate::bindings::weft::plugins::logging,
            "weft:plugins/state@0.1.0": crate::bindings::weft::plugins::state,
            "weft:plugins/config@0.1.0": crate::bindings::weft::plugins::config,
        },
        pub_export_macro: true,
        export_macro_name: "__export_tool_plugin",
        default_bindings_module: "weft_sdk::tool::bindings",
    });
}

pub use bindings::exports::weft::plugins::tool::Guest;

/// Exports `$ty` (which implements [`Guest`](crate::tool::Guest)) as this
/// component's `tool` interface. The [`tools!`](crate::tools) macro calls
/// this for you.
#[macro_export]
macro_rules! export_tool {
    ($ty:ident) => {
        $crate::tool::bindings::__export_tool_plugin!($ty with_types_in $crate::tool::bindings);
    };
}

/// The argument type of a tool declared without arguments: an empty object.
#[derive(Debug, Clone, Copy, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoArgs {}

/// What a tool function may return: `Result<T, E>` with `T: Serialize` and
/// `E: Into<ToolError>`.
pub trait ToolOutput {
    /// The success type, whose schema (if any) is the output schema.
    type Ok;
    /// Serializes the success value to JSON text, or converts the error.
    fn into_tool_result(self) -> Result<String, ToolError>;
}

impl<T: Serialize, E: Into<ToolError>> ToolOutput for Result<T, E> {
    type Ok = T;

    fn into_tool_result(self) -> Result<String, ToolError> {
        let value = self.map_err(Into::into)?;
        serde_json::to_string(&value)
            .map_err(|e| ToolError::Failed(format!("could not serialize the result: {e}")))
    }
}

/// Parses tool arguments (JSON text) into `T`. Errors are
/// [`ToolError::InvalidArguments`] naming the field path, e.g.
/// ``"`.max_words`: invalid type: string \"x\", expected u32"``.
pub fn parse_arguments<T: DeserializeOwned>(arguments: &str) -> Result<T, ToolError> {
    let mut de = serde_json::Deserializer::from_str(arguments);
    let value = serde_path_to_error::deserialize(&mut de)
        .map_err(|e| ToolError::InvalidArguments(describe_path_error(&e)))?;
    de.end()
        .map_err(|e| ToolError::InvalidArguments(e.to_string()))?;
    Ok(value)
}

fn describe_path_error(e: &serde_path_to_error::Error<serde_json::Error>) -> String {
    let inner = e.inner();
    let mut message = inner.to_string();
    // Data errors carry a position that only restates the path; syntax
    // errors keep it.
    if inner.is_data() {
        let suffix = format!(" at line {} column {}", inner.line(), inner.column());
        if let Some(stripped) = message.strip_suffix(&suffix) {
            message = stripped.to_string();
        }
    }
    let path = e.path().to_string();
    if path == "." || path.is_empty() {
        message
    } else {
        format!("`.{path}`: {message}")
    }
}

/// Joins doc-comment lines (`#[doc = " line"]`) into a description: one
/// leading space stripped per line, lines joined with `\n`, trimmed.
pub fn description_from_doc(lines: &[&str]) -> String {
    lines
        .iter()
        .map(|l| l.strip_prefix(' ').unwrap_or(l).trim_end())
        .collect::<Vec<_>>()
        .join("\n")
        .trim()
        .to_string()
}

/// Builds a tool's [`ToolSpec`] from its name, doc lines and types.
pub fn spec<A: JsonSchema>(name: &str, doc: &[&str], output_schema: Option<String>) -> ToolSpec {
    ToolSpec {
        name: name.to_string(),
        description: description_from_doc(doc),
        input_schema: crate::schema::schema_for::<A>().to_string(),
        output_schema,
    }
}

/// Probes at compile time whether a type implements [`JsonSchema`]
/// (autoref specialisation); used by [`tools!`](crate::tools).
#[doc(hidden)]
pub struct SchemaProbe<T: ?Sized>(PhantomData<T>);

impl<T: ?Sized> SchemaProbe<T> {
    #[doc(hidden)]
    pub fn new() -> Self {
        SchemaProbe(PhantomData)
    }
}

impl<T: ?Sized> Default for SchemaProbe<T> {
    fn default() -> Self {
        Self::new()
    }
}

#[doc(hidden)]
pub trait ViaJsonSchema {
    fn output_schema(&self) -> Option<String>;
}

impl<T: JsonSchema + ?Sized> ViaJsonSchema for &SchemaProbe<T> {
    fn output_schema(&self) -> Option<String> {
        let schema = crate::schema::schema_for::<T>();
        (!crate::schema::is_trivial(&schema)).then(|| schema.to_string())
    }
}

#[doc(hidden)]
pub trait ViaFallback {
    fn output_schema(&self) -> Option<String>;
}

impl<T: ?Sized> ViaFallback for SchemaProbe<T> {
    fn output_schema(&self) -> Option<String> {
        None
    }
}

/// Defines tool functions and exports them as this component's `tool`
/// interface.
///
/// ```ignore
/// use weft_sdk::{Deserialize, JsonSchema, Serialize};
///
/// #[derive(Deserialize, JsonSchema)]
/// struct Args {
///     /// The text to shout.
///     text: String,
/// }
///
/// #[derive(Serialize, JsonSchema)]
/// struct Shout {
///     text: String,
/// }
///
/// weft_sdk::tools! {
///     /// Upper-cases text.
///     fn shout(args: Args) -> Result<Shout, String> {
///         Ok(Shout { text: args.text.to_uppercase() })
///     }
///
///     /// Says hello; takes no arguments.
///     fn hello() -> Result<String, String> {
///         Ok("hello".into())
///     }
/// }
/// ```
///
/// Each function keeps its definition (call it from your unit tests). Only
/// doc comments are accepted as attributes. `list-tools` returns the tools
/// in declaration order; `call` dispatches by name and answers
/// `not-found` for an unknown name.
#[macro_export]
macro_rules! tools {
    ($(
        $(#[doc = $doc:literal])*
        fn $name:ident ( $($arg:ident : $argty:ty)? ) -> $ret:ty $body:block
    )*) => {
        $(
            $(#[doc = $doc])*
            fn $name($($arg: $argty)?) -> $ret $body
        )*

        #[doc(hidden)]
        struct __WeftTools;

        impl $crate::tool::Guest for __WeftTools {
            fn list_tools() -> ::std::vec::Vec<$crate::ToolSpec> {
                #[allow(unused_imports)]
                use $crate::tool::{ViaFallback as _, ViaJsonSchema as _};
                ::std::vec![$(
                    $crate::tool::spec::<$crate::__weft_arg_type!($($argty)?)>(
                        ::core::stringify!($name),
                        &[$($doc),*],
                        (&&$crate::tool::SchemaProbe::<
                            <$ret as $crate::tool::ToolOutput>::Ok
                        >::new()).output_schema(),
                    )
                ),*]
            }

            fn call(
                name: ::std::string::String,
                arguments: ::std::string::String,
            ) -> ::core::result::Result<::std::string::String, $crate::ToolError> {
                $(
                    if name == ::core::stringify!($name) {
                        let __args: $crate::__weft_arg_type!($($argty)?) =
                            $crate::tool::parse_arguments(&arguments)?;
                        return $crate::tool::ToolOutput::into_tool_result(
                            $name($({ let _ = ::core::stringify!($arg); __args })?)
                        );
                    }
                )*
                let _ = &arguments;
                ::core::result::Result::Err($crate::ToolError::NotFound(
                    ::std::format!("no tool named `{}` in this component", name),
                ))
            }
        }

        $crate::export_tool!(__WeftTools);
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __weft_arg_type {
    () => {
        $crate::tool::NoArgs
    };
    ($t:ty) => {
        $t
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[allow(dead_code)]
    #[derive(Debug, Deserialize, JsonSchema)]
    struct Args {
        text: String,
        max_words: u32,
        inner: Option<Inner>,
    }

    #[allow(dead_code)]
    #[derive(Debug, Deserialize, JsonSchema)]
    struct Inner {
        ids: Vec<u64>,
    }

    #[test]
    fn invalid_argument_names_the_path() {
        let e = parse_arguments::<Args>(r#"{"text": "a", "max_words": "x"}"#).unwrap_err();
        assert_eq!(
            e,
            ToolError::InvalidArguments(
                "`.max_words`: invalid type: string \"x\", expected u32".into()
            )
        );
        let e =
            parse_arguments::<Args>(r#"{"text": "a", "max_words": 1, "inner": {"ids": [1, -2]}}"#)
                .unwrap_err();
        assert_eq!(
            e,
            ToolError::InvalidArguments(
                "`.inner.ids[1]`: invalid value: integer `-2`, expected u64".into()
            )
        );
        let e = parse_arguments::<Args>(r#"{"text": "a"}"#).unwrap_err();
        assert_eq!(
            e,
            ToolError::InvalidArguments("missing field `max_words`".into())
        );
        let e = parse_arguments::<Args>("{").unwrap_err();
        assert!(matches!(e, ToolError::InvalidArguments(m) if m.contains("line 1")));
    }

    #[test]
    fn u64_arguments_are_exact() {
        let a = parse_arguments::<Args>(
            r#"{"text": "", "max_words": 0, "inner": {"ids": [18446744073709551615, 9007199254740993]}}"#,
        )
        .unwrap();
        assert_eq!(a.inner.unwrap().ids, vec![u64::MAX, 9_007_199_254_740_993]);
    }

    #[test]
    fn no_args_accepts_empty_object_only() {
        assert!(parse_arguments::<NoArgs>("{}").is_ok());
        assert!(parse_arguments::<NoArgs>(r#"{"x": 1}"#).is_err());
    }

    #[test]
    fn doc_lines_become_description() {
        assert_eq!(
            description_from_doc(&[" Counts words.", "", " Second paragraph. "]),
            "Counts words.\n\nSecond paragraph."
        );
    }

    #[test]
    #[allow(clippy::needless_borrow)]
    fn output_schema_probe() {
        #[allow(unused_imports)]
        use super::{ViaFallback as _, ViaJsonSchema as _};
        struct Opaque;
        assert!((&&SchemaProbe::<Opaque>::new()).output_schema().is_none());
        assert!(
            (&&SchemaProbe::<serde_json::Value>::new())
                .output_schema()
                .is_none()
        );
        let s = (&&SchemaProbe::<Vec<u64>>::new()).output_schema().unwrap();
        assert!(s.contains("18446744073709551615"));
    }
}
