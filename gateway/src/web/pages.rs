//! The status page's HTML: server-rendered, no JavaScript, one small inline stylesheet in the
//! brand's accent colour, German or English. Every text that comes from a store or a request is
//! escaped; every input has a label; text and background keep a contrast of at least 4.5:1
//! (the accent's text colour is chosen for it).

use std::fmt::Write;

use hotline_federation::brand::Brand;
use hotline_federation::customer::CustomerView;
use hotline_federation::model::{Language, TicketStatus};

/// The accent colour when the brand has none (or none of the form `#rrggbb`).
const DEFAULT_ACCENT: &str = "#0b5394";

/// A message shown above the form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Notice {
    /// No ticket with this number and code (also: wrong code, deleted, malformed).
    NotFound,
    /// Too many attempts.
    Limited,
    /// The reply was stored.
    ReplySent,
    /// The reply was empty.
    ReplyEmpty,
    /// The reply was longer than the limit (bytes).
    ReplyTooLong(usize),
    /// The reply named something customers' messages may not hold.
    ReplyRefused,
    /// The reply holds characters a comment may not hold.
    ReplyInvalid,
    /// The reply could not be stored.
    ReplyFailed,
    /// The page cannot be shown right now.
    Unavailable,
    /// What became of a rating.
    Rating(super::rating::RatingNotice),
}

/// The words of the page in one language.
struct Words {
    title: &'static str,
    intro: &'static str,
    number: &'static str,
    code: &'static str,
    code_hint: &'static str,
    show: &'static str,
    status: &'static str,
    opened: &'static str,
    resolved: &'static str,
    history: &'static str,
    no_history: &'static str,
    reply: &'static str,
    reply_hint: &'static str,
    send: &'static str,
    closed: &'static str,
    other_ticket: &'static str,
    call_us: &'static str,
    language: &'static str,
    not_found: &'static str,
    limited: &'static str,
    sent: &'static str,
    empty: &'static str,
    too_long: &'static str,
    refused: &'static str,
    invalid: &'static str,
    failed: &'static str,
    unavailable: &'static str,
    withheld: &'static str,
}

const DE: Words = Words {
    title: "Status Ihres Tickets",
    intro: "Geben Sie die Ticketnummer und den Zugangscode ein, die Sie bei der Meldung erhalten haben.",
    number: "Ticketnummer",
    code: "Zugangscode",
    code_hint: "zum Beispiel 7KQ2M-XH4PD",
    show: "Status anzeigen",
    status: "Status",
    opened: "Gemeldet",
    resolved: "Gelöst",
    history: "Verlauf",
    no_history: "Noch keine Nachrichten.",
    reply: "Ihre Antwort",
    reply_hint: "höchstens {max} Zeichen",
    send: "Antwort senden",
    closed: "Dieses Ticket ist abgeschlossen. Für ein neues Anliegen rufen Sie uns bitte an.",
    other_ticket: "Anderes Ticket ansehen",
    call_us: "Hotline",
    language: "Sprache",
    not_found: "Zu dieser Ticketnummer und diesem Zugangscode haben wir kein Ticket gefunden. Bitte prüfen Sie Ihre Eingabe.",
    limited: "Zu viele Versuche. Bitte warten Sie einige Minuten und versuchen Sie es dann erneut.",
    sent: "Danke, Ihre Antwort ist bei uns angekommen.",
    empty: "Bitte schreiben Sie eine Antwort, bevor Sie sie senden.",
    too_long: "Ihre Antwort ist zu lang: höchstens {max} Zeichen. Nichts wurde gesendet.",
    refused: "Ihre Antwort enthält einen Namen, den wir in Nachrichten nicht annehmen können. Bitte formulieren Sie sie um. Nichts wurde gesendet.",
    invalid: "Ihre Antwort enthält Zeichen, die wir nicht speichern können. Bitte entfernen Sie Steuer- oder Sonderzeichen. Nichts wurde gesendet.",
    failed: "Ihre Antwort konnte gerade nicht gespeichert werden. Nichts wurde gesendet; bitte versuchen Sie es später erneut.",
    unavailable: "Diese Seite ist gerade nicht verfügbar. Bitte versuchen Sie es später erneut oder rufen Sie uns an.",
    withheld: "(Diese Nachricht kann hier nicht angezeigt werden.)",
};

