//! The Chat Completions wire format as plain serde structs, shared by the
//! client in this crate and the server in `weft-serve`.
//!
//! - [`request`]: what a client sends and a server reads. Reading is
//!   strict (a wrong JSON type is an error at that field's path); every
//!   field is optional, so the mapping names a missing one itself.
//! - [`response`]: what a server answers (whole or streamed) and a client
//!   reads. Reading is lenient: compatible servers differ, so a field of
//!   an unexpected JSON type counts as absent.
//!
//! `null` counts as absent everywhere. `serde_json::Value` remains only
//! where the content is open by nature: JSON Schemas, tool-call arguments
//! sent as objects, MiniMax's opaque `reasoning_details`, and usage
//! counters when reading (servers name their own; the profile says which
//! to read).

pub mod request;
pub mod response;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// Tool-call arguments: JSON text, as the format defines them, or (some
/// servers and clients) the arguments as a JSON value.
#[derive(Debug, Clone, PartialEq)]
pub enum Arguments {
    /// JSON text.
    Text(String),
    /// Any other JSON value (an object, usually).
    Json(Value),
}

impl Arguments {
    /// The arguments as JSON text: the text itself, or the value written
    /// compactly.
    pub fn into_text(self) -> String {
        match self {
            Arguments::Text(s) => s,
            Arguments::Json(v) => v.to_string(),
        }
    }
}

impl Serialize for Arguments {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Arguments::Text(t) => s.serialize_str(t),
            Arguments::Json(v) => v.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Arguments {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match Value::deserialize(d)? {
            Value::String(s) => Arguments::Text(s),
            other => Arguments::Json(other),
        })
    }
}
