//! The gRPC services, one file each. Handlers validate, convert and delegate.

pub mod admin;
pub mod audit;
pub mod federation;
pub mod reports;
pub mod reviews;

/// Longest prefix of a client's value that an error message quotes, in bytes.
const QUOTED_PREFIX: usize = 64;

/// A value the client sent, quoted for an error message: whole when short, otherwise its first
/// 64 bytes (cut at a character boundary) and its length, so a huge bad input is never echoed
/// back (or logged) whole.
pub(crate) fn quoted(value: &str) -> String {
    if value.len() <= QUOTED_PREFIX {
        return format!("{value:?}");
    }
    let mut end = QUOTED_PREFIX;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    format!("{:?}… ({} bytes)", &value[..end], value.len())
}

/// Takes `units` of `tenant`'s read quota (its Fetch quota, in entities per second) for a read
/// that costs about as much as fetching that many entities: a site cannot repeat an expensive
/// read (service figures scan every ticket, a proof reads up to its span) without limit.
/// `RESOURCE_EXHAUSTED` with the advised wait otherwise.
pub(crate) fn take_read_quota(
    state: &crate::state::GatewayState,
    tenant: &str,
    units: usize,
    what: &str,
) -> Result<(), tonic::Status> {
    state.fetch_quotas.take(tenant, units).map_err(|wait| {
        let wait_ms = federation::wait_ms(wait);
        federation::exhausted(
            format!(
                "tenant {tenant} reads above its quota of {} entities/s ({what} counts as {units}); \
                 retry in {wait_ms} ms",
                state.fetch_quotas.rate()
            ),
            wait_ms,
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A short value is quoted whole; a long one only by a prefix and its length, cut between
    /// characters even when a multi-byte character straddles the limit.
    #[test]
    fn long_values_are_quoted_by_prefix() {
        assert_eq!(quoted("dortmund"), "\"dortmund\"");
        let long = "x".repeat(1_000_000);
        let quote = quoted(&long);
        assert!(quote.len() < 100, "{quote}");
        assert!(quote.ends_with("… (1000000 bytes)"), "{quote}");
        let umlauts = format!("{}{}", "a".repeat(63), "ü".repeat(10));
        assert_eq!(
            quoted(&umlauts),
            format!("\"{}\"… (83 bytes)", "a".repeat(63))
        );
    }
}
