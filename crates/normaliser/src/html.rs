//! HTML and plain-text bodies to lines of text.
//!
//! HTML goes through html5ever's tokenizer (the WHATWG tokenizer browsers implement), not
//! regular expressions: it decodes character references, copes with broken markup, and tells
//! us where blocks begin and end. We do not build a tree; a feed body is a fragment whose only
//! structure that matters to us is "where does a line end", which tags answer directly.
//!
//! - Block elements (`p`, `div`, `li`, headings, `blockquote`, table rows, …) and `<br>` end
//!   a line; inline elements (`a`, `b`, `span`, …) do not, so link text stays in its sentence.
//! - The contents of `script`, `style`, `iframe`, `noscript`, `template`, forms and embedded
//!   objects are dropped.
//! - For each line we also note how much of its text was link text (a line that is all link
//!   text is a navigation or related-posts entry, not prose) and whether it ends with a link
//!   that follows other text (the "… Read more" an aggregator appends to a cut paragraph), so
//!   the boilerplate layers can judge that link on its own and keep the paragraph.
//! - Character references that survive one decoding (`&amp;#39;` is `&#39;` after the first)
//!   are decoded once more, strictly: only complete references ending in `;` are touched, so
//!   "AT&T" or "&notice" in prose stay as written.

use html5ever::tendril::StrTendril;
use html5ever::tokenizer::states::RawKind;
use html5ever::tokenizer::{BufferQueue, Tag, TagKind, Token, TokenSink, TokenSinkResult, Tokenizer, TokenizerOpts};
use std::borrow::Cow;
use std::cell::RefCell;

/// One line of a body, with what the boilerplate layers need to know about its markup.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Line {
    /// The text, entities decoded and whitespace tidied; never empty.
    pub text: String,
    /// How many of the text's non-space characters were inside links.
    pub link_chars: usize,
    /// How many non-space characters the text has.
    pub chars: usize,
    /// When the line ends with a link (nothing but spaces after it) that follows other text:
    /// the byte offset in `text` where that link's text begins.
    pub trailing_link: Option<usize>,
}

impl Line {
    /// A line of plain text (no markup).
    pub fn plain(text: String) -> Line {
        let chars = text.chars().filter(|c| !c.is_whitespace()).count();
        Line { text, link_chars: 0, chars, trailing_link: None }
    }

    /// True when every visible character of the line is link text.
    pub fn is_all_link(&self) -> bool {
        self.chars > 0 && self.link_chars >= self.chars
    }
}

/// Converts an HTML fragment to its lines of text. Lines are whitespace-tidied and never empty.
pub fn html_to_lines(html: &str) -> Vec<String> {
    html_to_structured_lines(html).into_iter().map(|l| l.text).collect()
}

/// Converts an HTML fragment to its lines, with link information (see [`Line`]).
pub fn html_to_structured_lines(html: &str) -> Vec<Line> {
    let sink = LineSink { state: RefCell::new(SinkState::default()) };
    let tokenizer = Tokenizer::new(sink, TokenizerOpts::default());
    let input = BufferQueue::default();
    input.push_back(StrTendril::from_slice(html));
    let _ = tokenizer.feed(&input);
    tokenizer.end();
    let mut state = tokenizer.sink.state.into_inner();
    state.break_line();
    state.lines
}

/// Converts a plain-text body to its lines: literal character references (common in YouTube
/// descriptions, sometimes encoded twice) are decoded, whitespace tidied, empty lines dropped.
pub fn text_to_lines(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| tidy_whitespace(&decode_entities_cow(&decode_entities_cow(l))))
        .filter(|l| has_visible_text(l))
        .collect()
}

/// False for a line made only of invisible characters (zero-width spaces, joiners, the blank
/// Braille pattern that posts use as an empty line): it is not a line of text.
fn has_visible_text(line: &str) -> bool {
    line.chars().any(|c| !c.is_whitespace() && !crate::fold::is_format_char(c) && c != '\u{2800}')
}

