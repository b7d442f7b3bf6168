//! Deciding a document's character encoding and decoding it to UTF-8.
//!
//! The order is the one browsers and careful feed readers use: a byte-order mark wins, then the
//! charset of the HTTP Content-Type, then the XML declaration's `encoding`, then UTF-8. The
//! real-world exceptions: a header that claims ISO-8859-1 (or its relatives, or US-ASCII) in
//! front of a body that is valid UTF-8 is lying by default configuration, so the body wins; a
//! header that claims UTF-8 in front of a body that is not UTF-8 and declares another
//! encoding (a server-wide default in front of a windows-1251 feed) loses to the declaration;
//! and a header that names no charset leaves the decision to the XML declaration. When nothing
//! but the UTF-8 default or a UTF-8 label stands for UTF-8 and most of the document's
//! non-ASCII bytes are not UTF-8 (a windows-1251 or KOI8-R file saved without a declaration, or
//! with a copied-in `encoding="UTF-8"`), the encoding is guessed among the common single-byte
//! ones by how its text reads (see [`guess_single_byte`]). Bytes that are invalid in the chosen
//! encoding become U+FFFD rather than failing the feed.
//!
//! The decoded text's XML declaration is rewritten to say UTF-8, so that the XML parser does
//! not decode it a second time. A declaration further into the document (a CMS or plugin that
//! prints one again before its part, or two documents pasted together) is not XML and would
//! make the parser switch encodings mid-text: it is removed, outside CDATA sections, comments
//! and quoted attribute values, where it is text.

use encoding_rs::{Encoding, UTF_16BE, UTF_16LE, UTF_8};

/// A document decoded to UTF-8, with the encoding that was used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    pub text: String,
    pub encoding: &'static str,
    /// True when some bytes were invalid in that encoding and were replaced.
    pub had_errors: bool,
}

/// Decodes `bytes` as described in the module documentation. `content_type` is the HTTP
/// Content-Type header, if the document came over HTTP.
pub fn decode(bytes: &[u8], content_type: Option<&str>) -> Decoded {
    let (mut encoding, body) = choose_encoding(bytes, content_type);
    let (mut text, mut had_errors) = encoding.decode_without_bom_handling(body);
    // Guessed only when reading as UTF-8 failed, and no BOM said UTF-8.
    if had_errors && encoding == UTF_8 && body.len() == bytes.len() && mostly_not_utf8(body) {
        encoding = guess_single_byte(body);
        (text, had_errors) = encoding.decode_without_bom_handling(body);
    }
    let text = without_later_declarations(rewrite_declaration(text.into_owned()));
    Decoded { text, encoding: encoding.name(), had_errors }
}

fn choose_encoding<'a>(bytes: &'a [u8], content_type: Option<&str>) -> (&'static Encoding, &'a [u8]) {
    if let Some((encoding, bom_len)) = Encoding::for_bom(bytes) {
        return (encoding, &bytes[bom_len..]);
    }
    if let Some(label) = content_type.and_then(charset_param) {
        if let Some(encoding) = Encoding::for_label(label.as_bytes()) {
            let latin_like = encoding == encoding_rs::WINDOWS_1252 || label.eq_ignore_ascii_case("us-ascii");
            if latin_like && !bytes.is_ascii() && std::str::from_utf8(bytes).is_ok() {
                return (UTF_8, bytes);
            }
            // A UTF-16 label without a BOM is almost always a mislabelled UTF-8 document.
            if (encoding == UTF_16LE || encoding == UTF_16BE) && std::str::from_utf8(bytes).is_ok() {
                return (UTF_8, bytes);
            }
            // A server-wide "charset=utf-8" in front of a document that is not UTF-8 and
            // whose own declaration names another encoding: the document knows better.
            if encoding == UTF_8 && std::str::from_utf8(bytes).is_err() {
                if let Some(declared) = declared_encoding(bytes).and_then(|l| Encoding::for_label(l.as_bytes())) {
                    if declared != UTF_8 && declared != UTF_16LE && declared != UTF_16BE {
                        return (declared, bytes);
                    }
                }
            }
            return (encoding, bytes);
        }
    }
    if let Some(label) = declared_encoding(bytes) {
        if let Some(encoding) = Encoding::for_label(label.as_bytes()) {
            // Declared UTF-16 in a document we can read as ASCII text is self-contradictory.
            if encoding == UTF_16LE || encoding == UTF_16BE {
                return (UTF_8, bytes);
            }
            return (encoding, bytes);
        }
    }
    (UTF_8, bytes)
}

