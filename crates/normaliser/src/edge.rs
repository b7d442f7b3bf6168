//! The edge layer: what a line looks like, whatever its language.
//!
//! Reposters put their additions at the head and the tail of an item, and those additions have
//! a look that needs no vocabulary: a link list (a line that is nothing but link text), contact
//! lines (a few words and a URL, an @handle or an e-mail address), hashtag walls, keyword walls
//! (long comma-separated lists of short lowercase phrases), emoji banners, short labels ending
//! with a colon, a signature after a dash. This module only classifies one line; the caller
//! (see the crate root) cuts a block of such lines at the head or the tail of the item and
//! leaves the same line alone in the middle of the story.
//!
//! Two strengths: a [`EdgeKind::Strong`] line is boilerplate wherever an edge block holds it;
//! a [`EdgeKind::Weak`] line (a label, a signature, an emoji-decorated short line) only goes
//! along with a block that holds something stronger, because prose has short lines too.

use crate::chars;
use crate::html::Line;

/// How a line looks, for the edge layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EdgeKind {
    /// Prose, or anything else the edge layer has no opinion on.
    Content,
    /// Goes with a block of boilerplate, never alone. The id names the look.
    Weak(&'static str),
    /// Boilerplate when it lies in an edge block. The id names the look.
    Strong(&'static str),
}

impl EdgeKind {
    pub fn is_content(self) -> bool {
        self == EdgeKind::Content
    }

    pub fn id(self) -> Option<&'static str> {
        match self {
            EdgeKind::Content => None,
            EdgeKind::Weak(id) | EdgeKind::Strong(id) => Some(id),
        }
    }
}

/// The most words a line may have to be judged by its look alone; longer lines are prose
/// whatever they contain (keyword and hashtag walls excepted: they are long by nature).
const MAX_WORDS: usize = 15;

/// Classifies one line. `folded` is the line's folded form.
pub fn classify(line: &Line, folded: &str) -> EdgeKind {
    let text = line.text.as_str();
    let (mut count, mut hashtags) = (0, 0);
    for token in crate::fold::words(folded) {
        count += 1;
        hashtags += usize::from(is_hashtag(token));
    }
    if hashtags >= 2 && hashtags * 2 >= count {
        return EdgeKind::Strong("edge.hashtags");
    }
    if is_keyword_wall(text) {
        return EdgeKind::Strong("edge.keywords");
    }
    // Beyond this many tokens nothing below can hold: skip the per-word work on prose, and
    // keep the tokens only of the lines that get it.
    if count > 3 * MAX_WORDS {
        return EdgeKind::Content;
    }
    // The tokens are walked again for each question rather than kept: most lines ask one.
    let tokens = || crate::fold::words(folded);
    let words = word_count(folded);
    if line.is_all_link() && words <= 20 {
        return EdgeKind::Strong("edge.link-list");
    }
    let emoji = text.chars().any(is_pictograph);
    if let Some(first) = tokens().position(is_contact_token) {
        let plain_words: usize = tokens().filter(|t| !is_contact_token(t) && !is_hashtag(t)).map(word_count).sum();
        if plain_words <= 12 {
            // "Telegram: t.me/x", "@handle", "📩 x@example.org" are contact lines; a sentence
            // that ends with an address ("Details are at example.org/flu") may be the story's.
            let before = first.checked_sub(1).and_then(|i| tokens().nth(i));
            let labelled = before.is_some_and(|t| t.ends_with(':') || t.ends_with('-'));
            return if labelled || plain_words <= 3 || emoji {
                EdgeKind::Strong("edge.contact")
            } else {
                EdgeKind::Weak("edge.contact")
            };
        }
    }
    if words > MAX_WORDS {
        return EdgeKind::Content;
    }
    let label = words <= 6 && text.trim_end_matches(is_pictograph).trim_end().ends_with(':');
    let caps = words <= 6 && is_all_caps(text);
    let exclaims = text.trim_end_matches(|c: char| is_pictograph(c) || c.is_whitespace()).ends_with('!');
    if emoji && (caps || label || exclaims) {
        return EdgeKind::Strong("edge.banner");
    }
    if label {
        return EdgeKind::Weak("edge.label");
    }
    if words <= 5 && text.starts_with(['—', '–', '-', '~']) {
        return EdgeKind::Weak("edge.signature");
    }
    if emoji && words <= 12 {
        return EdgeKind::Weak("edge.emoji");
    }
    if caps {
        return EdgeKind::Weak("edge.caps");
    }
    EdgeKind::Content
}

/// Words: runs of letters or digits.
pub fn word_count(text: &str) -> usize {
    text.split(|c: char| !chars::is_alphanumeric(c)).filter(|w| !w.is_empty()).count()
}

