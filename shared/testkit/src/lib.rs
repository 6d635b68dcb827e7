//! suite-testkit
