//! **kv-memory** — a Weft tool plugin giving the model a small key-value
//! memory over the host's `state` interface: `memory_set`, `memory_get`,
//! `memory_list` and `memory_delete`.
//!
//! Values are strings (store JSON text for structured data). The host
//! scopes the state to this component and the current run, and enforces a
//! size limit; a write past it fails with a `failed` tool error.

use weft_sdk::{ToolError, state};

weft_sdk::json_types! {
    /// Arguments of `memory_set`.
    struct SetArgs {
        /// The key (non-empty).
        key: String,
        /// The value to store; replaces any previous value.
        value: String,
    }

    /// Arguments of `memory_get` and `memory_delete`.
    struct KeyArgs {
        /// The key.
        key: String,
    }

    /// Arguments of `memory_list`.
    struct ListArgs {
        /// Only keys starting with this prefix (default: all keys).
        #[serde(default)]
        prefix: String,
    }

    /// Result of `memory_set`.
    struct SetResult {
        /// The key written.
        key: String,
        /// True when a previous value was replaced.
        replaced: bool,
    }

    /// Result of `memory_get`.
    struct GetResult {
        /// The key read.
        key: String,
        /// Whether the key exists.
        found: bool,
        /// The value, or null when not found.
        value: Option<String>,
    }

    /// Result of `memory_list`.
    struct ListResult {
        /// Matching keys, sorted.
        keys: Vec<String>,
    }

    /// Result of `memory_delete`.
    struct DeleteResult {
        /// The key.
        key: String,
        /// True when the key existed.
        deleted: bool,
    }
}

fn check_key(key: &str) -> Result<(), ToolError> {
    if key.is_empty() {
        return Err(ToolError::InvalidArguments(
            "`.key`: must not be empty".into(),
        ));
    }
    Ok(())
}

weft_sdk::tools! {
    /// Stores a string value under a key in this run's memory, replacing
    /// any previous value.
    fn memory_set(args: SetArgs) -> Result<SetResult, ToolError> {
        check_key(&args.key)?;
        let replaced = state::get(&args.key).is_some();
        state::set(&args.key, &args.value)?;
        Ok(SetResult { key: args.key, replaced })
    }

    /// Reads the value stored under a key.
    fn memory_get(args: KeyArgs) -> Result<GetResult, ToolError> {
        let value = state::get(&args.key);
        Ok(GetResult { key: args.key, found: value.is_some(), value })
    }

    /// Lists the stored keys, optionally only those starting with a prefix.
    fn memory_list(args: ListArgs) -> Result<ListResult, ToolError> {
        Ok(ListResult { keys: state::keys(&args.prefix) })
    }

    /// Deletes a key; reports whether it existed.
    fn memory_delete(args: KeyArgs) -> Result<DeleteResult, ToolError> {
        let deleted = state::delete(&args.key);
        Ok(DeleteResult { key: args.key, deleted })
    }
}