/// [`text_to_lines`] as [`Line`]s.
pub fn text_to_structured_lines(text: &str) -> Vec<Line> {
    text_to_lines(text)
        .into_iter()
        .map(|text| {
            // Tidied text has no whitespace but single spaces, which are ASCII: counting those
            // bytes is much cheaper than classifying every character as `Line::plain` does.
            let chars = text.chars().count() - text.bytes().filter(|b| *b == b' ').count();
            Line { text, link_chars: 0, chars, trailing_link: None }
        })
        .collect()
}

/// Elements whose start or end begins a new line.
fn is_block(name: &str) -> bool {
    matches!(
        name,
        "address"
            | "article"
            | "aside"
            | "blockquote"
            | "body"
            | "caption"
            | "center"
            | "dd"
            | "details"
            | "dialog"
            | "dir"
            | "div"
            | "dl"
            | "dt"
            | "fieldset"
            | "figcaption"
            | "figure"
            | "footer"
            | "h1"
            | "h2"
            | "h3"
            | "h4"
            | "h5"
            | "h6"
            | "header"
            | "hgroup"
            | "hr"
            | "html"
            | "li"
            | "main"
            | "menu"
            | "nav"
            | "ol"
            | "p"
            | "pre"
            | "section"
            | "summary"
            | "table"
            | "tbody"
            | "td"
            | "tfoot"
            | "th"
            | "thead"
            | "tr"
            | "ul"
    )
}

/// Elements whose whole content is dropped.
fn is_skipped(name: &str) -> bool {
    matches!(
        name,
        "script"
            | "style"
            | "iframe"
            | "noscript"
            | "template"
            | "form"
            | "select"
            | "textarea"
            | "button"
            | "object"
            | "embed"
            | "svg"
            | "math"
            | "head"
            | "title"
            | "noembed"
            | "noframes"
            | "xmp"
    )
}

/// Skipped elements the tokenizer must be told to read as raw text, as a tree builder would.
fn raw_kind(name: &str) -> Option<RawKind> {
    match name {
        "script" => Some(RawKind::ScriptData),
        "style" | "iframe" | "noscript" | "noembed" | "noframes" | "xmp" => Some(RawKind::Rawtext),
        "textarea" | "title" => Some(RawKind::Rcdata),
        _ => None,
    }
}

/// A run of text of the current line, inside one link or outside any.
struct Segment {
    text: String,
    /// The link it belongs to (links are numbered per line), if any.
    link: Option<u32>,
}

#[derive(Default)]
struct SinkState {
    lines: Vec<Line>,
    segments: Vec<Segment>,
    /// Names of skipped elements we are inside, innermost last.
    skipping: Vec<String>,
    /// The number of the open `<a>` element, if we are inside one.
    link: Option<u32>,
    links_seen: u32,
}

impl SinkState {
    fn break_line(&mut self) {
        let segments = std::mem::take(&mut self.segments);
        if let Some(line) = assemble(segments) {
            self.lines.push(line);
        }
    }

    fn tag(&mut self, tag: &Tag) -> TokenSinkResult<()> {
        let name: &str = &tag.name;
        let start = tag.kind == TagKind::StartTag;
        if start && is_skipped(name) && !tag.self_closing {
            self.skipping.push(name.to_string());
            // Script and style contents must be read as raw text, as a tree builder would.
            return raw_kind(name).map_or(TokenSinkResult::Continue, TokenSinkResult::RawData);
        }
        if let Some(open) = self.skipping.last() {
            if !start && open == name {
                self.skipping.pop();
            }
            return TokenSinkResult::Continue;
        }
        if name == "a" {
            if start && !tag.self_closing {
                self.links_seen += 1;
                self.link = Some(self.links_seen);
            } else if !start {
                self.link = None;
            }
            return TokenSinkResult::Continue;
        }
        // Block boundaries and <br> end a line; inline elements (and images, whose alt text
        // is rarely prose) do not.
        if name == "br" || is_block(name) {
            self.break_line();
        }
        TokenSinkResult::Continue
    }

