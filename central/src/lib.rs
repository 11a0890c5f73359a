//! Central as a library, so integration tests run the same code as the
//! binary.

pub mod store;
