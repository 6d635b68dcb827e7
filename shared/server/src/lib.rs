//! suite-server