/// A URL, a bare link such as `t.me/channel`, an @handle or an e-mail address.
fn is_contact_token(token: &str) -> bool {
    let t = token.trim_matches(|c: char| !chars::is_alphanumeric(c) && c != '@' && c != '/');
    // Most tokens are plain words: without `:`, `@` or `/` only the `www.` test below can hold.
    if !t.bytes().any(|b| matches!(b, b':' | b'@' | b'/')) {
        return t.starts_with("www.");
    }
    if t.contains("://") || t.starts_with("www.") {
        return true;
    }
    if let Some(handle) = t.strip_prefix('@') {
        return handle.chars().filter(|c| chars::is_alphanumeric(*c)).count() >= 2
            && handle.chars().all(|c| chars::is_alphanumeric(c) || matches!(c, '_' | '.'));
    }
    if let Some((user, domain)) = t.split_once('@') {
        return !user.is_empty() && is_domain(domain);
    }
    // A bare domain with a path: "t.me/channel", "vk.com/page".
    match t.split_once('/') {
        Some((host, path)) => is_domain(host) && !path.is_empty(),
        None => false,
    }
}

/// `name.tld` with an alphabetic top-level label of two to six letters.
fn is_domain(s: &str) -> bool {
    let labels: Vec<&str> = s.split('.').collect();
    labels.len() >= 2
        && labels.iter().all(|l| !l.is_empty() && l.chars().all(|c| chars::is_alphanumeric(c) || c == '-'))
        && labels.last().is_some_and(|tld| (2..=6).contains(&tld.len()) && tld.chars().all(|c| c.is_ascii_lowercase()))
}

fn is_hashtag(token: &str) -> bool {
    // Most tokens are words: one byte settles them.
    if !token.starts_with('#') {
        return false;
    }
    let t = token.trim_end_matches([',', '.', ';', '|']);
    t.strip_prefix('#').is_some_and(|rest| rest.chars().next().is_some_and(chars::is_alphanumeric))
}

/// A long list of short lowercase phrases separated by commas (or `;`, `|`), usually after a
/// one-word label: search keywords and tags pasted under a video or a post. Lists of names are
/// capitalised, and sentences have long segments, so neither qualifies.
fn is_keyword_wall(text: &str) -> bool {
    // Each separator is counted with `memchr` (`matches` of one character), a ", " from its
    // comma: `matches(", ")` would set up a substring search, and a pattern of several
    // characters decodes every character, on every line.
    let commas = text.match_indices(',').filter(|(at, _)| text.as_bytes().get(at + 1) == Some(&b' ')).count();
    let separators = commas + text.matches(';').count() + text.matches('|').count() + text.matches('،').count();
    // Prose has commas too, but between long stretches: keywords are a few words each.
    if separators < 5 || text.chars().count() > 40 * (separators + 1) {
        return false;
    }
    let (body, labelled) = match text.split_once(':') {
        Some((label, rest)) if word_count(label) <= 2 => (rest, true),
        _ => (text, false),
    };
    // A sentence that lists things ("The ban covers dairy products, bottled water, …") ends
    // like one; a pasted list of keywords does not, unless a label says what it is.
    let end = text.trim_end_matches(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '»' | '”' | ')'));
    if !labelled && end.ends_with(['.', '!', '?', '…']) {
        return false;
    }
    // Split at ", " (not inside numbers such as "3,5"), ";", "|".
    let segments: Vec<&str> = body
        .split(", ")
        .flat_map(|s| s.split([';', '|', '،']))
        .map(str::trim)
        .filter(|s| s.chars().any(chars::is_alphabetic))
        .collect();
    if segments.len() < 6 {
        return false;
    }
    let short = segments.iter().filter(|s| (1..=4).contains(&word_count(s))).count();
    let lowercase = segments
        .iter()
        .filter(|s| s.chars().find(|c| chars::is_alphabetic(*c)).is_some_and(chars::is_lowercase))
        .count();
    short * 10 >= segments.len() * 9 && lowercase * 10 >= segments.len() * 8
}

/// Letters are all capitals, and there are enough of them to say so.
fn is_all_caps(text: &str) -> bool {
    let mut letters = 0;
    for c in text.chars().filter(|c| chars::is_alphabetic(*c)) {
        if !chars::is_uppercase(c) {
            return false;
        }
        letters += 1;
    }
    letters >= 4
}

