//! Checks that an error's field path names a field that exists in the wire contract, using the
//! descriptor set `hotline-proto` compiles from the `.proto` files.
//!
//! A path is dot-separated field names from a root message, e.g. `change.ops[2].set.ticket.status`.
//! A segment may carry an index (`ops[2]`) when the field is repeated, or when it is a
//! `StringList` (`policy.handlers[1]` stands for `policy.handlers.values[1]`). The last segment
//! may also name a oneof (`change.ops[0].op`), which is how "exactly one is set" is reported.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use prost::Message;
use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{DescriptorProto, FileDescriptorSet};

/// The wire message a string list field is written as; its index shorthand is allowed.
const STRING_LIST: &str = ".hotline.v1.StringList";

/// Every message of the contract by fully qualified name (with the leading dot).
fn messages() -> &'static BTreeMap<String, DescriptorProto> {
    static MESSAGES: OnceLock<BTreeMap<String, DescriptorProto>> = OnceLock::new();
    MESSAGES.get_or_init(|| {
        // The descriptor set is produced by our own build script from our own .proto files; if
        // it did not decode, no path could be checked at all.
        let set = FileDescriptorSet::decode(hotline_proto::FILE_DESCRIPTOR_SET)
            .expect("hotline-proto's descriptor set decodes");
        let mut out = BTreeMap::new();
        for file in set.file {
            let prefix = format!(".{}", file.package());
            for message in file.message_type {
                collect(&prefix, message, &mut out);
            }
        }
        out
    })
}

fn collect(prefix: &str, message: DescriptorProto, out: &mut BTreeMap<String, DescriptorProto>) {
    let name = format!("{prefix}.{}", message.name());
    for nested in message.nested_type.clone() {
        collect(&name, nested, out);
    }
    out.insert(name, message);
}

/// Splits `name[12]` into the name and whether it has an index; `None` for a malformed segment.
fn split_index(segment: &str) -> Option<(&str, bool)> {
    match segment.split_once('[') {
        None => Some((segment, false)),
        Some((name, rest)) => {
            let digits = rest.strip_suffix(']')?;
            let ok = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
            ok.then_some((name, true))
        }
    }
}

/// Why `path` does not name a field of message `root` (e.g. `hotline.v1.Change`), or `None`
/// when it does. `prefix` is the name the path uses for the root itself (`change`, `state`), or
/// empty when the path starts at the root's fields.
pub fn path_problem(root: &str, prefix: &str, path: &str) -> Option<String> {
    let rest = if prefix.is_empty() {
        path
    } else {
        match path.strip_prefix(prefix).and_then(|r| r.strip_prefix('.')) {
            Some(rest) => rest,
            None => return Some(format!("{path:?} does not start with {prefix:?}.")),
        }
    };
    let mut current = messages().get(&format!(".{root}"));
    if current.is_none() {
        return Some(format!("no message {root} in the contract"));
    }
    let segments: Vec<&str> = rest.split('.').collect();
    for (i, segment) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        let Some(message) = current else {
            return Some(format!(
                "{path:?}: {segment:?} follows a field that is not a message"
            ));
        };
        let Some((name, indexed)) = split_index(segment) else {
            return Some(format!("{path:?}: {segment:?} is not name or name[index]"));
        };
        let Some(field) = message.field.iter().find(|f| f.name() == name) else {
            if last && !indexed && message.oneof_decl.iter().any(|o| o.name() == name) {
                return None;
            }
            let known: Vec<&str> = message.field.iter().map(|f| f.name()).collect();
            return Some(format!(
                "{path:?}: {} has no field {name:?}; fields: {}",
                message.name(),
                known.join(", ")
            ));
        };
        let repeated = field.label() == Label::Repeated;
        let string_list = field.type_name() == STRING_LIST;
        if indexed && !repeated && !string_list {
            return Some(format!(
                "{path:?}: {name:?} is not repeated but has an index"
            ));
        }
        current = match field.r#type() {
            Type::Message if indexed && string_list => None,
            Type::Message => messages().get(field.type_name()),
            _ => None,
        };
    }
    None
}
