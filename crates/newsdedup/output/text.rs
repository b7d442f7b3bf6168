//! Escaping and small text helpers shared by the Atom, JSON Feed and HTML renderers.

use std::fmt::Write;

/// Escapes text for XML and HTML, in element content and in quoted attribute values alike.
/// Characters that XML 1.0 forbids even when escaped (most C0 controls, U+FFFE, U+FFFF) are
/// dropped: a feed that carried one must not make our document unparseable.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => {}
            c => out.push(c),
        }
    }
    out
}

/// A clean text (one paragraph per line) as HTML paragraphs.
pub fn paragraphs(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let _ = write!(out, "<p>{}</p>", escape(line));
    }
    out
}

/// A stored RFC 3339 time as people read it: `2026-03-02 12:00 UTC`.
pub fn display_time(s: &str) -> String {
    match super::parse_time(s) {
        Some(t) => t.format("%Y-%m-%d %H:%M UTC").to_string(),
        None => s.to_string(),
    }
}

/// How long after the canonical item a repost appeared: `+2h 5m`, `-40m`, `+3d 1h`.
pub fn lag(seconds: i64) -> String {
    let sign = if seconds < 0 { '-' } else { '+' };
    let s = seconds.unsigned_abs();
    let (d, h, m) = (s / 86_400, s % 86_400 / 3600, s % 3600 / 60);
    match (d, h, m) {
        (0, 0, m) if m == 0 && s > 0 => format!("{sign}{s}s"),
        (0, 0, m) => format!("{sign}{m}m"),
        (0, h, m) => format!("{sign}{h}h {m}m"),
        (d, h, _) => format!("{sign}{d}d {h}h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_markup_quotes_and_forbidden_characters() {
        assert_eq!(escape(r#"<a href="x">'&'</a>"#), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
        assert_eq!(escape("a\u{0}b\u{1b}c\u{ffff}\td\ne"), "abc\td\ne");
        assert_eq!(escape("Новости ✓"), "Новости ✓");
    }

    #[test]
    fn paragraphs_skip_blank_lines() {
        assert_eq!(paragraphs("One <b>\n\n  two  \n"), "<p>One &lt;b&gt;</p><p>two</p>");
    }

    #[test]
    fn lags_read_naturally() {
        assert_eq!(lag(0), "+0m");
        assert_eq!(lag(45), "+45s");
        assert_eq!(lag(3600 + 300), "+1h 5m");
        assert_eq!(lag(-2400), "-40m");
        assert_eq!(lag(3 * 86_400 + 3600), "+3d 1h");
        assert_eq!(display_time("2026-03-02T12:00:00Z"), "2026-03-02 12:00 UTC");
    }
}
