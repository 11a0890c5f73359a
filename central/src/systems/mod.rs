//! Building systems (power meters, lighting, lifts, access control, fire
//! panels): the pure logic ingest, the store and the API share (no I/O,
//! no clock reads; the lowest layer, docs/architecture.md).

pub mod current;
pub mod registers;
pub mod sim;
pub mod state;
