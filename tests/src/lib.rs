//! Cross-service scenarios over real gRPC on loopback; the tests live in `tests/`.
