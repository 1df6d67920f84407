//! Deriving serde and schemars traits without depending on those crates.

/// Derives `Serialize`, `Deserialize` and `JsonSchema` for each item, using
/// the copies of serde and schemars that `weft_sdk` re-exports, so a plugin
/// needs only `weft-sdk` as a dependency. Items keep their doc comments
/// (which become schema descriptions) and `#[serde(...)]` /
/// `#[schemars(...)]` attributes.
///
/// ```ignore
/// weft_sdk::json_types! {
///     /// Arguments of `count_words`.
///     struct CountArgs {
///         /// The text to count.
///         text: String,
///         #[serde(default)]
///         max_words: Option<u32>,
///     }
///
///     #[derive(Debug)]
///     #[serde(rename_all = "lowercase")]
///     enum Unit { Words, Chars }
/// }
/// ```
///
/// A plugin that depends on `serde` and `schemars` itself can use the plain
/// derives instead.
#[macro_export]
macro_rules! json_types {
    ($($item:item)*) => {
        $(
            #[derive($crate::Serialize, $crate::Deserialize, $crate::JsonSchema)]
            #[serde(crate = "weft_sdk::serde")]
            #[schemars(crate = "weft_sdk::schemars")]
            $item
        )*
    };
}
