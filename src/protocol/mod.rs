//! The Kafka wire protocol: primitive types, the message declaration, headers, API specs
//! and the error codes. Pure: nothing here does I/O or knows about connections.

pub mod codec;
pub mod error;
pub mod header;
pub mod versions;
pub mod wire;

pub use codec::{DecodeError, Reader, Writer};
