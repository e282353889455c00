//! The result of `hotline bench`: figures, printed as a table or as JSON.

use serde_json::{Value, json};

/// One line of the result table.
#[derive(Clone, Debug)]
pub struct Figure {
    /// Stable key (JSON).
    pub key: &'static str,
    /// What was measured.
    pub name: String,
    /// The value.
    pub value: f64,
    /// Its unit.
    pub unit: &'static str,
    /// Detail (percentiles, ratio to a baseline, target).
    pub detail: String,
}

impl Figure {
    /// A figure, also printed to stderr as it is measured (a long run shows its progress).
    pub fn noted(
        key: &'static str,
        name: String,
        value: f64,
        unit: &'static str,
        detail: String,
    ) -> Figure {
        eprintln!("  {name}: {value:.1} {unit} {detail}");
        Figure {
            key,
            name,
            value,
            unit,
            detail,
        }
    }
}

/// The figures as a table.
pub fn table(figures: &[Figure]) -> String {
    let mut out = format!(
        "{:<62} {:>12} {:<13} {}\n",
        "measurement", "value", "unit", "detail"
    );
    for f in figures {
        out.push_str(&format!(
            "{:<62} {:>12.1} {:<13} {}\n",
            f.name, f.value, f.unit, f.detail
        ));
    }
    out
}

/// The figures as JSON: `{key: {name, value, unit, detail}}` plus the machine.
pub fn to_json(figures: &[Figure]) -> Value {
    let mut map = serde_json::Map::new();
    for f in figures {
        map.insert(
            f.key.into(),
            json!({ "name": f.name, "value": f.value, "unit": f.unit, "detail": f.detail }),
        );
    }
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    json!({ "machine": { "cores": cores }, "figures": map })
}
