//! A rejection is data: a stable reason code (numbered in the schema, documented in
//! `proto/REASONS.md`) and a message a person understands, recorded in the log and
//! identical on every node.

use crate::pb::ReasonCode;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", code.as_str_name())]
pub struct Rejection {
    pub code: ReasonCode,
    pub message: String,
}

impl Rejection {
    pub fn new(code: ReasonCode, message: impl Into<String>) -> Rejection {
        Rejection { code, message: message.into() }
    }
}

/// Shorthand for building a rejection in a rule: `reject(ReasonCode::UnknownPlan, format!(…))`.
pub fn reject<T>(code: ReasonCode, message: impl Into<String>) -> Result<T, Rejection> {
    Err(Rejection::new(code, message))
}
