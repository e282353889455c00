//! What a request to the status page carries: `application/x-www-form-urlencoded` fields, the
//! `lang` query parameter and `Accept-Language`. Parsing never fails: a missing or broken field
//! reads as empty, so a malformed form is answered like any unknown ticket.

use hotline_federation::model::Language;

/// The fields of a form body (or query string): later duplicates win, bad escapes are kept as
/// typed, invalid UTF-8 is replaced.
pub(super) fn fields(body: &[u8]) -> Vec<(String, String)> {
    body.split(|b| *b == b'&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let mut parts = pair.splitn(2, |b| *b == b'=');
            let name = decode(parts.next().unwrap_or_default());
            let value = decode(parts.next().unwrap_or_default());
            (name, value)
        })
        .collect()
}

/// The last value of field `name`, or empty.
pub(super) fn field(fields: &[(String, String)], name: &str) -> String {
    fields
        .iter()
        .rev()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

fn decode(raw: &[u8]) -> String {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < raw.len() => match (hex(raw[i + 1]), hex(raw[i + 2])) {
                (Some(high), Some(low)) => {
                    out.push(high << 4 | low);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(digit: u8) -> Option<u8> {
    char::from(digit)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

/// The language a `lang` value asks for (`de` or `en`).
pub(super) fn language_named(value: &str) -> Option<Language> {
    match value.trim().to_ascii_lowercase().as_str() {
        "de" => Some(Language::De),
        "en" => Some(Language::En),
        _ => None,
    }
}

/// The customer's preferred language among German and English by `Accept-Language` (highest
/// weight first, the earlier one on a tie), or `None` when it names neither.
pub(super) fn accepted_language(header: &str) -> Option<Language> {
    let mut best: Option<(u32, Language)> = None;
    for item in header.split(',') {
        let mut parts = item.split(';');
        let tag = parts.next().unwrap_or_default().trim();
        let primary = tag.split('-').next().unwrap_or_default();
        let Some(language) = language_named(primary) else {
            continue;
        };
        let weight = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .filter_map(|q| q.trim().parse::<f32>().ok())
            .next()
            .unwrap_or(1.0);
        // Thousandths, so weights compare exactly.
        let weight = (weight.clamp(0.0, 1.0) * 1000.0).round() as u32;
        if weight > 0 && best.is_none_or(|(w, _)| weight > w) {
            best = Some((weight, language));
        }
    }
    best.map(|(_, language)| language)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Form fields decode `+` and percent escapes; broken escapes and missing values are kept
    /// or empty, never an error.
    #[test]
    fn form_fields_decode_and_never_fail() {
        let parsed = fields(b"number=ASZ-2026-000001&code=7KQ2M+XH4PD&body=Gr%C3%BC%C3%9Fe%2&x");
        assert_eq!(field(&parsed, "number"), "ASZ-2026-000001");
        assert_eq!(field(&parsed, "code"), "7KQ2M XH4PD");
        assert_eq!(field(&parsed, "body"), "Grüße%2");
        assert_eq!(field(&parsed, "x"), "");
        assert_eq!(field(&parsed, "missing"), "");
    }

    /// The highest-weighted of German and English wins; other languages are skipped.
    #[test]
    fn accept_language_picks_the_preferred_of_de_and_en() {
        assert_eq!(
            accepted_language("de-DE,de;q=0.9,en;q=0.8"),
            Some(Language::De)
        );
        assert_eq!(
            accepted_language("fr-FR, en-GB;q=0.7, de;q=0.3"),
            Some(Language::En)
        );
        assert_eq!(accepted_language("de;q=0.2, en;q=0.9"), Some(Language::En));
        assert_eq!(accepted_language("fr, it"), None);
        assert_eq!(accepted_language("en;q=0"), None);
    }
}
