//! Tests of `fields`.

use super::*;

fn one_line(text: &str) -> Result<OneLine, String> {
    serde_json::from_value(serde_json::json!(text)).map_err(|e| e.to_string())
}

/// Texts are limited in characters by the width of their widest character, so ASCII
/// text gets the federation's whole byte limit and no accepted text exceeds it.
#[test]
fn text_limits_follow_the_widest_character() {
    let limit = OneLine::RULE.max_bytes;
    assert!(one_line(&"a".repeat(limit)).is_ok());
    assert!(one_line(&"ä".repeat(limit / 2)).is_ok());
    assert!(one_line(&"😀".repeat(limit / 4)).is_ok());
    let err = one_line(&format!("{}😀", "a".repeat(limit / 4))).unwrap_err();
    assert!(err.contains("at most 128 characters"), "{err}");
    assert!(one_line(&"a".repeat(limit + 1)).is_err());
}

/// Control characters are refused in one-line text, white space alone in required text,
/// and line breaks pass only in multi-line text.
#[test]
fn characters_are_refused_as_the_federation_refuses_them() {
    assert!(one_line("VPN\u{0}down").unwrap_err().contains("U+0000"));
    let required: Result<RequiredLine, _> = serde_json::from_value(serde_json::json!(" \u{3000}"));
    assert!(required.is_err());
    let body: CommentBody = serde_json::from_value(serde_json::json!("a\r\nb\tc")).unwrap();
    assert_eq!(body.0, "a\r\nb\tc");
    let lone_cr: Result<CommentBody, _> = serde_json::from_value(serde_json::json!("a\rb"));
    assert!(lone_cr.is_err());
}

/// A whole number may be written with a zero fraction; other fractions, negatives and
/// values past the bound are refused.
#[test]
fn whole_numbers_accept_a_zero_fraction_only() {
    let parse = |v: serde_json::Value| serde_json::from_value::<WaitSeconds>(v).map(|w| w.0);
    assert_eq!(parse(serde_json::json!(18.0)).unwrap(), 18);
    assert_eq!(
        parse(serde_json::json!(4_294_967_295_u64)).unwrap(),
        u32::MAX
    );
    for bad in [
        serde_json::json!(18.5),
        serde_json::json!(-3),
        serde_json::json!(4_294_967_296_u64),
    ] {
        assert!(parse(bad.clone()).is_err(), "{bad}");
    }
}

/// The ticket-number pattern and the federation's parser agree on the edge cases.
#[test]
fn ticket_number_rule_refuses_number_zero() {
    assert!(TicketNumber::parse("AA-2000-000001").is_ok());
    assert!(TicketNumber::parse("AA-2000-000000").is_err());
    assert!(TicketNumber::parse("AA-1999-000001").is_err());
}
