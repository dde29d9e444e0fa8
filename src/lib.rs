//! A single-threaded Kafka broker: Kafka's wire protocol and Kafka's on-disk log format,
//! served from one mio event loop.

// `unsafe` only where a module allows it: storage::uring, which owns the io_uring.
#![deny(unsafe_code)]

pub mod apis;
pub mod broker;
pub mod config;
pub mod configs;
pub mod consumer_groups;
pub mod context;
pub mod coordinator;
pub mod logging;
pub mod protocol;
pub mod quotas;
pub mod security;
pub mod server;
pub mod storage;
pub mod topic_regex;
pub mod transactions;