/// True when the document's non-ASCII bytes are mostly not UTF-8: more bytes in invalid
/// sequences than valid multi-byte characters, and enough of them to tell a language by. A
/// UTF-8 document with a few stray bytes stays UTF-8.
fn mostly_not_utf8(bytes: &[u8]) -> bool {
    let (mut valid, mut invalid) = (0usize, 0usize);
    for chunk in bytes.utf8_chunks() {
        valid += chunk.valid().chars().filter(|c| !c.is_ascii()).count();
        invalid += chunk.invalid().len();
    }
    invalid > valid && invalid >= MIN_EVIDENCE
}

/// Bytes outside UTF-8 a document needs before its encoding is guessed: a handful could be
/// anything.
const MIN_EVIDENCE: usize = 16;

/// The single-byte encodings a document without a usable label is tried in, most likely first
/// (the first of equally good readings wins).
const SINGLE_BYTE: [&Encoding; 6] = [
    encoding_rs::WINDOWS_1251,
    encoding_rs::KOI8_R,
    encoding_rs::WINDOWS_1252,
    encoding_rs::WINDOWS_1250,
    encoding_rs::IBM866,
    encoding_rs::ISO_8859_5,
];

/// The encoding of [`SINGLE_BYTE`] whose reading of `bytes` looks most like text (see
/// [`plausibility`]), judged on the first 64 KiB.
fn guess_single_byte(bytes: &[u8]) -> &'static Encoding {
    let sample = &bytes[..bytes.len().min(1 << 16)];
    let mut best = (i64::MIN, SINGLE_BYTE[0]);
    for encoding in SINGLE_BYTE {
        let (text, _) = encoding.decode_without_bom_handling(sample);
        let score = plausibility(&text);
        if score > best.0 {
            best = (score, encoding);
        }
    }
    best.1
}

/// How much `text` reads like words in one script, counted over its non-ASCII characters. A
/// wrong single-byte reading gives itself away: a Russian text read in the other Cyrillic
/// encoding turns its words into capitals after a small letter ("оСТИН"), read as windows-1252
/// into runs of accented letters ("Ïóòèí"), and a Western text read as Cyrillic mixes scripts
/// inside its words ("cafй"); control characters and symbols inside words are worse still.
fn plausibility(text: &str) -> i64 {
    let mut score = 0i64;
    let mut prev = ' ';
    let mut accented_run = 0;
    for c in text.chars() {
        if c.is_ascii() {
            prev = c;
            accented_run = 0;
            continue;
        }
        if c.is_alphabetic() {
            let latin = c < '\u{0250}';
            accented_run = if latin { accented_run + 1 } else { 0 };
            if prev.is_alphabetic() {
                let same_script = (prev < '\u{0250}') == latin;
                score += match (same_script, prev.is_lowercase(), c.is_lowercase()) {
                    (false, _, _) => -3,
                    (true, true, false) => -2,
                    (true, _, true) => 1,
                    (true, false, false) => 0,
                };
            }
            if accented_run >= 3 {
                score -= 2;
            }
        } else {
            accented_run = 0;
            let punctuation = matches!(
                c,
                '\u{00A0}'
                    | '«'
                    | '»'
                    | '–'
                    | '—'
                    | '“'
                    | '”'
                    | '„'
                    | '‘'
                    | '’'
                    | '…'
                    | '№'
                    | '€'
                    | '°'
                    | '©'
                    | '·'
            );
            if c.is_control() || c == '\u{FFFD}' {
                score -= 5;
            } else if !punctuation {
                score -= if prev.is_alphabetic() { 3 } else { 1 };
            }
        }
        prev = c;
    }
    score
}