const EN: Words = Words {
    title: "Your ticket's status",
    intro: "Enter the ticket number and the access code you were given when you reported the problem.",
    number: "Ticket number",
    code: "Access code",
    code_hint: "for example 7KQ2M-XH4PD",
    show: "Show status",
    status: "Status",
    opened: "Reported",
    resolved: "Resolved",
    history: "History",
    no_history: "No messages yet.",
    reply: "Your reply",
    reply_hint: "at most {max} characters",
    send: "Send reply",
    closed: "This ticket is closed. For a new request, please call us.",
    other_ticket: "Look up another ticket",
    call_us: "Hotline",
    language: "Language",
    not_found: "We found no ticket with this ticket number and access code. Please check what you entered.",
    limited: "Too many attempts. Please wait a few minutes and try again.",
    sent: "Thank you, your reply has reached us.",
    empty: "Please write a reply before sending it.",
    too_long: "Your reply is too long: at most {max} characters. Nothing was sent.",
    refused: "Your reply contains a name we cannot accept in messages. Please rephrase it. Nothing was sent.",
    invalid: "Your reply contains characters we cannot store. Please remove control or special characters. Nothing was sent.",
    failed: "Your reply could not be stored just now. Nothing was sent; please try again later.",
    unavailable: "This page is not available just now. Please try again later or call us.",
    withheld: "(This message cannot be shown here.)",
};

fn words(language: Language) -> &'static Words {
    match language {
        Language::De => &DE,
        Language::En => &EN,
    }
}

/// What every page shows: the brand in one language.
#[derive(Clone, Copy, Debug)]
pub(super) struct Frame<'a> {
    /// The brand.
    pub(super) brand: &'a Brand,
    /// The page's language.
    pub(super) language: Language,
}

/// What the status page needs besides the customer's view.
#[derive(Clone, Copy, Debug)]
pub(super) struct Reached<'a> {
    /// The number as typed (sent back in the page's forms, never in a URL).
    pub(super) number: &'a str,
    /// The code as typed (likewise).
    pub(super) code: &'a str,
    /// Largest reply, in bytes.
    pub(super) max_reply_bytes: usize,
    /// Indexes of messages withheld by the leak guard.
    pub(super) withheld: &'a [usize],
    /// Whether the rating form is offered.
    pub(super) rating: super::rating::Offer,
}

/// The look-up form, with a notice above it.
pub(super) fn form_page(frame: Frame<'_>, notice: Option<Notice>) -> String {
    let w = words(frame.language);
    let lang = frame.language.as_str();
    let mut main = String::new();
    write_notice(&mut main, w, notice);
    let _ = write!(
        main,
        "<p>{intro}</p>\n<form method=\"post\" action=\"/status?lang={lang}\">\n\
         <label for=\"number\">{number}</label>\n\
         <input id=\"number\" name=\"number\" required autocomplete=\"off\" placeholder=\"ASZ-2026-004711\">\n\
         <label for=\"code\">{code}</label>\n\
         <input id=\"code\" name=\"code\" type=\"password\" required autocomplete=\"off\" aria-describedby=\"code-hint\">\n\
         <p class=\"hint\" id=\"code-hint\">{hint}</p>\n\
         <button type=\"submit\">{show}</button>\n</form>\n",
        intro = w.intro,
        number = w.number,
        code = w.code,
        hint = w.code_hint,
        show = w.show,
    );
    let switch = link_switch(frame.language);
    page(frame, &switch, &main)
}

