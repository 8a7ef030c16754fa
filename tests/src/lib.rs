//! Workspace-level tests that run real node processes live in tests/.
