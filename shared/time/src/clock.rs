use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

/// Where a service reads the time for its rules (due dates, windows, grace periods). The
/// system clock in production; tests hold a [`ManualClock`] and move it.
#[derive(Clone)]
pub struct Clock(Source);

#[derive(Clone)]
enum Source {
    System,
    Manual(Arc<AtomicI64>),
}

/// Moves the [`Clock`] it was made with.
#[derive(Clone)]
pub struct ManualClock(Arc<AtomicI64>);

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self(Source::System)
    }

    /// A clock that stands at `start_micros` until moved with the returned handle.
    pub fn manual(start_micros: i64) -> (Self, ManualClock) {
        let now = Arc::new(AtomicI64::new(start_micros));
        (Self(Source::Manual(now.clone())), ManualClock(now))
    }

    /// Now, in microseconds since the epoch.
    pub fn now_micros(&self) -> i64 {
        match &self.0 {
            Source::System => crate::now_micros(),
            Source::Manual(now) => now.load(Ordering::SeqCst),
        }
    }
}

impl ManualClock {
    /// Where the clock stands, in microseconds since the epoch.
    pub fn now_micros(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let micros = i64::try_from(by.as_micros()).unwrap_or(i64::MAX);
        self.0.fetch_add(micros, Ordering::SeqCst);
    }

    /// Sets the clock to `micros` since the epoch.
    pub fn set(&self, micros: i64) {
        self.0.store(micros, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let (clock, handle) = Clock::manual(1_000);
        assert_eq!(clock.now_micros(), 1_000);
        handle.advance(Duration::from_millis(2));
        assert_eq!(clock.now_micros(), 3_000);
        handle.set(7);
        assert_eq!(clock.clone().now_micros(), 7);
    }
}