/// The status of a ticket and its public history, with the reply form.
pub(super) fn status_page(
    frame: Frame<'_>,
    view: &CustomerView,
    reached: Reached<'_>,
    notice: Option<Notice>,
) -> String {
    let w = words(frame.language);
    let lang = frame.language.as_str();
    let mut main = String::new();
    if let Some(Notice::Rating(rated)) = notice {
        let (class, text) = super::rating::notice(frame.language, rated);
        let _ = writeln!(
            main,
            "<p class=\"notice {class}\" role=\"status\">{text}</p>"
        );
    } else {
        write_notice(
            &mut main,
            w,
            notice.map(|n| adjust(n, reached.max_reply_bytes)),
        );
    }
    let _ = write!(
        main,
        "<h2>{title} {number}</h2>\n<dl>\n<dt>{status}</dt><dd class=\"status\">{text}</dd>\n\
         <dt>{opened}</dt><dd>{opened_at}</dd>\n",
        title = w.title,
        number = escape(&view.public_number),
        status = w.status,
        text = escape(&view.status_text),
        opened = w.opened,
        opened_at = date(view.opened_at_ms, frame.language),
    );
    if let Some(resolved) = view.resolved_at_ms {
        let _ = writeln!(
            main,
            "<dt>{}</dt><dd>{}</dd>",
            w.resolved,
            date(resolved, frame.language)
        );
    }
    let _ = write!(main, "</dl>\n<h2>{}</h2>\n", w.history);
    if view.messages.is_empty() {
        let _ = writeln!(main, "<p>{}</p>", w.no_history);
    } else {
        main.push_str("<ol class=\"history\">\n");
        for (i, message) in view.messages.iter().enumerate() {
            let class = if message.from_customer { "own" } else { "ours" };
            let body = if reached.withheld.contains(&i) {
                w.withheld.to_owned()
            } else {
                escape(&message.body)
            };
            let files = if reached.withheld.contains(&i) {
                String::new()
            } else {
                file_list(&message.files, reached)
            };
            let _ = writeln!(
                main,
                "<li class=\"{class}\"><p class=\"meta\">{signed} &middot; {at}</p><p class=\"body\">{body}</p>{files}</li>",
                signed = escape(&message.signed),
                at = date(message.at_ms, frame.language),
            );
        }
        main.push_str("</ol>\n");
    }
    let hidden = hidden_fields(reached);
    main.push_str(&super::rating::section(
        frame.language,
        reached.rating,
        &hidden,
    ));
    if view.status == TicketStatus::Closed {
        let _ = writeln!(main, "<p>{}</p>", w.closed);
    } else {
        let hint = w
            .reply_hint
            .replace("{max}", &reached.max_reply_bytes.to_string());
        let _ = write!(
            main,
            "<form method=\"post\" action=\"/reply?lang={lang}\">\n{hidden}\
             <label for=\"body\">{reply}</label>\n\
             <textarea id=\"body\" name=\"body\" rows=\"5\" maxlength=\"{max}\" required aria-describedby=\"body-hint\"></textarea>\n\
             <p class=\"hint\" id=\"body-hint\">{hint}</p>\n\
             <button type=\"submit\">{send}</button>\n</form>\n",
            reply = w.reply,
            max = reached.max_reply_bytes,
            send = w.send,
        );
    }
    let _ = writeln!(
        main,
        "<p><a href=\"/?lang={lang}\">{}</a></p>",
        w.other_ticket
    );
    let switch = form_switch(frame.language, &hidden);
    page(frame, &switch, &main)
}

fn adjust(notice: Notice, max: usize) -> Notice {
    match notice {
        Notice::ReplyTooLong(_) => Notice::ReplyTooLong(max),
        other => other,
    }
}

fn write_notice(out: &mut String, w: &Words, notice: Option<Notice>) {
    let Some(notice) = notice else { return };
    let (class, text) = match notice {
        Notice::NotFound => ("problem", w.not_found.to_owned()),
        Notice::Limited => ("problem", w.limited.to_owned()),
        Notice::ReplySent => ("done", w.sent.to_owned()),
        Notice::ReplyEmpty => ("problem", w.empty.to_owned()),
        Notice::ReplyTooLong(max) => ("problem", w.too_long.replace("{max}", &max.to_string())),
        Notice::ReplyRefused => ("problem", w.refused.to_owned()),
        Notice::ReplyInvalid => ("problem", w.invalid.to_owned()),
        Notice::ReplyFailed => ("problem", w.failed.to_owned()),
        Notice::Unavailable => ("problem", w.unavailable.to_owned()),
        // Written by the caller, in the rating's own words.
        Notice::Rating(_) => return,
    };
    let _ = writeln!(
        out,
        "<p class=\"notice {class}\" role=\"{}\">{text}</p>",
        if class == "problem" {
            "alert"
        } else {
            "status"
        }
    );
}