    fn text(&mut self, text: &str) {
        if !self.skipping.is_empty() {
            return;
        }
        match self.segments.last_mut() {
            Some(last) if last.link == self.link => last.text.push_str(text),
            _ => self.segments.push(Segment { text: text.to_string(), link: self.link }),
        }
    }
}

/// Joins a line's segments: decodes entities left over from a double encoding (per segment: a
/// reference never spans a link boundary), tidies whitespace across them, and measures link
/// text. Returns `None` for a line with no visible text.
fn assemble(segments: Vec<Segment>) -> Option<Line> {
    // Decoding and tidying shorten the text (but for a few rare entities): its segments'
    // length is room enough, made once rather than grown a few times per line.
    let mut text = String::with_capacity(segments.iter().map(|s| s.text.len()).sum());
    let (mut chars, mut link_chars) = (0, 0);
    let mut pending_space = false;
    // Where the trailing run of link segments starts, and whether plain text precedes it.
    let mut trailing: Option<usize> = None;
    let mut plain_before = false;
    for segment in segments {
        let decoded = decode_entities_cow(&segment.text);
        let mut first_visible = true;
        // A word (a run of characters that are not whitespace) at a time: copied whole and
        // counted with one pass, rather than pushed a character at a time.
        let mut rest: &str = &decoded;
        loop {
            let trimmed = rest.trim_start();
            pending_space |= trimmed.len() < rest.len();
            if trimmed.is_empty() {
                break;
            }
            let end = trimmed.find(char::is_whitespace).unwrap_or(trimmed.len());
            let (word, after) = trimmed.split_at(end);
            rest = after;
            if pending_space && !text.is_empty() {
                text.push(' ');
            }
            pending_space = false;
            if first_visible {
                first_visible = false;
                match segment.link {
                    Some(_) => {
                        if trailing.is_none() {
                            trailing = Some(text.len());
                        }
                    }
                    None => {
                        if trailing.is_some() {
                            trailing = None;
                        }
                    }
                }
            }
            let n = word.chars().count();
            if segment.link.is_some() {
                link_chars += n;
            } else if trailing.is_none() {
                plain_before = true;
            }
            chars += n;
            text.push_str(word);
        }
    }
    if !has_visible_text(&text) {
        return None;
    }
    let trailing_link = trailing.filter(|at| plain_before && *at > 0);
    Some(Line { text, link_chars, chars, trailing_link })
}

struct LineSink {
    state: RefCell<SinkState>,
}

impl TokenSink for LineSink {
    type Handle = ();

    fn process_token(&self, token: Token, _line: u64) -> TokenSinkResult<()> {
        let mut state = self.state.borrow_mut();
        match token {
            Token::TagToken(tag) => state.tag(&tag),
            Token::CharacterTokens(text) => {
                state.text(&text);
                TokenSinkResult::Continue
            }
            _ => TokenSinkResult::Continue,
        }
    }
}

/// Decodes complete character references (`&name;`, `&#NNN;`, `&#xHH;`) in text that was
/// already decoded once. Anything that is not a complete reference is left exactly as it was.
pub fn decode_entities(text: &str) -> String {
    decode_entities_cow(text).into_owned()
}

