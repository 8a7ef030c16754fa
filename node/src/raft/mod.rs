//! openraft wiring (being built).
