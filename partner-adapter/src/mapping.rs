//! The site's vocabulary mapping: the partner's own words for statuses, priorities and
//! categories, translated to ours on every input and back on every output (API and webhooks).
//!
//! A table maps partner terms (keys) to ours (values). Status and priority tables, when given,
//! must cover every value of ours, so an output always has a partner term; two partner terms may
//! not map to the same value of ours (the way back would be ambiguous). Without a table the
//! partner uses our names. An unmapped input is refused with the list of known terms.

use std::collections::BTreeMap;

use hotline_federation::model::{Priority, TicketStatus};
use serde::Deserialize;

use crate::error::{Error, Result};

/// The mapping tables as written in the config.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MappingConfig {
    /// Partner status -> our status.
    pub status: BTreeMap<String, String>,
    /// Partner priority -> our priority.
    pub priority: BTreeMap<String, String>,
    /// Partner category -> our category.
    pub category: BTreeMap<String, String>,
}

/// One vocabulary, both ways.
#[derive(Clone, Debug)]
pub struct Vocabulary {
    what: &'static str,
    to_ours: BTreeMap<String, String>,
    to_theirs: BTreeMap<String, String>,
}

impl Vocabulary {
    fn new(
        what: &'static str,
        table: &BTreeMap<String, String>,
        ours: Option<Vec<&'static str>>,
    ) -> Result<Self> {
        let field = |suffix: &str| format!("mapping.{what}{suffix}");
        let mut to_theirs = BTreeMap::new();
        for (theirs, our) in table {
            if theirs.trim().is_empty() {
                return Err(Error::Config {
                    field: field(""),
                    problem: "a partner term is empty".into(),
                });
            }
            if let Some(known) = &ours {
                if !known.contains(&our.as_str()) {
                    return Err(Error::Config {
                        field: field(&format!(".{theirs:?}")),
                        problem: format!(
                            "{our:?} is not one of our {what} values; known: {}",
                            known.join(", ")
                        ),
                    });
                }
            }
            if let Some(previous) = to_theirs.insert(our.clone(), theirs.clone()) {
                return Err(Error::Config {
                    field: field(""),
                    problem: format!(
                        "{previous:?} and {theirs:?} both map to {our:?}; the way back would be ambiguous"
                    ),
                });
            }
        }
        if let (Some(known), false) = (&ours, table.is_empty()) {
            let missing: Vec<&str> = known
                .iter()
                .copied()
                .filter(|v| !to_theirs.contains_key(*v))
                .collect();
            if !missing.is_empty() {
                return Err(Error::Config {
                    field: field(""),
                    problem: format!(
                        "these {what} values have no partner term: {}",
                        missing.join(", ")
                    ),
                });
            }
        }
        Ok(Vocabulary {
            what,
            to_ours: table.clone(),
            to_theirs,
        })
    }

    /// Our value for a partner term; refused with the known terms when unmapped.
    pub fn to_ours(&self, field: &str, theirs: &str) -> Result<String> {
        if self.to_ours.is_empty() {
            return Ok(theirs.to_owned());
        }
        self.to_ours.get(theirs).cloned().ok_or_else(|| {
            let known: Vec<&str> = self.to_ours.keys().map(String::as_str).collect();
            Error::Unmapped(format!(
                "{field}: {theirs:?} is not mapped to a {} of ours; known: {}",
                self.what,
                known.join(", ")
            ))
        })
    }

    /// The partner's terms, when the site maps this vocabulary (`None`: it uses ours).
    pub fn terms(&self) -> Option<Vec<&str>> {
        (!self.to_ours.is_empty()).then(|| self.to_ours.keys().map(String::as_str).collect())
    }

    /// The partner term for one of our values (our own name when the table has none).
    pub fn to_theirs(&self, ours: &str) -> String {
        self.to_theirs
            .get(ours)
            .cloned()
            .unwrap_or_else(|| ours.to_owned())
    }
}

/// Every vocabulary of a site.
#[derive(Clone, Debug)]
pub struct Mapping {
    /// Ticket statuses.
    pub status: Vocabulary,
    /// Priorities.
    pub priority: Vocabulary,
    /// Categories.
    pub category: Vocabulary,
}

impl Mapping {
    /// Builds and checks the mapping.
    pub fn new(config: &MappingConfig) -> Result<Self> {
        let statuses = TicketStatus::ALL.iter().map(|s| s.as_str()).collect();
        let priorities = Priority::ALL.iter().map(|p| p.as_str()).collect();
        Ok(Mapping {
            status: Vocabulary::new("status", &config.status, Some(statuses))?,
            priority: Vocabulary::new("priority", &config.priority, Some(priorities))?,
            category: Vocabulary::new("category", &config.category, None)?,
        })
    }

    /// A partner status as ours; a term that is neither mapped nor ours is unmapped.
    pub fn status_in(&self, field: &str, theirs: &str) -> Result<TicketStatus> {
        TicketStatus::parse(field, &self.status.to_ours(field, theirs)?)
            .map_err(|e| Error::Unmapped(e.to_string()))
    }

    /// A partner priority as ours; a term that is neither mapped nor ours is unmapped.
    pub fn priority_in(&self, field: &str, theirs: &str) -> Result<Priority> {
        Priority::parse(field, &self.priority.to_ours(field, theirs)?)
            .map_err(|e| Error::Unmapped(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn german() -> MappingConfig {
        let status = [
            ("Neu", "new"),
            ("In Arbeit", "in_progress"),
            ("Wartet", "waiting_on_customer"),
            ("Eskaliert", "escalated"),
            ("Geloest", "resolved"),
            ("Geschlossen", "closed"),
        ];
        MappingConfig {
            status: status
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
            ..MappingConfig::default()
        }
    }

    /// Partner terms round-trip through our vocabulary.
    #[test]
    fn status_round_trip() {
        let mapping = Mapping::new(&german()).unwrap();
        let ours = mapping.status_in("status", "In Arbeit").unwrap();
        assert_eq!(ours, TicketStatus::InProgress);
        assert_eq!(mapping.status.to_theirs(ours.as_str()), "In Arbeit");
    }

    /// An unmapped partner term is refused with the list of known terms.
    #[test]
    fn unmapped_term_lists_the_known_ones() {
        let mapping = Mapping::new(&german()).unwrap();
        let err = mapping
            .status_in("status", "Offen")
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"Offen\" is not mapped"), "{err}");
        assert!(
            err.contains("Eskaliert, Geloest, Geschlossen, In Arbeit, Neu, Wartet"),
            "{err}"
        );
    }

    /// An incomplete or ambiguous status table is a config error naming what is wrong.
    #[test]
    fn incomplete_or_ambiguous_tables_are_refused() {
        let mut config = german();
        config.status.remove("Wartet");
        let err = Mapping::new(&config).unwrap_err().to_string();
        assert!(err.contains("waiting_on_customer"), "{err}");
        let mut config = german();
        config.status.insert("Fertig".into(), "closed".into());
        let err = Mapping::new(&config).unwrap_err().to_string();
        assert!(err.contains("ambiguous"), "{err}");
    }

    /// Without a table the partner uses our names, and ours are still checked.
    #[test]
    fn identity_without_table() {
        let mapping = Mapping::new(&MappingConfig::default()).unwrap();
        assert_eq!(
            mapping.priority_in("priority", "high").unwrap(),
            Priority::High
        );
        assert!(mapping.priority_in("priority", "urgent").is_err());
    }
}