/// The `charset` parameter of a Content-Type value.
fn charset_param(content_type: &str) -> Option<String> {
    content_type.split(';').skip(1).find_map(|param| {
        let (name, value) = param.split_once('=')?;
        if name.trim().eq_ignore_ascii_case("charset") {
            let value = value.trim().trim_matches(|c| c == '"' || c == '\'');
            (!value.is_empty()).then(|| value.to_string())
        } else {
            None
        }
    })
}

/// The `encoding` pseudo-attribute of an XML declaration at the start of the document.
fn declared_encoding(bytes: &[u8]) -> Option<String> {
    let head = &bytes[..bytes.len().min(1024)];
    let start = skip_ascii_whitespace(head);
    let head = &head[start..];
    if !head.starts_with(b"<?xml") {
        return None;
    }
    let end = head.windows(2).position(|w| w == b"?>")?;
    let decl = std::str::from_utf8(&head[..end]).ok()?;
    let (_, after) = decl.split_once("encoding")?;
    let after = after.trim_start().strip_prefix('=')?.trim_start();
    let quote = after.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let rest = &after[1..];
    let close = rest.find(quote)?;
    Some(rest[..close].trim().to_string())
}

fn skip_ascii_whitespace(bytes: &[u8]) -> usize {
    bytes.iter().take_while(|b| b.is_ascii_whitespace()).count()
}

/// Rewrites the XML declaration's encoding to UTF-8 (the text is UTF-8 now).
fn rewrite_declaration(text: String) -> String {
    let trimmed = text.trim_start();
    if !trimmed.starts_with("<?xml") {
        return text;
    }
    let offset = text.len() - trimmed.len();
    let Some(end) = trimmed.find("?>") else { return text };
    let decl = &trimmed[..end];
    let Some(enc_at) = decl.find("encoding") else { return text };
    let after = &decl[enc_at + "encoding".len()..];
    let Some(eq) = after.find('=') else { return text };
    let value_part = &after[eq + 1..];
    let lead = value_part.len() - value_part.trim_start().len();
    let value_part = value_part.trim_start();
    let Some(quote) = value_part.chars().next().filter(|c| *c == '"' || *c == '\'') else { return text };
    let Some(close) = value_part[1..].find(quote) else { return text };
    let value_start = offset + enc_at + "encoding".len() + eq + 1 + lead + 1;
    let value_end = value_start + close;
    let mut out = String::with_capacity(text.len());
    out.push_str(&text[..value_start]);
    out.push_str("UTF-8");
    out.push_str(&text[value_end..]);
    out
}

/// `text` without the XML declarations that follow its first thing (see the module
/// documentation). Markup is skipped as the XML reader reads it (a quoted attribute value may
/// hold `<` and `>`), so what is removed is what the reader would take for a declaration.
/// Returned unchanged, without a copy, when there is none.
fn without_later_declarations(text: String) -> String {
    let lead = text.len() - text.trim_start().len();
    let first = usize::from(text[lead..].starts_with("<?xml")) + lead;
    if !text[first..].contains("<?xml") {
        return text;
    }
    let mut out = String::new();
    let mut copied = 0;
    let mut at = first;
    while let Some(i) = text[at..].find('<').map(|i| at + i) {
        let rest = &text[i..];
        let past = |close: &str| rest.find(close).map(|e| i + e + close.len());
        let next = if rest.starts_with("<![CDATA[") {
            past("]]>")
        } else if rest.starts_with("<!--") {
            past("-->")
        } else if rest.starts_with("<?") {
            let end = past("?>");
            if let Some(end) =
                end.filter(|_| rest[2..].starts_with("xml") && rest[5..].starts_with([' ', '\t', '\r', '\n']))
            {
                out.push_str(&text[copied..i]);
                copied = end;
            }
            end
        } else {
            tag_end(rest).map(|e| i + e)
        };
        let Some(next) = next else { break };
        at = next;
    }
    if copied == 0 {
        return text;
    }
    out.push_str(&text[copied..]);
    out
}

