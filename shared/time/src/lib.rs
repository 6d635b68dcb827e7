//! Time as the suite's rules and records keep it: integer microseconds since the epoch in
//! UTC, a [`Clock`] that tests can move, and the conversion to `google.protobuf.Timestamp`
//! for the wire. Free of transport and storage, so domain code may use it.

mod clock;

pub use clock::{Clock, ManualClock};

/// Now, as integer microseconds since the epoch.
pub fn now_micros() -> i64 {
    let now = time::OffsetDateTime::now_utc();
    (now.unix_timestamp_nanos() / 1_000) as i64
}

/// Converts microseconds since the epoch into a protobuf timestamp.
pub fn timestamp(micros: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: micros.div_euclid(1_000_000),
        nanos: (micros.rem_euclid(1_000_000) * 1_000) as i32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_before_the_epoch_keep_positive_nanos() {
        let stamp = timestamp(-1);
        assert_eq!((stamp.seconds, stamp.nanos), (-1, 999_999_000));
    }
}