/// [`decode_entities`], without copying text that holds no `&`.
fn decode_entities_cow(text: &str) -> Cow<'_, str> {
    if !text.contains('&') {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        match decode_reference(after) {
            Some((decoded, consumed)) => {
                out.push_str(&decoded);
                rest = &after[consumed..];
            }
            None => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// Decodes one reference at the start of `s` (just after the `&`): returns the text and how
/// many bytes of `s` it used, including the `;`.
fn decode_reference(s: &str) -> Option<(String, usize)> {
    let semi = s.find(';')?;
    if semi == 0 || semi > 32 {
        return None;
    }
    let body = &s[..semi];
    if let Some(num) = body.strip_prefix('#') {
        let code = if let Some(hex) = num.strip_prefix('x').or_else(|| num.strip_prefix('X')) {
            u32::from_str_radix(hex, 16).ok()?
        } else {
            num.parse::<u32>().ok()?
        };
        let c = numeric_char(code)?;
        return Some((c.to_string(), semi + 1));
    }
    if !body.chars().all(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    let key = &s[..=semi];
    let &(a, b) = html5ever::data::NAMED_ENTITIES.get(key)?;
    let mut decoded = String::new();
    decoded.push(char::from_u32(a)?);
    if b != 0 {
        decoded.push(char::from_u32(b)?);
    }
    Some((decoded, semi + 1))
}

/// A numeric reference's character, with the HTML rule that 0x80–0x9F mean windows-1252.
fn numeric_char(code: u32) -> Option<char> {
    if (0x80..=0x9F).contains(&code) {
        return windows_1252_c1(code as u8);
    }
    match code {
        0 => Some('\u{FFFD}'),
        _ => char::from_u32(code).or(Some('\u{FFFD}')),
    }
}

/// The windows-1252 meaning of a C1 byte, per the HTML specification's replacement table.
fn windows_1252_c1(byte: u8) -> Option<char> {
    const TABLE: [u32; 32] = [
        0x20AC, 0x81, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x8D,
        0x017D, 0x8F, 0x90, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A,
        0x0153, 0x9D, 0x017E, 0x0178,
    ];
    char::from_u32(TABLE[(byte - 0x80) as usize])
}

/// Collapses runs of whitespace (including no-break, thin, ideographic spaces, and the line and
/// paragraph separators) to one space and trims the ends. Zero-width characters are left for
/// the folding step to judge.
pub fn tidy_whitespace(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    for word in line.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paragraphs_and_breaks_become_lines() {
        let html = "<p>First <b>bold</b> paragraph.</p>\n<p>Second<br>line two<br/>line three</p><ul><li>one</li><li>two</li></ul>";
        assert_eq!(html_to_lines(html), ["First bold paragraph.", "Second", "line two", "line three", "one", "two"]);
    }

    /// Lines as first assembled, a character at a time.
    fn reference_assemble(segments: &[Segment]) -> Option<Line> {
        let mut text = String::new();
        let (mut chars, mut link_chars) = (0, 0);
        let mut pending_space = false;
        let mut trailing: Option<usize> = None;
        let mut plain_before = false;
        for segment in segments {
            let mut first_visible = true;
            for c in decode_entities_cow(&segment.text).chars() {
                if c.is_whitespace() {
                    pending_space = true;
                    continue;
                }
                if pending_space && !text.is_empty() {
                    text.push(' ');
                }
                pending_space = false;
                if first_visible {
                    first_visible = false;
                    match segment.link {
                        Some(_) if trailing.is_none() => trailing = Some(text.len()),
                        None => trailing = None,
                        _ => {}
                    }
                }
                if segment.link.is_some() {
                    link_chars += 1;
                } else if trailing.is_none() {
                    plain_before = true;
                }
                chars += 1;
                text.push(c);
            }
        }
        let trailing_link = trailing.filter(|at| plain_before && *at > 0);
        has_visible_text(&text).then_some(Line { text, link_chars, chars, trailing_link })
    }

    #[test]
    fn lines_are_assembled_a_word_at_a_time_as_a_character_at_a_time() {
        let pieces = [
            ("", None),
            ("  ", None),
            (" Read\u{00A0}the ", None),
            ("full  report", Some(1)),
            ("\u{3000}", Some(1)),
            ("here.\t", None),
            ("Дальше &amp;&nbsp;ещё", Some(2)),
            ("x", Some(3)),
            ("\u{200B}", None),
            (" ", Some(4)),
        ];
        // Every sequence of up to four pieces.
        let n = pieces.len();
        for k in 0..n * n * n * n {
            let segments: Vec<Segment> = [k % n, k / n % n, k / n / n % n, k / n / n / n]
                .iter()
                .map(|&i| Segment { text: pieces[i].0.to_string(), link: pieces[i].1 })
                .collect();
            let expected = reference_assemble(&segments);
            assert_eq!(assemble(segments), expected, "{k}");
        }
    }

    #[test]
    fn link_text_stays_in_its_sentence() {
        let html = "<p>Read the <a href=\"https://example.org\">full report</a> here.</p>";
        assert_eq!(html_to_lines(html), ["Read the full report here."]);
    }

    #[test]
    fn link_text_and_trailing_links_are_measured() {
        let html = "<p>The report also showed the public is having&hellip; <a href=\"/x\">Read more</a> </p>\
                    <ul><li><a href=\"/a\">Amex shares up on spin-off news</a></li></ul>\
                    <p>So said the <a href=\"/pm\">Prime Minister</a>.</p><p><a href=\"/b\">Only a link</a></p>";
        let lines = html_to_structured_lines(html);
        assert_eq!(lines.len(), 4);
        let first = &lines[0];
        assert_eq!(first.text, "The report also showed the public is having… Read more");
        let at = first.trailing_link.expect("a trailing link");
        assert_eq!(&first.text[at..], "Read more");
        assert!(!first.is_all_link());
        assert!(lines[1].is_all_link());
        assert_eq!(lines[1].trailing_link, None, "a line that is only a link has nothing to keep");
        assert_eq!(lines[2].trailing_link, None, "punctuation after the link: it is part of the sentence");
        assert!(lines[3].is_all_link());
    }

    #[test]
    fn scripts_styles_iframes_and_forms_are_dropped() {
        let html = "<p>Kept</p><script>var x = '<p>not text</p>';</script><style>p{color:red}</style>\
                    <iframe src=x>fallback</iframe><form><label>Email</label><button>Subscribe</button></form><p>Also kept</p>";
        assert_eq!(html_to_lines(html), ["Kept", "Also kept"]);
    }

    #[test]
    fn entities_are_decoded_even_when_encoded_twice() {
        let html = "<p>It&amp;#39;s &quot;fine&quot; &amp;amp; dandy &pound;7m&amp;hellip;</p>";
        assert_eq!(html_to_lines(html), ["It's \"fine\" & dandy £7m…"]);
    }

    #[test]
    fn prose_ampersands_survive() {
        assert_eq!(decode_entities("AT&T and R&D, &notice; & more"), "AT&T and R&D, &notice; & more");
        assert_eq!(decode_entities("&#8220;quoted&#x201D; &#150;"), "“quoted” –");
    }

    #[test]
    fn plain_text_keeps_lines_and_decodes_literal_entities() {
        let text = "Line one &amp;quot;q&amp;quot;\n\n  Line\u{00A0}\u{00A0}two  \nEnd";
        assert_eq!(text_to_lines(text), ["Line one \"q\"", "Line two", "End"]);
    }

    #[test]
    fn plain_text_lines_count_their_visible_characters() {
        let text = "  Two\u{00A0} words\t\u{3000}here\n\nÉtape  deux ";
        let lines = text_to_structured_lines(text);
        assert_eq!(lines, text_to_lines(text).into_iter().map(Line::plain).collect::<Vec<_>>());
        assert_eq!(lines.iter().map(|l| l.chars).collect::<Vec<_>>(), [12, 9]);
    }

    #[test]
    fn lines_of_invisible_characters_are_not_lines() {
        let text = "First\n\u{200B}\u{2060}\n\u{2800}\nSecond\u{2028}half";
        assert_eq!(text_to_lines(text), ["First", "Second half"]);
        assert_eq!(html_to_lines("<p>One</p><p>\u{200B}</p><p>&#8203;</p><p>Two</p>"), ["One", "Two"]);
    }

    #[test]
    fn broken_markup_does_not_lose_text() {
        let html = "<p>Unclosed <b>bold <i>and italic<p>Next</div></span>tail";
        assert_eq!(html_to_lines(html), ["Unclosed bold and italic", "Next", "tail"]);
    }
}
