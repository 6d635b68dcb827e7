//! suite-telemetry
