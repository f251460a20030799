//! The two lexical shapes of names in `connector.yaml`.

/// `[a-z_][a-z0-9_]*`: input and output names.
pub(crate) fn is_identifier(s: &str) -> bool {
    let mut bytes = s.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z' | b'_'))
        && bytes.all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_'))
}

/// `[a-z][a-z0-9_]*`: connector id segments and error codes.
pub(crate) fn is_segment(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_lowercase()) && is_identifier(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        for ok in ["a", "_", "_x", "files_list", "a1_b2"] {
            assert!(is_identifier(ok), "{ok}");
        }
        for bad in ["", "1a", "A", "a-b", "a.b", "é", "a b"] {
            assert!(!is_identifier(bad), "{bad}");
        }
        assert!(is_segment("a_1"));
        assert!(!is_segment("_a"));
        assert!(!is_segment(""));
    }
}
