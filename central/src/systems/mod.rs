//! Building systems (power meters, lighting, lifts, access control, fire
//! panels): the logic ingest and the API share that is not storage.

pub mod current;
pub mod registers;
pub mod sim;
pub mod state;
pub mod watch;
