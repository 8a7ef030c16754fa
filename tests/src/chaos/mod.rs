//! Fault injection (issue 15): what a chaos test records and checks (`history`).

pub mod history;
