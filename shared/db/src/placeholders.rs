//! Numbered placeholders for a statement that binds a list: the values are bound, never
//! written into the SQL.

use std::ops::RangeInclusive;

/// `$first, …, $last` for the parameters numbered `numbers`, e.g. `IN ({})`.
pub fn placeholders(numbers: RangeInclusive<usize>) -> String {
    numbers
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::placeholders;

    #[test]
    fn numbers_each_parameter_of_the_range() {
        assert_eq!(placeholders(3..=5), "$3, $4, $5");
        assert_eq!(placeholders(1..=1), "$1");
    }
}
