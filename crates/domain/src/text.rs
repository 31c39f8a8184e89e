//! What a one-line text a person names something with (an account, a graph, a
//! node, a library title) may hold: no control characters, nothing that
//! reorders how the text is shown, and nothing invisible that makes two names
//! look alike.
//!
//! Refused: every control character (`char::is_control`); bidirectional
//! embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069) and the
//! directional marks (U+200E, U+200F, U+061C), with which `"txt.exe"` can be
//! shown as `"exe.txt"`; the invisible separators and joiners that have no
//! place in a name (U+200B zero-width space, U+2060 word joiner, U+FEFF,
//! U+180E, U+2028, U+2029, U+00AD soft hyphen). The zero-width joiner and
//! non-joiner (U+200D, U+200C) shape emoji sequences and Persian or Indic
//! words, so they are allowed between two visible non-ASCII characters and
//! refused anywhere else (leading, trailing, doubled, or inside ASCII, where
//! they only serve to make look-alikes).

/// Why a one-line text was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HiddenCharacter {
    /// A control character (tab, newline, NUL, ...).
    Control(char),
    /// A character that changes the direction text is shown in.
    Bidi(char),
    /// An invisible character that only makes texts look alike.
    Invisible(char),
}

impl HiddenCharacter {
    /// The offending character.
    pub fn character(self) -> char {
        match self {
            HiddenCharacter::Control(c)
            | HiddenCharacter::Bidi(c)
            | HiddenCharacter::Invisible(c) => c,
        }
    }

    /// "control", "bidirectional-override" or "invisible", for messages.
    pub fn kind(self) -> &'static str {
        match self {
            HiddenCharacter::Control(_) => "control",
            HiddenCharacter::Bidi(_) => "bidirectional-override",
            HiddenCharacter::Invisible(_) => "invisible",
        }
    }
}

impl std::fmt::Display for HiddenCharacter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} character U+{:04X}",
            self.kind(),
            u32::from(self.character())
        )
    }
}

fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}')
}

fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{200B}' | '\u{2060}' | '\u{FEFF}' | '\u{180E}' | '\u{2028}' | '\u{2029}' | '\u{00AD}'
    )
}

fn is_joiner(c: char) -> bool {
    matches!(c, '\u{200C}' | '\u{200D}')
}

/// A visible character a joiner may stand between.
fn joins(c: Option<char>) -> bool {
    c.is_some_and(|c| {
        !c.is_ascii()
            && !c.is_whitespace()
            && !c.is_control()
            && !is_bidi_control(c)
            && !is_invisible(c)
            && !is_joiner(c)
    })
}

/// The first character of `text` that a one-line name must not hold.
pub fn hidden_character(text: &str) -> Option<HiddenCharacter> {
    let chars: Vec<char> = text.chars().collect();
    for (index, &c) in chars.iter().enumerate() {
        if c.is_control() {
            return Some(HiddenCharacter::Control(c));
        }
        if is_bidi_control(c) {
            return Some(HiddenCharacter::Bidi(c));
        }
        if is_invisible(c) {
            return Some(HiddenCharacter::Invisible(c));
        }
        if is_joiner(c) {
            let before = index.checked_sub(1).map(|i| chars[i]);
            let after = chars.get(index + 1).copied();
            if !joins(before) || !joins(after) {
                return Some(HiddenCharacter::Invisible(c));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_in_any_script_pass() {
        for name in ["Ada Lovelace", "Zoë", "محمد", "שלום", "東京 agents", "नमस्ते"]
        {
            assert_eq!(hidden_character(name), None, "{name}");
        }
    }

    #[test]
    fn emoji_and_persian_joiners_pass_between_visible_characters() {
        assert_eq!(hidden_character("family 👨\u{200D}👩\u{200D}👧"), None);
        assert_eq!(hidden_character("می\u{200C}خواهم"), None);
    }

    #[test]
    fn overrides_marks_and_invisibles_are_refused() {
        assert_eq!(
            hidden_character("invoice\u{202E}fdp.exe"),
            Some(HiddenCharacter::Bidi('\u{202E}'))
        );
        assert_eq!(
            hidden_character("a\u{2066}b"),
            Some(HiddenCharacter::Bidi('\u{2066}'))
        );
        assert_eq!(
            hidden_character("ad\u{200B}min"),
            Some(HiddenCharacter::Invisible('\u{200B}'))
        );
        assert_eq!(
            hidden_character("ad\u{200D}min"),
            Some(HiddenCharacter::Invisible('\u{200D}')),
            "a joiner inside ASCII only makes a look-alike"
        );
        assert_eq!(
            hidden_character("\u{200D}👩"),
            Some(HiddenCharacter::Invisible('\u{200D}'))
        );
        assert_eq!(
            hidden_character("tab\there"),
            Some(HiddenCharacter::Control('\t'))
        );
        assert_eq!(
            HiddenCharacter::Bidi('\u{202E}').to_string(),
            "bidirectional-override character U+202E"
        );
    }
}
