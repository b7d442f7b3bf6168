//! Reading feed lists: OPML (1.0 and 2.0, outlines nested to any depth) and plain text with
//! one address per line. Also the normal form of an address as stored in the feeds table.

use anyhow::{bail, Context, Result};
use quick_xml::events::Event;
use quick_xml::Reader;
use std::path::Path;

/// The addresses listed in a feed-list file, in file order, without duplicates. Relative paths
/// in the file are resolved against the file's folder.
pub fn read_feed_list(path: &Path) -> Result<Vec<String>> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let text = String::from_utf8_lossy(&bytes);
    let base = path.parent().unwrap_or(Path::new(""));
    let raw = if text.trim_start().starts_with('<') {
        opml_urls(&text).with_context(|| format!("{} is not a valid OPML file", path.display()))?
    } else {
        text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(str::to_string).collect()
    };
    let mut seen = std::collections::HashSet::new();
    Ok(raw.into_iter().map(|a| normalise_address(&a, base)).filter(|a| seen.insert(a.clone())).collect())
}

/// The `xmlUrl` of every `<outline>` in an OPML document.
fn opml_urls(text: &str) -> Result<Vec<String>> {
    let mut reader = Reader::from_str(text);
    reader.config_mut().trim_text(true);
    let mut urls = Vec::new();
    let mut saw_opml = false;
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) | Ok(Event::Empty(e)) => {
                let name = e.local_name();
                let name = name.as_ref();
                if name.eq_ignore_ascii_case("opml") {
                    saw_opml = true;
                }
                if name.eq_ignore_ascii_case("outline") {
                    for attr in e.attributes().with_checks(false).flatten() {
                        if attr.key.local_name().as_ref().eq_ignore_ascii_case("xmlUrl") {
                            let value = attr
                                .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                                .context("bad xmlUrl attribute")?;
                            let value = value.trim();
                            if !value.is_empty() {
                                urls.push(value.to_string());
                            }
                        }
                    }
                }
            }
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(e) => bail!("XML error at byte {}: {e}", reader.error_position()),
        }
    }
    if !saw_opml {
        bail!("no <opml> element");
    }
    Ok(urls)
}

/// The form an address is stored in: URLs as given (trimmed), local paths made absolute
/// (relative to `base`), so that the same file is one feed whatever folder a command runs in.
pub fn normalise_address(address: &str, base: &Path) -> String {
    let address = address.trim();
    match newsdedup_fetcher::Source::parse(address) {
        Ok(newsdedup_fetcher::Source::File(p)) if !address.to_ascii_lowercase().starts_with("file:") => {
            let joined = if p.is_absolute() { p } else { base.join(p) };
            let absolute = std::path::absolute(&joined).unwrap_or(joined);
            lexically_clean(&absolute).display().to_string()
        }
        _ => address.to_string(),
    }
}

/// Removes `.` and resolves `..` components without touching the filesystem.
fn lexically_clean(path: &Path) -> std::path::PathBuf {
    use std::path::Component;
    let mut out = std::path::PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_opml_outlines_are_all_found() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("subs.opml");
        std::fs::write(
            &path,
            r#"<?xml version="1.0"?><opml version="2.0"><head><title>x</title></head><body>
            <outline text="News"><outline text="A" type="rss" xmlUrl="https://a.example/feed"/>
              <outline text="Deep"><outline text="B" xmlUrl="https://b.example/rss?x=1&amp;y=2"/></outline></outline>
            <outline text="Local" xmlUrl="feeds/c.xml"/>
            <outline text="Dup" xmlUrl="https://a.example/feed"/>
            </body></opml>"#,
        )
        .unwrap();
        let urls = read_feed_list(&path).unwrap();
        assert_eq!(urls[0], "https://a.example/feed");
        assert_eq!(urls[1], "https://b.example/rss?x=1&y=2");
        assert_eq!(urls[2], dir.path().join("feeds/c.xml").display().to_string());
        assert_eq!(urls.len(), 3);
    }

    #[test]
    fn opml_1_0_uppercase_attributes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.opml");
        std::fs::write(
            &path,
            r#"<opml version="1.0"><body><outline title="t" xmlurl="http://old.example/rss"/></body></opml>"#,
        )
        .unwrap();
        assert_eq!(read_feed_list(&path).unwrap(), ["http://old.example/rss"]);
    }

    #[test]
    fn plain_text_lists_skip_blanks_and_comments() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("feeds.txt");
        std::fs::write(&path, "# my feeds\nhttps://a.example/feed\n\n  https://b.example/feed  \n").unwrap();
        assert_eq!(read_feed_list(&path).unwrap(), ["https://a.example/feed", "https://b.example/feed"]);
    }

    #[test]
    fn broken_opml_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.opml");
        std::fs::write(&path, "<opml><body><outline xmlUrl=\"x\"></body>").unwrap();
        assert!(read_feed_list(&path).is_err());
    }
}
