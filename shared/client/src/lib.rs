//! suite-client
