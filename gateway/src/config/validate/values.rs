//! Checks of single values. Each records its errors under the given field
//! path and returns `None` (or a harmless default) so validation can go on
//! and report everything else too.

use crate::config::duration::parse_duration;
use crate::config::error::Errors;
use ipnet::Ipv4Net;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

/// Linux IFNAMSIZ is 16 bytes including the terminating NUL.
const MAX_INTERFACE_NAME_LEN: usize = 16 - 1;
/// RFC 1035: a label is at most 63 octets.
const MAX_DNS_LABEL_LEN: usize = 63;

pub(super) fn is_dns_label(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= MAX_DNS_LABEL_LEN
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !value.starts_with('-')
        && !value.ends_with('-')
}

pub(super) const DNS_LABEL_RULE: &str =
    "1-63 characters of a-z, 0-9 and '-', not starting or ending with '-'";

pub(super) fn dns_label(errors: &mut Errors, path: &str, value: &str) {
    if !is_dns_label(value) {
        errors.add(
            path,
            format!("{value:?} is not a valid DNS label ({DNS_LABEL_RULE})"),
        );
    }
}

/// The kernel's `dev_valid_name` rules.
pub(super) fn interface_name(errors: &mut Errors, path: &str, value: &str) {
    let valid = !value.is_empty()
        && value.len() <= MAX_INTERFACE_NAME_LEN
        && value != "."
        && value != ".."
        && !value
            .chars()
            .any(|c| c == '/' || c == ':' || c.is_whitespace());
    if !valid {
        errors.add(
            path,
            format!(
                "{value:?} is not a valid interface name: 1 to {MAX_INTERFACE_NAME_LEN} bytes, \
                 without '/', ':' or whitespace"
            ),
        );
    }
}

pub(super) fn non_empty_path(errors: &mut Errors, path: &str, value: &str) -> PathBuf {
    if value.is_empty() {
        errors.add(path, "must not be empty");
    }
    PathBuf::from(value)
}

/// An integer within `min..=max`, converted to the field's type.
pub(super) fn int_in_range<T>(
    errors: &mut Errors,
    path: &str,
    value: i64,
    min: i64,
    max: i64,
) -> Option<T>
where
    T: TryFrom<i64>,
{
    if value < min || value > max {
        errors.add(path, format!("{value} is out of range {min}..={max}"));
        return None;
    }
    T::try_from(value).ok()
}

pub(super) fn ipv4(errors: &mut Errors, path: &str, text: &str) -> Option<Ipv4Addr> {
    match text.parse::<Ipv4Addr>() {
        Ok(addr) => Some(addr),
        Err(_) if text.contains(':') => {
            errors.add(path, format!("{text:?}: IPv6 is not supported"));
            None
        }
        Err(_) => {
            errors.add(
                path,
                format!("{text:?} is not an IPv4 address like 10.96.0.10"),
            );
            None
        }
    }
}

/// A CIDR in canonical form (no host bits set: `10.244.0.1/16` is most
/// likely a typo, and silently truncating it would hide that).
pub(super) fn cidr(errors: &mut Errors, path: &str, text: &str) -> Option<Ipv4Net> {
    let net = match text.parse::<Ipv4Net>() {
        Ok(net) => net,
        Err(_) if text.contains(':') => {
            errors.add(path, format!("{text:?}: IPv6 is not supported"));
            return None;
        }
        Err(_) => {
            errors.add(
                path,
                format!("{text:?} is not an IPv4 CIDR like 10.244.0.0/16"),
            );
            return None;
        }
    };
    if net.addr() != net.network() {
        errors.add(
            path,
            format!("{net} has host bits set; did you mean {}?", net.trunc()),
        );
        return None;
    }
    Some(net)
}

/// A list of CIDRs; returns each valid one with its own path.
pub(super) fn cidr_list(
    errors: &mut Errors,
    path: &str,
    texts: &[String],
) -> Vec<(String, Ipv4Net)> {
    texts
        .iter()
        .enumerate()
        .filter_map(|(index, text)| {
            let item_path = format!("{path}[{index}]");
            cidr(errors, &item_path, text).map(|net| (item_path, net))
        })
        .collect()
}

/// A positive duration, or `default` when the field is absent.
pub(super) fn positive_duration(
    errors: &mut Errors,
    path: &str,
    text: Option<&str>,
    default: Duration,
) -> Duration {
    let Some(text) = text else {
        return default;
    };
    match parse_duration(text) {
        Ok(duration) if duration.is_zero() => {
            errors.add(path, format!("{text:?} must be greater than 0"));
            default
        }
        Ok(duration) => duration,
        Err(error) => {
            errors.add(path, format!("{text:?}: {error}"));
            default
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_labels() {
        assert!(is_dns_label("cluster-a"));
        assert!(is_dns_label("a"));
        assert!(is_dns_label(&"a".repeat(63)));
        assert!(!is_dns_label(&"a".repeat(64)));
        assert!(!is_dns_label(""));
        assert!(!is_dns_label("-a"));
        assert!(!is_dns_label("a-"));
        assert!(!is_dns_label("Cluster"));
        assert!(!is_dns_label("a.b"));
        assert!(!is_dns_label("a_b"));
    }

    #[test]
    fn interface_names() {
        for (name, ok) in [
            ("gw0", true),
            ("a234567890abcde", true),
            ("a234567890abcdef", false),
            ("", false),
            (".", false),
            ("..", false),
            ("gw/0", false),
            ("gw:0", false),
            ("gw 0", false),
        ] {
            let mut errors = Errors::default();
            interface_name(&mut errors, "tunnel.name", name);
            assert_eq!(errors.is_empty(), ok, "{name:?}");
        }
    }
}