/// Emoji, pictographs, arrows, dingbats and geometric shapes used as bullets.
pub fn is_pictograph(c: char) -> bool {
    // Every one is at U+20E3 or above: text below it is answered with one comparison.
    c >= '\u{20E3}'
        && matches!(c,
        '\u{2190}'..='\u{21FF}' | '\u{2300}'..='\u{23FF}' | '\u{25A0}'..='\u{27BF}' | '\u{2900}'..='\u{297F}'
        | '\u{2B00}'..='\u{2BFF}' | '\u{1F000}'..='\u{1FAFF}' | '\u{FE0F}' | '\u{20E3}')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fold::fold_line;

    fn kind(text: &str) -> EdgeKind {
        classify(&Line::plain(text.to_string()), &fold_line(text))
    }

    #[test]
    fn contact_lines_in_any_language() {
        for line in [
            "Twitter: https://twitter.com/example",
            "Предложить новость: @example_bot",
            "Folgen Sie uns auf Telegram: t.me/beispiel",
            "Abone olun: https://youtube.com/@ornek",
        ] {
            assert_eq!(kind(line), EdgeKind::Strong("edge.contact"), "{line}");
        }
        // A sentence ending with an address goes only with other boilerplate.
        assert_eq!(kind("More information is available at www.gov.uk/flu"), EdgeKind::Weak("edge.contact"));
        assert_eq!(kind("Per richieste commerciali scrivete a redazione@esempio.it"), EdgeKind::Weak("edge.contact"));
        // A long sentence that happens to name a site stays prose.
        let prose = "The international exclusion zone around georgewbush.com was spotted by net monitoring firm \
                     Netcraft which keeps an eye on traffic patterns across many sites.";
        assert_eq!(kind(prose), EdgeKind::Content);
    }

    #[test]
    fn walls_of_tags_and_keywords() {
        assert_eq!(kind("#news #politics #breakingnews"), EdgeKind::Strong("edge.hashtags"));
        assert_eq!(
            kind("Etiquetas: noticias hoy, noticias ahora, últimas noticias, noticias en vivo, noticias del día, noticias 2024"),
            EdgeKind::Strong("edge.keywords")
        );
        // Names are capitalised: a team sheet is not a keyword wall.
        let team =
            "G Thomas (Toulouse, capt); K Morgan (Newport-Gwent), T Shanklin (Cardiff), G Henson (Neath-Swansea), \
                    S Williams (Neath-Swansea); S Jones (Clermont Auvergne)";
        assert_eq!(kind(team), EdgeKind::Content);
        // A sentence that lists things ends like a sentence.
        let sentence = "The ban covers dairy products, bottled water, fresh fruit, frozen vegetables, canned fish, \
                        baby food and pet food.";
        assert_eq!(kind(sentence), EdgeKind::Content);
        let list = "dairy products, bottled water, fresh fruit, frozen vegetables, canned fish, baby food";
        assert_eq!(kind(list), EdgeKind::Strong("edge.keywords"));
        assert_eq!(kind(&format!("{list}.")), EdgeKind::Content);
        // Numbers with decimal commas are not list separators.
        let rates = "Курс доллара расчетами \"завтра\" на 10.16 мск падает на 3,5 рубля, до 96,70 рубля, юаня – на 46 \
                     копеек, до 13,25 рубля, евро – на 3,63 рубля, до 105,3 рубля.";
        assert_eq!(kind(rates), EdgeKind::Content);
    }

    #[test]
    fn pictographs_are_the_listed_ranges() {
        for c in (0..0x2_0000).filter_map(char::from_u32) {
            let listed = matches!(c,
                '\u{2190}'..='\u{21FF}' | '\u{2300}'..='\u{23FF}' | '\u{25A0}'..='\u{27BF}' | '\u{2900}'..='\u{297F}'
                | '\u{2B00}'..='\u{2BFF}' | '\u{1F000}'..='\u{1FAFF}' | '\u{FE0F}' | '\u{20E3}');
            assert_eq!(is_pictograph(c), listed, "{c:?}");
        }
    }

    #[test]
    fn separators_are_counted_as_matches_would() {
        // Lowercase keywords after a label, so that the separator count alone decides.
        for list in [
            "a b, c d, e f, g h, i j, k l",
            "a b, c d, e f, g h, i j k l",
            "a b ، c d، e f، g h، i j، k l",
            "a b،c d ،e f ،g h ،i j ،k l",
            "a b; c d| e f;g h|i j; k l",
            "a b,, c d,,, e f ,, g h, i j k l",
            "a b, , c d, , e f, , g h",
        ] {
            let text = format!("Tags: {list}");
            let separators = text.matches(", ").count() + text.matches([';', '|', '،']).count();
            let segments = list.split(", ").flat_map(|s| s.split([';', '|', '،'])).filter(|s| !s.trim().is_empty());
            assert_eq!(is_keyword_wall(&text), separators >= 5 && segments.count() >= 6, "{text}");
        }
    }

    #[test]
    fn banners_labels_and_signatures() {
        assert_eq!(kind("📢 NEWS UPDATE 📢"), EdgeKind::Strong("edge.banner"));
        assert_eq!(kind("Folgen Sie uns:"), EdgeKind::Weak("edge.label"));
        assert_eq!(kind("— Haber Merkezi"), EdgeKind::Weak("edge.signature"));
        assert_eq!(kind("🔥 Les infos du jour en un clin d'œil"), EdgeKind::Weak("edge.emoji"));
        assert_eq!(kind("Ewood Park"), EdgeKind::Content);
        assert_eq!(kind("Mozambique v Zimbabwe"), EdgeKind::Content);
        assert_eq!(kind("He said the plan, which was new, would work."), EdgeKind::Content);
    }

    #[test]
    fn link_only_lines_are_link_lists() {
        let line =
            Line { text: "Bank opts to leave rates on hold".into(), link_chars: 27, chars: 27, trailing_link: None };
        assert_eq!(classify(&line, &fold_line(&line.text)), EdgeKind::Strong("edge.link-list"));
    }
}
