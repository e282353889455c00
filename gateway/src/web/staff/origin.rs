//! Cross-site request refusal for every POST under `/staff/`. The session cookie is
//! `SameSite=Strict`, so a browser leaves it off a request another site starts; this check is
//! the second line: a POST whose `Origin` header names another origin (or `null`), or whose
//! `Sec-Fetch-Site` says it came from another site, is refused before anything else looks at it.
//!
//! The page's own origin is the configured `web.public_url` (scheme, host and port), or else
//! whatever host the request was sent to (`Host`): a browser always sends the host it talks
//! to, and a page on another site cannot make it name ours as the `Origin`. A request without
//! either header (a non-browser client) passes; it carries no ambient cookie to abuse.
//!
//! Staff pages send `Referrer-Policy: same-origin`, not `no-referrer`: under `no-referrer`
//! Chromium sends `Origin: null` with a page's own form posts (seen in the browser test), which
//! this check must refuse, since a sandboxed page of another site sends the same.

use axum::http::{HeaderMap, header};

/// Why a POST looks cross-site, or `Ok` when it does not. `authority` is the request URI's
/// (HTTP/2 carries the host there instead of a `Host` header).
pub fn check(headers: &HeaderMap, authority: Option<&str>, public_url: &str) -> Result<(), String> {
    if let Some(site) = headers.get("sec-fetch-site") {
        let site = site.to_str().unwrap_or_default();
        if !matches!(site, "same-origin" | "none") {
            return Err(format!(
                "the browser says this request came from another site (Sec-Fetch-Site: {site}); \
                 dashboard forms post only from the dashboard's own pages"
            ));
        }
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let origin = origin.to_str().unwrap_or_default().trim();
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or(authority)
        .unwrap_or_default()
        .trim();
    let own = own_origin(public_url);
    let authority = origin.split_once("://").map(|(_, rest)| rest);
    if (!own.is_empty() && origin.eq_ignore_ascii_case(own))
        || (!host.is_empty() && authority.is_some_and(|a| a.eq_ignore_ascii_case(host)))
    {
        return Ok(());
    }
    Err(format!(
        "the request came from origin {origin:?}, not from this dashboard ({}); dashboard forms \
         post only from the dashboard's own pages",
        if own.is_empty() { host } else { own }
    ))
}

/// The origin part (`scheme://host[:port]`) of `url`, or empty when it has none.
fn own_origin(url: &str) -> &str {
    let url = url.trim();
    let Some((_, rest)) = url.split_once("://") else {
        return "";
    };
    let end = rest
        .find(['/', '?', '#'])
        .map_or(url.len(), |at| url.len() - rest.len() + at);
    &url[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    /// A form posted from the dashboard's own page passes, matched by the public URL or the
    /// host; a client sending neither header passes too (no browser, no ambient cookie).
    #[test]
    fn own_origin_passes() {
        let url = "https://hotline.example/dash/";
        let own = headers(&[
            ("origin", "https://hotline.example"),
            ("host", "internal:8080"),
        ]);
        assert_eq!(check(&own, None, url), Ok(()));
        let by_host = headers(&[
            ("origin", "http://127.0.0.1:4000"),
            ("host", "127.0.0.1:4000"),
        ]);
        assert_eq!(check(&by_host, None, ""), Ok(()));
        let same = headers(&[("sec-fetch-site", "same-origin")]);
        assert_eq!(check(&same, None, url), Ok(()));
        assert_eq!(check(&HeaderMap::new(), None, url), Ok(()));
        let h2 = headers(&[("origin", "https://h2.example")]);
        assert_eq!(check(&h2, Some("h2.example"), ""), Ok(()));
    }

    /// Another site's page, an opaque `null` origin and a cross-site fetch are refused with a
    /// message naming the origin, so a forged form cannot score or sign out in a staff session.
    #[test]
    fn other_origins_are_refused() {
        let url = "https://hotline.example";
        let evil = headers(&[
            ("origin", "https://evil.example"),
            ("host", "hotline.example:443"),
        ]);
        let refused = check(&evil, None, url).unwrap_err();
        assert!(refused.contains("\"https://evil.example\""), "{refused}");
        let null = headers(&[("origin", "null"), ("host", "hotline.example")]);
        assert!(check(&null, None, url).is_err());
        let lookalike = headers(&[("origin", "https://hotline.example.evil"), ("host", "x")]);
        assert!(check(&lookalike, None, url).is_err());
        let fetch = headers(&[("sec-fetch-site", "cross-site")]);
        assert!(check(&fetch, None, url).unwrap_err().contains("cross-site"));
    }

    /// The origin of a public URL drops its path, query and fragment.
    #[test]
    fn origin_of_public_url() {
        assert_eq!(
            own_origin("https://h.example:8443/x?y"),
            "https://h.example:8443"
        );
        assert_eq!(own_origin("http://h"), "http://h");
        assert_eq!(own_origin("no scheme"), "");
    }
}