/// The files of a message: one small form each that posts the number and code (never in a
/// URL) with the file's digest to `/file`, which answers the bytes.
fn file_list(
    files: &[hotline_federation::attachment::AttachmentRef],
    reached: Reached<'_>,
) -> String {
    if files.is_empty() {
        return String::new();
    }
    let hidden = hidden_fields(reached);
    let mut out = String::from("<ul class=\"files\">");
    for file in files {
        let _ = write!(
            out,
            "<li><form method=\"post\" action=\"/file\">{hidden}<input type=\"hidden\" name=\"sha256\" value=\"{sha}\"><button type=\"submit\">{name}</button> ({kib} KiB)</form></li>",
            sha = escape(&file.sha256),
            name = escape(&file.filename),
            kib = file.size.div_ceil(1024),
        );
    }
    out.push_str("</ul>");
    out
}

fn hidden_fields(reached: Reached<'_>) -> String {
    format!(
        "<input type=\"hidden\" name=\"number\" value=\"{}\">\n<input type=\"hidden\" name=\"code\" value=\"{}\">\n",
        escape(reached.number),
        escape(reached.code)
    )
}

/// The language switch of the form page: plain links.
fn link_switch(current: Language) -> String {
    let mut out = String::new();
    for (language, label) in [(Language::De, "Deutsch"), (Language::En, "English")] {
        if language == current {
            let _ = write!(
                out,
                "<strong lang=\"{}\">{label}</strong> ",
                language.as_str()
            );
        } else {
            let _ = write!(
                out,
                "<a href=\"/?lang={l}\" lang=\"{l}\" hreflang=\"{l}\">{label}</a> ",
                l = language.as_str()
            );
        }
    }
    out
}

/// The language switch of the status page: small forms that post the number and code again,
/// so the code never appears in a URL.
fn form_switch(current: Language, hidden: &str) -> String {
    let mut out = String::new();
    for (language, label) in [(Language::De, "Deutsch"), (Language::En, "English")] {
        if language == current {
            let _ = write!(
                out,
                "<strong lang=\"{}\">{label}</strong> ",
                language.as_str()
            );
        } else {
            let _ = write!(
                out,
                "<form class=\"switch\" method=\"post\" action=\"/status?lang={l}\">{hidden}<button type=\"submit\" lang=\"{l}\">{label}</button></form> ",
                l = language.as_str()
            );
        }
    }
    out
}

/// The whole document around `main`.
fn page(frame: Frame<'_>, switch: &str, main: &str) -> String {
    let w = words(frame.language);
    let brand = frame.brand;
    let name = if brand.display_name.trim().is_empty() {
        w.title.to_owned()
    } else {
        escape(&brand.display_name)
    };
    let accent = accent(&brand.accent_color);
    let on_accent = text_on(accent);
    let hotline = if brand.hotline_number.trim().is_empty() {
        String::new()
    } else {
        format!(
            "<p class=\"hotline\">{}: {}</p>",
            w.call_us,
            escape(&brand.hotline_number)
        )
    };
    format!(
        "<!DOCTYPE html>\n<html lang=\"{lang}\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"referrer\" content=\"no-referrer\">\n\
         <title>{title} &ndash; {name}</title>\n<style>\n{style}</style>\n</head>\n<body>\n\
         <header><h1>{name}</h1>{hotline}</header>\n\
         <nav aria-label=\"{language}\">{switch}</nav>\n<main>\n{main}</main>\n</body>\n</html>\n",
        lang = frame.language.as_str(),
        title = w.title,
        language = w.language,
        style = stylesheet(accent, on_accent),
    )
}

fn stylesheet(accent: &str, on_accent: &str) -> String {
    format!(
        "body{{margin:0;font-family:system-ui,sans-serif;color:#1a1a1a;background:#ffffff;line-height:1.5}}\n\
         header{{background:{accent};color:{on_accent};padding:1rem 1.5rem}}\n\
         header h1{{margin:0;font-size:1.5rem}} header p{{margin:0}}\n\
         nav{{padding:.5rem 1.5rem;border-bottom:1px solid #767676}}\n\
         main{{max-width:40rem;padding:1rem 1.5rem}}\n\
         a{{color:#1a1a1a}} label{{display:block;font-weight:600;margin-top:1rem}}\n\
         input,textarea{{width:100%;box-sizing:border-box;padding:.5rem;font:inherit;color:#1a1a1a;background:#ffffff;border:1px solid #595959}}\n\
         button{{margin-top:1rem;padding:.5rem 1rem;font:inherit;background:{accent};color:{on_accent};border:0}}\n\
         .switch{{display:inline}} .switch button{{margin:0;padding:.1rem .5rem}}\n\
         .hint,.meta{{color:#4a4a4a;font-size:.9rem;margin:.25rem 0}}\n\
         .notice{{padding:.75rem;border-left:4px solid {accent};background:#f2f2f2}}\n\
         .history{{list-style:none;padding:0}} .history li{{border-top:1px solid #767676;padding:.5rem 0}}\n\
         .body{{white-space:pre-wrap;margin:0}} dt{{font-weight:600}} dd{{margin:0 0 .5rem 0}}\n"
    )
}

