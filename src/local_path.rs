//! The one rule for a redirect target someone else chose (`return_to`,
//! RelayState, `server.after_sign_in_url`): a path on this host.

/// `return_to`/RelayState are attacker-controllable: only a path on this
/// host is followed (no scheme, no `//host`, no backslash tricks).
pub fn safe_return_path(raw: Option<&str>) -> Option<String> {
    let raw = raw?.trim();
    let ok = raw.starts_with('/')
        && !raw.starts_with("//")
        && raw.len() <= 2048
        && !raw.contains('\\')
        && !raw.chars().any(|c| c.is_control() || c.is_whitespace())
        && !raw.to_ascii_lowercase().contains("%5c")
        && url::Url::parse("http://gateway.invalid")
            .and_then(|base| base.join(raw))
            .is_ok_and(|u| u.host_str() == Some("gateway.invalid"));
    ok.then(|| raw.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed() {
        for ok in ["/", "/dashboard", "/a/b?x=1&y=%2F#frag", "/caf%C3%A9"] {
            assert_eq!(safe_return_path(Some(ok)).as_deref(), Some(ok), "{ok}");
        }
        for bad in [
            "https://evil.example/",
            "//evil.example/",
            "/\\evil.example",
            "\\\\evil.example",
            "/%5Cevil.example",
            "javascript:alert(1)",
            "evil.example",
            "/ok\r\nSet-Cookie: x=y",
            "/\tevil",
            "",
            "http:/evil.example",
        ] {
            assert_eq!(safe_return_path(Some(bad)), None, "{bad:?}");
        }
        assert_eq!(safe_return_path(None), None);
        assert_eq!(
            safe_return_path(Some(&format!("/{}", "a".repeat(3000)))),
            None
        );
    }
}
