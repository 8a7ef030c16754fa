//! Fault injection (issue 15): what a chaos test records and checks (`history`), and the
//! loopback proxies through which it cuts, delays and drops peer traffic (`proxy`).

pub mod history;
pub mod money;
pub mod proxy;
pub mod schedule;