/// The brand's accent when it is `#rrggbb`, else the default.
fn accent(colour: &str) -> &str {
    let ok = colour.len() == 7
        && colour.starts_with('#')
        && colour[1..].bytes().all(|b| b.is_ascii_hexdigit());
    if ok { colour } else { DEFAULT_ACCENT }
}

/// Black or white text on `accent`, whichever contrasts more (one of them always reaches
/// 4.58:1: they tie where the background's luminance is about 0.18).
pub fn text_on(accent: &str) -> &'static str {
    let background = luminance(accent);
    if contrast(background, 1.0) >= contrast(background, 0.0) {
        "#ffffff"
    } else {
        "#000000"
    }
}

/// The WCAG contrast ratio of two relative luminances.
pub fn contrast(a: f64, b: f64) -> f64 {
    let (light, dark) = if a > b { (a, b) } else { (b, a) };
    (light + 0.05) / (dark + 0.05)
}

/// The WCAG relative luminance of `#rrggbb`.
pub fn luminance(colour: &str) -> f64 {
    let channel = |i: usize| {
        let value = f64::from(u8::from_str_radix(&colour[i..i + 2], 16).unwrap_or(0)) / 255.0;
        if value <= 0.039_28 {
            value / 12.92
        } else {
            ((value + 0.055) / 1.055).powf(2.4)
        }
    };
    0.2126 * channel(1) + 0.7152 * channel(3) + 0.0722 * channel(5)
}

/// `ms` as a date and time in UTC, in the language's usual form.
fn date(ms: u64, language: Language) -> String {
    if ms == 0 {
        return "&ndash;".to_owned();
    }
    let (year, month, day) = hotline_federation::calendar::civil_date(ms);
    let minutes = (ms / 60_000) % (24 * 60);
    let (hour, minute) = (minutes / 60, minutes % 60);
    match language {
        Language::De => format!("{day:02}.{month:02}.{year} {hour:02}:{minute:02} UTC"),
        Language::En => format!("{year}-{month:02}-{day:02} {hour:02}:{minute:02} UTC"),
    }
}

/// `text` safe inside HTML text and attribute values.
pub(super) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whatever accent the brand picks, its text colour reaches 4.5:1, and the page's fixed
    /// colours do too, so the page stays readable for people with low vision.
    #[test]
    fn every_text_colour_reaches_four_and_a_half_to_one() {
        for accent in [
            "#0b5394", "#ffcc00", "#777777", "#808080", "#00ff00", "#ff0000", "#000000", "#ffffff",
        ] {
            let ratio = contrast(luminance(accent), luminance(text_on(accent)));
            assert!(ratio >= 4.5, "{accent}: {ratio}");
        }
        let white = luminance("#ffffff");
        for fixed in ["#1a1a1a", "#4a4a4a"] {
            assert!(contrast(white, luminance(fixed)) >= 4.5, "{fixed}");
        }
        assert!(contrast(luminance("#f2f2f2"), luminance("#1a1a1a")) >= 4.5);
    }

    /// Markup in stored or typed text is shown as text, never run.
    #[test]
    fn escape_neutralises_markup() {
        assert_eq!(
            escape("<script>\"a\" & 'b'</script>"),
            "&lt;script&gt;&quot;a&quot; &amp; &#39;b&#39;&lt;/script&gt;"
        );
        assert_eq!(accent("red"), DEFAULT_ACCENT);
        assert_eq!(accent("#AbC123"), "#AbC123");
    }
}
