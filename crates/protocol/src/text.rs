//! Text rules both peers apply to names they store and show.

/// Whether `text` holds a bidirectional-text control: embeddings, overrides,
/// isolates (U+202A–U+202E, U+2066–U+2069) or the directional marks. In a file
/// name they make it display as another ("Trojan Source"); neither peer
/// accepts such a path.
pub fn has_bidi_control(text: &str) -> bool {
    text.chars()
        .any(|c| matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bidi_controls_are_found_and_plain_text_passes() {
        assert!(has_bidi_control("invoice\u{202E}fdp.exe"));
        assert!(has_bidi_control("a\u{2067}b"));
        assert!(!has_bidi_control("naïve résumé 日本語 עברית"));
    }
}
