//! Request-level helpers every HTTP surface shares (REST API, WebSockets,
//! web UI): extractors whose rejections are API errors, the list format,
//! time ranges. They sit below the handlers and know nothing of the
//! application state, so any handler module may use them.

pub mod choice;
pub mod exists;
pub mod extract;
pub mod pagination;
pub mod time;
