//! Human approval of consequential actions (`weft:plugins/approval`).
//!
//! The host already asks for approval of tool calls where the policy says
//! so; use this for actions the policy cannot see.

use crate::ToolCall;

/// Asks whether `call` may run; `reason` tells the human why. Returns true
/// when approved.
pub fn request(call: &ToolCall, reason: &str) -> bool {
    crate::bindings::weft::plugins::approval::request(call, reason)
}
