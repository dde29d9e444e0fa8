//! The Kafka wire protocol: primitive types, headers, the table of supported APIs and the
//! error codes. Pure: nothing here does I/O or knows about connections.

pub mod codec;
pub mod error;
pub mod header;
pub mod versions;

pub use codec::{DecodeError, Reader, Writer};
