//! Entity states (snapshot items) between wire and domain.

use std::collections::BTreeMap;

use hotline_proto::v1 as pb;

use super::fields::{check_register_name, value_from_wire, value_to_wire};
use super::{required, stamp_from_wire};
use crate::error::{Error, Result, quote};
use crate::model::{EntityKey, EntityKind, FieldValue};
use crate::state::{EntityState, Register, SUPERSEDED_KEPT, Stamped};

/// A stamped value; errors name their field relative to it (`stamp.hlc`, `value`), so the
/// caller's path is formatted only when there is an error.
fn stamped_value(value: pb::StampedValue) -> Result<Stamped<FieldValue>> {
    let pb::StampedValue { stamp, value } = value;
    Ok(Stamped {
        stamp: stamp_from_wire("stamp", stamp)?,
        value: value_from_wire(required("value", value)?).map_err(|e| e.within("value"))?,
    })
}

impl TryFrom<pb::EntityState> for EntityState {
    type Error = Error;

    fn try_from(state: pb::EntityState) -> Result<Self> {
        let pb::EntityState {
            key,
            registers,
            comments,
            call_events,
            deleted,
        } = state;
        let key = required("state.key", key)?;
        let key = EntityKey::try_from(key).map_err(|e| e.within("state.key"))?;
        let mut out = EntityState::new(key);
        for (i, register) in registers.into_iter().enumerate() {
            let path = || format!("state.registers[{i}]");
            let pb::Register {
                stamp,
                value,
                superseded,
            } = register;
            let winner =
                stamped_value(pb::StampedValue { stamp, value }).map_err(|e| e.within(&path()))?;
            if winner.value.kind() != out.key.kind {
                return Err(Error::invalid(
                    format!("{}.value", path()),
                    format!(
                        "a {} field in a {} state",
                        winner.value.kind(),
                        out.key.kind
                    ),
                ));
            }
            if superseded.len() > SUPERSEDED_KEPT {
                return Err(Error::TooLarge {
                    field: format!("{}.superseded", path()),
                    size: superseded.len(),
                    limit: SUPERSEDED_KEPT,
                });
            }
            let name = winner.value.register();
            let mut register = Register {
                winner,
                superseded: Vec::new(),
            };
            for (j, old) in superseded.into_iter().enumerate() {
                let field = || format!("{}.superseded[{j}]", path());
                let old = stamped_value(old).map_err(|e| e.within(&field()))?;
                if old.value.kind() != out.key.kind {
                    return Err(Error::invalid(
                        format!("{}.value", field()),
                        format!("a {} field in a {} state", old.value.kind(), out.key.kind),
                    ));
                }
                check_register_name(field, &name, &old.value)?;
                register.join(&Register {
                    winner: old,
                    superseded: Vec::new(),
                });
            }
            if out.registers.insert(name.clone(), register).is_some() {
                return Err(Error::invalid(
                    path(),
                    format!("register {} appears twice", quote(&name)),
                ));
            }
        }
        out.comments = elements(comments, "state.comments", |c| {
            let pb::StampedComment { stamp, comment } = c;
            let comment = required("comment", comment)?;
            Ok((
                stamp,
                comment.try_into().map_err(|e: Error| e.within("comment"))?,
            ))
        })?;
        out.call_events = elements(call_events, "state.call_events", |e| {
            let pb::StampedCallEvent { stamp, event } = e;
            let event = required("event", event)?;
            Ok((
                stamp,
                event.try_into().map_err(|e: Error| e.within("event"))?,
            ))
        })?;
        if !out.comments.is_empty() && out.key.kind != EntityKind::Ticket {
            return Err(Error::invalid(
                "state.comments",
                format!("a {} has no comments; only tickets do", out.key.kind),
            ));
        }
        if !out.call_events.is_empty() && out.key.kind != EntityKind::CallLog {
            return Err(Error::invalid(
                "state.call_events",
                format!("a {} has no call events; only call logs do", out.key.kind),
            ));
        }
        out.deleted = deleted
            .map(|d| stamp_from_wire("state.deleted", Some(d)))
            .transpose()?;
        Ok(out)
    }
}

/// Converts a list of stamped elements into a map by element id, refusing duplicate ids.
fn elements<W, T>(
    items: Vec<W>,
    path: &str,
    convert: impl Fn(W) -> Result<(Option<pb::Stamp>, T)>,
) -> Result<BTreeMap<String, Stamped<T>>>
where
    T: ElementId,
{
    let mut out = BTreeMap::new();
    for (i, item) in items.into_iter().enumerate() {
        let field = || format!("{path}[{i}]");
        let (stamp, value) = convert(item).map_err(|e| e.within(&field()))?;
        let stamp = stamp_from_wire("stamp", stamp).map_err(|e| e.within(&field()))?;
        let id = value.element_id().to_owned();
        if out.insert(id.clone(), Stamped { stamp, value }).is_some() {
            return Err(Error::invalid(
                field(),
                format!("element id {} appears twice", quote(&id)),
            ));
        }
    }
    Ok(out)
}

/// Elements of grow-only sets are keyed by their id.
trait ElementId {
    fn element_id(&self) -> &str;
}

impl ElementId for crate::model::Comment {
    fn element_id(&self) -> &str {
        &self.id
    }
}

impl ElementId for crate::model::CallEvent {
    fn element_id(&self) -> &str {
        &self.id
    }
}

fn stamped_to_wire(s: Stamped<FieldValue>) -> pb::StampedValue {
    pb::StampedValue {
        stamp: Some(s.stamp.into()),
        value: Some(value_to_wire(s.value)),
    }
}

/// One register as the wire carries it in an entity state.
pub(crate) fn register_to_wire(register: Register) -> pb::Register {
    let Register { winner, superseded } = register;
    pb::Register {
        stamp: Some(winner.stamp.into()),
        value: Some(value_to_wire(winner.value)),
        superseded: superseded.into_iter().map(stamped_to_wire).collect(),
    }
}

impl From<EntityState> for pb::EntityState {
    fn from(state: EntityState) -> Self {
        let EntityState {
            key,
            registers,
            comments,
            call_events,
            deleted,
        } = state;
        pb::EntityState {
            key: Some(key.into()),
            registers: registers.into_values().map(register_to_wire).collect(),
            comments: comments
                .into_values()
                .map(|c| pb::StampedComment {
                    stamp: Some(c.stamp.into()),
                    comment: Some(c.value.into()),
                })
                .collect(),
            call_events: call_events
                .into_values()
                .map(|e| pb::StampedCallEvent {
                    stamp: Some(e.stamp.into()),
                    event: Some(e.value.into()),
                })
                .collect(),
            deleted: deleted.map(Into::into),
        }
    }
}
