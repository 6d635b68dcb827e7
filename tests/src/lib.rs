//! suite-scenarios
