//! Titles without the decoration reposters add.
//!
//! Removed: emoji and pictographs at either end ("🔴", "⚡️"), a leading all-caps flag ended by
//! `:` or `!` ("BREAKING:", "СРОЧНО!", "JUST IN:"; not an acronym such as "NASA:" or "МИД:",
//! which is part of the headline, and not in a title that is all capitals anyway), trailing
//! hashtags, a trailing " - YouTube", a trailing "| Channel name" when it is shorter than what
//! precedes it, and a trailing source in parentheses ("(BBC News)", "(Reuters)"). The words of
//! the title are otherwise kept as written.

use crate::html::{decode_entities, tidy_whitespace};

/// The cleaned form of a raw title.
pub fn clean_title(raw: &str) -> String {
    let mut t = tidy_whitespace(&decode_entities(&decode_entities(raw)));
    // Strip repeatedly: decorations come in combinations ("🔴 BREAKING: … | Channel #news").
    for _ in 0..4 {
        let before = t.clone();
        t = strip_decoration(&t);
        t = strip_leading_flag(&t);
        t = strip_trailing_hashtags(&t);
        t = strip_trailing_site(&t);
        t = strip_trailing_source(&t);
        if t == before {
            break;
        }
    }
    t
}

/// Emoji, pictographs, arrows and dingbats, and the joiners and selectors that combine them.
fn is_decoration(c: char) -> bool {
    matches!(c,
        '\u{2190}'..='\u{21FF}' | '\u{2300}'..='\u{23FF}' | '\u{25A0}'..='\u{27BF}' | '\u{2900}'..='\u{297F}'
        | '\u{2B00}'..='\u{2BFF}' | '\u{1F000}'..='\u{1FAFF}' | '\u{FE0E}' | '\u{FE0F}' | '\u{200D}' | '\u{20E3}'
        | '\u{E0020}'..='\u{E007F}')
}

fn strip_decoration(t: &str) -> String {
    let trimmed = t.trim_matches(|c: char| {
        is_decoration(c) || c.is_whitespace() || matches!(c, '|' | '•' | '·' | '-' | '–' | '—')
    });
    // Never strip a title down to nothing.
    if trimmed.chars().any(char::is_alphanumeric) {
        trimmed.to_string()
    } else {
        t.to_string()
    }
}

/// "BREAKING: x", "СРОЧНО! x", "JUST IN: x", "WATCH - x": one to three words in capitals
/// followed by a colon, exclamation mark or dash.
fn strip_leading_flag(t: &str) -> String {
    let Some(end) = t.find([':', '!', '|']).or_else(|| t.find(" - ")) else { return t.to_string() };
    let flag = t[..end].trim();
    let words: Vec<&str> = flag.split_whitespace().collect();
    let letters = flag.chars().filter(|c| c.is_alphabetic()).count();
    let is_flag = !words.is_empty()
        && words.len() <= 3
        && flag.chars().filter(|c| c.is_alphabetic()).all(|c| c.is_uppercase())
        // One short capitalised word is an acronym ("NASA:", "МИД:"), part of the headline.
        && (letters >= 5 || (words.len() > 1 && letters >= 3));
    if !is_flag {
        return t.to_string();
    }
    let rest = t[end..].trim_start_matches([':', '!', '|', ' ', '-']).trim();
    let rest_all_caps = rest.chars().filter(|c| c.is_alphabetic()).all(|c| c.is_uppercase());
    if rest.chars().filter(|c| c.is_alphabetic()).count() >= 3 && !rest_all_caps {
        rest.to_string()
    } else {
        t.to_string()
    }
}

fn strip_trailing_hashtags(t: &str) -> String {
    let mut words: Vec<&str> = t.split_whitespace().collect();
    let mut stripped = false;
    while words.len() > 1 && words.last().is_some_and(|w| w.starts_with('#') && w.len() > 1) {
        words.pop();
        stripped = true;
    }
    if stripped {
        words.join(" ")
    } else {
        t.to_string()
    }
}

fn strip_trailing_site(t: &str) -> String {
    for suffix in [" - YouTube", " – YouTube", " | YouTube"] {
        if let Some(rest) = t.strip_suffix(suffix) {
            return rest.trim().to_string();
        }
    }
    if let Some(bar) = t.rfind(" | ") {
        let (head, tail) = (&t[..bar], &t[bar + 3..]);
        if tail.chars().count() < head.chars().count() && head.chars().filter(|c| c.is_alphabetic()).count() >= 3 {
            return head.trim().to_string();
        }
    }
    t.to_string()
}

/// "Storm hits coast (BBC News)": a trailing parenthesised name of one to three capitalised
/// words is the source a reposter credits, not part of the headline.
fn strip_trailing_source(t: &str) -> String {
    let Some(inner) = t.strip_suffix(')') else { return t.to_string() };
    let Some(open) = inner.rfind('(') else { return t.to_string() };
    let (head, name) = (inner[..open].trim_end(), &inner[open + 1..]);
    let words: Vec<&str> = name.split_whitespace().collect();
    let is_name = (1..=3).contains(&words.len())
        && words
            .iter()
            .all(|w| w.chars().next().is_some_and(|c| c.is_uppercase()) && w.chars().all(char::is_alphabetic));
    if is_name && head.chars().filter(|c| c.is_alphabetic()).count() >= 3 {
        head.to_string()
    } else {
        t.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decorations_are_removed() {
        assert_eq!(clean_title("BREAKING: Oscars race enters final furlong"), "Oscars race enters final furlong");
        assert_eq!(clean_title("🔴 Markets rally again | Daily Market TV"), "Markets rally again");
        assert_eq!(clean_title("⚡️ В Красноярске продлили режим"), "В Красноярске продлили режим");
        assert_eq!(clean_title("СРОЧНО! ФАС возбудила дело"), "ФАС возбудила дело");
        assert_eq!(clean_title("Rates held steady #news #economy"), "Rates held steady");
        assert_eq!(clean_title("Storm hits coast - YouTube"), "Storm hits coast");
        assert_eq!(clean_title("Lost Doors frontman movie found (BBC News)"), "Lost Doors frontman movie found");
        assert_eq!(clean_title("JUST IN: Rates held"), "Rates held");
    }

    #[test]
    fn ordinary_titles_are_left_alone() {
        for t in [
            "Blair's hope for Blunkett return",
            "US: the view from Washington",
            "UK, EU agree deal",
            "Row over 'police' power for CSOs",
            "МИД: Россия обеспечит свои интересы",
            "NASA: rover finds water",
            "Election results (part 2)",
            "ARTHUR HAILEY: KING OF THE BESTSELLERS",
        ] {
            assert_eq!(clean_title(t), t);
        }
    }

    #[test]
    fn entities_in_titles_are_decoded() {
        assert_eq!(clean_title("It&amp;#39;s a &quot;deal&quot;"), "It's a \"deal\"");
    }
}