/// Where the tag (or doctype) `markup` starts with ends: just past its `>`, which does not
/// count inside a quoted attribute value.
fn tag_end(markup: &str) -> Option<usize> {
    let mut quote = None;
    for (i, b) in markup.bytes().enumerate().skip(1) {
        match (quote, b) {
            (None, b'"' | b'\'') => quote = Some(b),
            (Some(q), _) if q == b => quote = None,
            (None, b'>') => return Some(i + 1),
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(encoding: &'static Encoding, s: &str) -> Vec<u8> {
        encoding.encode(s).0.into_owned()
    }

    #[test]
    fn declarations_after_the_start_are_removed_outside_cdata_and_comments() {
        let later = "<?xml version=\"1.0\" encoding=\"windows-1251\"?>";
        // In a CDATA section, a comment or a quoted attribute value it is text.
        let quoted = "<a t='<![CDATA[' u=\"<!--\">";
        let doc = format!(
            "<?xml version=\"1.0\"?>\n<?xml-stylesheet href=\"s.xsl\"?><rss>{quoted}x</a>\n{later}\n<b><![CDATA[{later}]]></b><!-- {later} --><c title='{later}'>y</c>{later}</rss>"
        );
        let d = decode(doc.as_bytes(), None);
        assert_eq!(
            d.text,
            format!(
                "<?xml version=\"1.0\"?>\n<?xml-stylesheet href=\"s.xsl\"?><rss>{quoted}x</a>\n\n<b><![CDATA[{later}]]></b><!-- {later} --><c title='{later}'>y</c></rss>"
            )
        );
        // Without a leading declaration, every declaration is a later one; the first one
        // stays when it leads (after white space), and an unclosed one is left alone.
        assert_eq!(decode(format!("<rss>{later}</rss>").as_bytes(), None).text, "<rss></rss>");
        assert_eq!(
            decode(format!("  {later}<rss/>").as_bytes(), None).text,
            "  <?xml version=\"1.0\" encoding=\"UTF-8\"?><rss/>"
        );
        assert_eq!(decode(b"<rss><?xml version", None).text, "<rss><?xml version");
    }

    #[test]
    fn bom_wins_over_everything() {
        let mut bytes = vec![0xEF, 0xBB, 0xBF];
        bytes.extend_from_slice("<?xml version=\"1.0\" encoding=\"windows-1251\"?><rss>é</rss>".as_bytes());
        let d = decode(&bytes, Some("text/xml; charset=ISO-8859-1"));
        assert_eq!(d.encoding, "UTF-8");
        assert!(d.text.contains("<rss>é</rss>"));
        assert!(d.text.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"));
    }

    #[test]
    fn prolog_decides_when_the_header_says_nothing() {
        let doc = "<?xml version=\"1.0\" encoding=\"windows-1251\"?><rss><title>Новости</title></rss>";
        let bytes = encode(encoding_rs::WINDOWS_1251, doc);
        let d = decode(&bytes, Some("application/rss+xml"));
        assert_eq!(d.encoding, "windows-1251");
        assert!(d.text.contains("Новости"));
        assert!(d.text.contains("encoding=\"UTF-8\""));
    }

    #[test]
    fn koi8_r_prolog() {
        let doc = "<?xml version='1.0' encoding='KOI8-R'?><rss><title>Экономика</title></rss>";
        let bytes = encode(encoding_rs::KOI8_R, doc);
        let d = decode(&bytes, None);
        assert!(d.text.contains("Экономика"));
        assert!(d.text.contains("encoding='UTF-8'"));
    }

    #[test]
    fn header_charset_beats_prolog() {
        let doc = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><rss><title>Привет</title></rss>";
        let bytes = encode(encoding_rs::WINDOWS_1251, doc);
        let d = decode(&bytes, Some("text/xml; charset=windows-1251"));
        assert!(d.text.contains("Привет"));
    }

    #[test]
    fn latin1_header_in_front_of_utf8_is_ignored() {
        let doc = "<rss><title>Café Müller</title></rss>";
        let d = decode(doc.as_bytes(), Some("text/xml; charset=ISO-8859-1"));
        assert_eq!(d.encoding, "UTF-8");
        assert!(d.text.contains("Café Müller"));
    }

    #[test]
    fn utf8_header_in_front_of_a_declared_windows_1251_body_loses() {
        let doc = "<?xml version=\"1.0\" encoding=\"windows-1251\"?><rss><title>Новости дня</title></rss>";
        let bytes = encode(encoding_rs::WINDOWS_1251, doc);
        let d = decode(&bytes, Some("application/xml; charset=UTF-8"));
        assert_eq!(d.encoding, "windows-1251");
        assert!(d.text.contains("Новости дня"));
        assert!(!d.had_errors);
    }

    #[test]
    fn iso_8859_x_and_utf16_bom() {
        let doc = "<?xml version=\"1.0\" encoding=\"ISO-8859-2\"?><rss><title>Zażółć gęślą jaźń</title></rss>";
        let d = decode(&encode(encoding_rs::ISO_8859_2, doc), None);
        assert!(d.text.contains("Zażółć gęślą jaźń"), "{}", d.text);
        let doc = "<?xml version=\"1.0\" encoding=\"ISO-8859-7\"?><rss><title>Ειδήσεις</title></rss>";
        let d = decode(&encode(encoding_rs::ISO_8859_7, doc), Some("text/xml"));
        assert!(d.text.contains("Ειδήσεις"));
        let mut utf16 = vec![0xFF, 0xFE];
        for unit in "<?xml version=\"1.0\" encoding=\"UTF-16\"?><rss><title>Grüße</title></rss>".encode_utf16() {
            utf16.extend_from_slice(&unit.to_le_bytes());
        }
        let d = decode(&utf16, Some("text/xml; charset=utf-8"));
        assert_eq!(d.encoding, "UTF-16LE");
        assert!(d.text.contains("Grüße"));
        assert!(d.text.contains("encoding=\"UTF-8\""));
    }

    #[test]
    fn invalid_bytes_are_replaced_not_fatal() {
        // A UTF-8 document with one stray byte stays UTF-8.
        let mut bytes = "<rss><title>Grüße aus Köln ? bad</title></rss>".as_bytes().to_vec();
        let at = bytes.iter().position(|&b| b == b'?').unwrap();
        bytes[at] = 0xFF;
        let d = decode(&bytes, None);
        assert_eq!(d.encoding, "UTF-8");
        assert!(d.had_errors);
        assert!(d.text.contains("Grüße aus Köln"));
        assert!(d.text.contains('\u{FFFD}'));
    }

    #[test]
    fn an_unlabelled_or_mislabelled_single_byte_document_is_read_in_its_encoding() {
        let russian = "<rss><title>Путин поддержал участие СПЧ в подготовке доклада</title>\
                       <description>Президент России заявил, что правозащитники будут работать вместе с \
                       правительством над новыми законами о защите прав граждан.</description></rss>";
        let french = "<rss><title>Le président a été reçu à l'Élysée</title>\
                      <description>Après une journée très chargée, la délégation s'est réunie à huis clos \
                      pour évoquer la sécurité et l'économie.</description></rss>";
        let polish = "<rss><title>Zażółć gęślą jaźń: rząd przyjął ustawę o źródłach energii</title></rss>";
        for (doc, encoding) in [
            (russian, encoding_rs::WINDOWS_1251),
            (russian, encoding_rs::KOI8_R),
            (russian, encoding_rs::IBM866),
            (french, encoding_rs::WINDOWS_1252),
            (polish, encoding_rs::WINDOWS_1250),
        ] {
            let bytes = encode(encoding, doc);
            let d = decode(&bytes, None);
            assert_eq!(d.encoding, encoding.name(), "{doc}");
            assert_eq!(d.text, doc);
            // A declaration or header that says UTF-8 does not make the bytes UTF-8.
            let mut declared = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>".to_vec();
            declared.extend_from_slice(&bytes);
            assert_eq!(decode(&declared, None).encoding, encoding.name());
            assert_eq!(decode(&bytes, Some("text/xml; charset=utf-8")).encoding, encoding.name());
        }
    }

    #[test]
    fn shift_jis_and_gb18030_by_header() {
        let doc = "<rss><title>日本語のニュース</title></rss>";
        let d = decode(&encode(encoding_rs::SHIFT_JIS, doc), Some("text/xml; charset=Shift_JIS"));
        assert!(d.text.contains("日本語のニュース"));
        let doc = "<rss><title>中文新闻</title></rss>";
        let d = decode(&encode(encoding_rs::GB18030, doc), Some("text/xml; charset=\"GB18030\""));
        assert!(d.text.contains("中文新闻"));
    }
}
