//! A table per scenario: each figure, its ratio to the yardstick, and the goal next to it.

/// Whether a figure meets its goal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Measured and within the goal.
    Met,
    /// Measured and outside the goal.
    Missed,
    /// No goal for this figure.
    Info,
}

/// One line of a table.
pub struct Row {
    figure: String,
    value: String,
    ratio: String,
    goal: String,
    verdict: Verdict,
}

/// The figures of one scenario.
pub struct Table {
    title: String,
    rows: Vec<Row>,
    notes: Vec<String>,
}

impl Table {
    /// An empty table called `title`.
    pub fn new(title: impl Into<String>) -> Self {
        Self {
            title: title.into(),
            rows: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// A figure with no goal.
    pub fn info(&mut self, figure: impl Into<String>, value: impl Into<String>) {
        self.push(figure, value, "", "", Verdict::Info);
    }

    /// A figure, its ratio and its goal; `met` says whether the goal is met.
    pub fn goal(
        &mut self,
        figure: impl Into<String>,
        value: impl Into<String>,
        ratio: impl Into<String>,
        goal: impl Into<String>,
        met: bool,
    ) {
        let verdict = if met { Verdict::Met } else { Verdict::Missed };
        self.push(figure, value, ratio, goal, verdict);
    }

    /// A figure with a ratio and no goal.
    pub fn ratio(
        &mut self,
        figure: impl Into<String>,
        value: impl Into<String>,
        ratio: impl Into<String>,
    ) {
        self.push(figure, value, ratio, "", Verdict::Info);
    }

    /// A line printed under the table.
    pub fn note(&mut self, note: impl Into<String>) {
        self.notes.push(note.into());
    }

    fn push(
        &mut self,
        figure: impl Into<String>,
        value: impl Into<String>,
        ratio: impl Into<String>,
        goal: impl Into<String>,
        verdict: Verdict,
    ) {
        self.rows.push(Row {
            figure: figure.into(),
            value: value.into(),
            ratio: ratio.into(),
            goal: goal.into(),
            verdict,
        });
    }

    /// Prints the table to stdout.
    pub fn print(&self) {
        let width = |pick: fn(&Row) -> &str, header: &str| {
            self.rows
                .iter()
                .map(|row| pick(row).chars().count())
                .chain([header.len()])
                .max()
                .unwrap_or(0)
        };
        let figure = width(|row| &row.figure, "figure");
        let value = width(|row| &row.value, "value");
        let ratio = width(|row| &row.ratio, "ratio");
        let goal = width(|row| &row.goal, "goal");
        println!();
        println!("## {}", self.title);
        println!(
            "{:<figure$}  {:>value$}  {:>ratio$}  {:<goal$}  verdict",
            "figure", "value", "ratio", "goal"
        );
        println!("{}", "-".repeat(figure + value + ratio + goal + 8 + 8));
        for row in &self.rows {
            let verdict = match row.verdict {
                Verdict::Met => "met",
                Verdict::Missed => "NOT MET",
                Verdict::Info => "",
            };
            println!(
                "{:<figure$}  {:>value$}  {:>ratio$}  {:<goal$}  {verdict}",
                row.figure, row.value, row.ratio, row.goal
            );
        }
        for note in &self.notes {
            println!("  note: {note}");
        }
    }
}

/// `value / base` as `0.42×`, or `n/a` without a base.
pub fn times(value: f64, base: f64) -> String {
    if base > 0.0 {
        format!("{:.2}×", value / base)
    } else {
        "n/a".to_owned()
    }
}

/// A rate, e.g. `12,345/s`.
pub fn per_second(rate: f64) -> String {
    format!("{}/s", thousands(rate.round() as u64))
}

/// Milliseconds with three decimals.
pub fn ms(value: f64) -> String {
    format!("{value:.3} ms")
}

/// KiB as MiB with one decimal.
pub fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// `1234567` as `1,234,567`.
pub fn thousands(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_read_as_people_write_them() {
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(999), "999");
        assert_eq!(per_second(12_345.4), "12,345/s");
        assert_eq!(times(1.0, 4.0), "0.25×");
        assert_eq!(times(1.0, 0.0), "n/a");
        assert_eq!(mib(30 * 1024), "30.0 MiB");
    }
}
