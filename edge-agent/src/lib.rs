//! The edge agent as a library, so integration tests drive the same stages
//! the binary runs. One module per pipeline stage, in pipeline order.

pub mod decode;
pub mod source;
