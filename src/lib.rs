//! Workspace-level examples, integration tests and benchmarks live beside this crate.
