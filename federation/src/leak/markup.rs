//! What a text reads as once rendered as HTML: character references decoded (`&#52;`,
//! `&#x34;`, `&eacute;`, `&ouml;`) and tags removed, so the leak guard also checks the text a
//! mail client or a page would show.

/// The longest character reference read (`&#x1D413;` fits).
const MAX_REFERENCE: usize = 12;
/// The longest tag removed; a longer `<...>` is left as it is.
const MAX_TAG: usize = 256;

/// `text` with character references decoded and tags removed.
pub(super) fn decoded(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '<' if chars
                .get(i + 1)
                .is_some_and(|c| c.is_ascii_alphabetic() || matches!(c, '/' | '!' | '?')) =>
            {
                let end = chars[i..].iter().take(MAX_TAG).position(|&c| c == '>');
                if let Some(end) = end {
                    i += end + 1;
                    continue;
                }
            }
            '&' => {
                let end = chars[i..]
                    .iter()
                    .take(MAX_REFERENCE)
                    .position(|&c| c == ';');
                if let Some(end) = end {
                    let name: String = chars[i + 1..i + end].iter().collect();
                    if let Some(decoded) = reference(&name) {
                        out.push_str(&decoded);
                        i += end + 1;
                        continue;
                    }
                }
            }
            _ => {}
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

/// The text of the character reference `&name;`, if it is one.
fn reference(name: &str) -> Option<String> {
    if let Some(number) = name.strip_prefix('#') {
        let code = match number.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => number.parse().ok()?,
        };
        return char::from_u32(code).map(String::from);
    }
    let named = match name {
        "amp" => Some("&"),
        "lt" => Some("<"),
        "gt" => Some(">"),
        "quot" => Some("\""),
        "apos" => Some("'"),
        "nbsp" => Some(" "),
        "shy" | "zwj" | "zwnj" => Some(""),
        "szlig" => Some("ss"),
        _ => None,
    };
    if let Some(text) = named {
        return Some(text.to_owned());
    }
    // An accented letter: `eacute`, `Ouml`, `ccedil`, `aring`, `oslash`, `ntilde`.
    let mut letters = name.chars();
    let letter = letters.next().filter(char::is_ascii_alphabetic)?;
    match letters.as_str() {
        "uml" => Some(format!("{letter}\u{308}")),
        "acute" | "grave" | "circ" | "tilde" | "ring" | "cedil" | "slash" | "caron" => {
            Some(letter.to_string())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// References decode and tags vanish; a lone `<` or `&` stays.
    #[test]
    fn references_decode_and_tags_vanish() {
        assert_eq!(decoded("Twenty&#52;Help"), "Twenty4Help");
        assert_eq!(decoded("Twenty&#x34;Help"), "Twenty4Help");
        assert_eq!(decoded("Tw&eacute;nty"), "Twenty");
        assert_eq!(decoded("G&ouml;rlitz"), "Go\u{308}rlitz");
        assert_eq!(decoded("Twenty<b></b>4<i>Help</i>"), "Twenty4Help");
        assert_eq!(decoded("a < b & c; d"), "a < b & c; d");
    }
}
