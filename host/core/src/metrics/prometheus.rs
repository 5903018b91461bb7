//! The metrics as Prometheus text (exposition format 0.0.4) for `GET /metrics`: gauges for
//! the current calendar month (UTC), labelled with it, plus how far the fold is behind.
//!
//! Written directly: the figures are already aggregated, so a registry of live collectors
//! would only be filled and read once per scrape. Label values are escaped as the format asks
//! (backslash, double quote, newline).

use std::fmt::Write;

/// Prometheus text, built metric by metric.
#[derive(Default)]
pub(crate) struct Exposition {
    pub(crate) text: String,
}

fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

impl Exposition {
    pub(crate) fn gauge(&mut self, name: &str, help: &str, samples: &[(Vec<(&str, String)>, f64)]) {
        writeln!(self.text, "# HELP {name} {help}\n# TYPE {name} gauge").unwrap_or_default();
        for (labels, value) in samples {
            let labels: Vec<String> =
                labels.iter().map(|(key, value)| format!("{key}=\"{}\"", escape(value))).collect();
            match labels.is_empty() {
                true => writeln!(self.text, "{name} {value}"),
                false => writeln!(self.text, "{name}{{{}}} {value}", labels.join(",")),
            }
            .unwrap_or_default();
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn label_values_are_escaped() {
        assert_eq!(super::escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
