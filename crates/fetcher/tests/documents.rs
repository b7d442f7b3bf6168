//! Documents served by a local server, fetched and parsed as a run would: every charset case,
//! hostile and broken documents, and feeds whose items lack what feeds usually carry.

mod support;

use chrono::TimeZone;
use encoding_rs::Encoding;
use newsdedup_fetcher::{parse_document, FetchError, Fetched, HttpClient, HttpConfig, ParseError, ParseOptions};
use newsdedup_model::{KeySource, ParsedFeed, Validators};
use std::path::Path;
use support::server::{Reply, Server};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/feeds").join(name)).unwrap()
}

/// Serves `body` with `content_type` and returns what fetching and parsing it gives.
async fn serve_and_parse(content_type: &str, body: Vec<u8>) -> Result<ParsedFeed, FetchError> {
    let server = Server::start();
    server.route("/doc", Reply::ok(content_type, body));
    let url = url::Url::parse(&server.url("/doc")).unwrap();
    let client = HttpClient::new(HttpConfig::default()).unwrap();
    let response = match client.get(&url, &Validators::default()).await? {
        Fetched::Body(r) => r,
        Fetched::NotModified(_) => panic!("unexpected 304"),
    };
    let now = chrono::Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).unwrap();
    let options = ParseOptions { content_type: response.content_type.as_deref(), base_url: Some(url.as_str()), now };
    Ok(parse_document(&response.body, &options)?)
}

fn encode(encoding: &'static Encoding, s: &str) -> Vec<u8> {
    let (bytes, _, unmappable) = encoding.encode(s);
    assert!(!unmappable, "{} cannot hold the test text", encoding.name());
    bytes.into_owned()
}

fn rss(decl: &str, title: &str, text: &str) -> String {
    format!(
        "{decl}<rss version=\"2.0\"><channel><title>{title}</title><item><guid>1</guid><title>{title}</title>\
         <description>{text}</description></item></channel></rss>"
    )
}

async fn assert_charset(content_type: &str, body: Vec<u8>, title: &str, text: &str) {
    let feed = serve_and_parse(content_type, body).await.unwrap_or_else(|e| panic!("{content_type}: {e}"));
    assert_eq!(feed.title.as_deref(), Some(title), "{content_type}");
    assert_eq!(feed.items[0].body, text, "{content_type}");
}

#[tokio::test]
async fn charset_windows_1251_prolog_behind_a_header_without_charset() {
    let (t, x) = ("Новости", "Сегодня в Москве прошёл дождь.");
    let doc = rss("<?xml version=\"1.0\" encoding=\"windows-1251\"?>", t, x);
    assert_charset("application/rss+xml", encode(encoding_rs::WINDOWS_1251, &doc), t, x).await;
}

#[tokio::test]
async fn charset_iso_8859_1_header_in_front_of_utf_8() {
    let (t, x) = ("Café Zürich", "Ein Grüß aus der Straße, naïve façade.");
    let doc = rss("<?xml version=\"1.0\"?>", t, x);
    assert_charset("text/xml; charset=ISO-8859-1", doc.into_bytes(), t, x).await;
}

#[tokio::test]
async fn charset_utf_8_header_in_front_of_a_declared_windows_1251_document() {
    let (t, x) = ("Экономика", "Курс рубля вырос.");
    let doc = rss("<?xml version=\"1.0\" encoding=\"windows-1251\"?>", t, x);
    assert_charset("application/xml; charset=utf-8", encode(encoding_rs::WINDOWS_1251, &doc), t, x).await;
}

#[tokio::test]
async fn charset_koi8_r_from_the_header() {
    let (t, x) = ("Погода", "Завтра ожидается снег.");
    let doc = rss("<?xml version=\"1.0\" encoding=\"utf-8\"?>", t, x);
    assert_charset("text/xml; charset=koi8-r", encode(encoding_rs::KOI8_R, &doc), t, x).await;
}

#[tokio::test]
async fn charset_iso_8859_x() {
    let (t, x) = ("Wiadomości", "Zażółć gęślą jaźń.");
    let doc = rss("<?xml version=\"1.0\" encoding=\"ISO-8859-2\"?>", t, x);
    assert_charset("application/rss+xml", encode(encoding_rs::ISO_8859_2, &doc), t, x).await;
    let (t, x) = ("Новини", "Київ: відкрили новий міст.");
    let doc = rss("<?xml version=\"1.0\"?>", t, x);
    assert_charset("text/xml; charset=iso-8859-5", encode(encoding_rs::ISO_8859_5, &doc), t, x).await;
}

#[tokio::test]
async fn charset_shift_jis_from_the_prolog() {
    let (t, x) = ("ニュース", "東京で新しい駅が開業しました。");
    let doc = rss("<?xml version=\"1.0\" encoding=\"Shift_JIS\"?>", t, x);
    assert_charset("application/rss+xml", encode(encoding_rs::SHIFT_JIS, &doc), t, x).await;
}

#[tokio::test]
async fn charset_gb18030_from_the_header() {
    let (t, x) = ("新闻", "北京今天天气晴朗。");
    let doc = rss("<?xml version=\"1.0\" encoding=\"gb2312\"?>", t, x);
    assert_charset("text/xml; charset=GB18030", encode(encoding_rs::GB18030, &doc), t, x).await;
}

#[tokio::test]
async fn charset_byte_order_marks_win() {
    let (t, x) = ("Grüße", "Ünïcödé with a BOM.");
    let mut utf8 = vec![0xEF, 0xBB, 0xBF];
    utf8.extend(rss("<?xml version=\"1.0\" encoding=\"windows-1251\"?>", t, x).into_bytes());
    assert_charset("text/xml; charset=windows-1251", utf8, t, x).await;
    let mut utf16 = vec![0xFF, 0xFE];
    for unit in rss("<?xml version=\"1.0\" encoding=\"UTF-16\"?>", t, x).encode_utf16() {
        utf16.extend_from_slice(&unit.to_le_bytes());
    }
    assert_charset("application/rss+xml", utf16, t, x).await;
}

#[tokio::test]
async fn invalid_utf_8_is_replaced_not_fatal() {
    let mut doc = rss("<?xml version=\"1.0\" encoding=\"utf-8\"?>", "Broken", "ok PLACEHOLDER bytes").into_bytes();
    let at = doc.windows(11).position(|w| w == b"PLACEHOLDER").unwrap();
    doc.splice(at..at + 11, [0xFF, 0xFE, 0xC3]);
    let feed = serve_and_parse("application/rss+xml; charset=utf-8", doc).await.unwrap();
    assert_eq!(feed.items.len(), 1);
    assert!(feed.items[0].body.contains('\u{FFFD}'), "{:?}", feed.items[0].body);
    assert!(feed.items[0].body.starts_with("ok ") && feed.items[0].body.ends_with(" bytes"));
}

#[tokio::test]
async fn an_html_page_is_named_with_the_feeds_it_links_to() {
    let page = r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>My blog</title>
<link rel="alternate" type="application/atom+xml" title="Atom" href="/atom.xml"></head><body><p>Hello</p></body></html>"#;
    let err = serve_and_parse("text/html; charset=utf-8", page.into()).await.unwrap_err();
    let FetchError::Parse(ParseError::HtmlPage { alternates }) = &err else { panic!("{err}") };
    assert_eq!(alternates.len(), 1);
    assert!(alternates[0].ends_with("/atom.xml"));
    assert!(err.to_string().contains("HTML page"), "{err}");
    let bare = "<html><body>Under construction</body></html>";
    let err = serve_and_parse("text/html", bare.into()).await.unwrap_err();
    assert_eq!(err.to_string(), "not a usable feed: the document is an HTML page, not a feed");
}

#[tokio::test]
async fn an_empty_body_is_named() {
    let err = serve_and_parse("application/rss+xml", Vec::new()).await.unwrap_err();
    assert!(matches!(err, FetchError::Parse(ParseError::Empty)), "{err}");
    let err = serve_and_parse("application/rss+xml", b"\xEF\xBB\xBF  \r\n".to_vec()).await.unwrap_err();
    assert!(matches!(err, FetchError::Parse(ParseError::Empty)), "{err}");
}

#[tokio::test]
async fn malformed_xml_is_a_clear_error() {
    let cut = "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Cut</title><item><title>Half";
    let err = serve_and_parse("application/rss+xml", cut.into()).await.unwrap_err();
    assert!(matches!(err, FetchError::Parse(ParseError::Feed(_))), "{err}");
    let mismatched = "<rss version=\"2.0\"><channel><item><title>x</description></item></channel></rss>";
    assert!(serve_and_parse("application/rss+xml", mismatched.into()).await.is_err());
    let junk = "Service temporarily unavailable, try again later";
    let err = serve_and_parse("text/plain", junk.into()).await.unwrap_err();
    assert!(err.to_string().contains("neither RSS, Atom nor JSON Feed"), "{err}");
}

#[tokio::test]
async fn a_second_xml_declaration_inside_the_feed_is_ignored() {
    // A CMS that prints a declaration again before a part of the feed, naming another
    // encoding: the XML reader would be asked to switch encodings mid-text.
    let doc = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><rss version=\"2.0\"><channel><title>Лента</title>\
               <item><guid>1</guid><title>Первая</title><description>Текст первой новости.</description></item>\n\
               <?xml version=\"1.0\" encoding=\"windows-1251\"?>\n\
               <item><guid>2</guid><title>Вторая</title><description>Текст второй новости.</description></item>\
               </channel></rss>";
    let feed = serve_and_parse("application/rss+xml; charset=utf-8", doc.as_bytes().to_vec()).await.unwrap();
    let bodies: Vec<&str> = feed.items.iter().map(|i| i.body.as_str()).collect();
    assert_eq!(bodies, ["Текст первой новости.", "Текст второй новости."]);
}

#[tokio::test]
async fn entity_expansion_cannot_explode() {
    // "Billion laughs": ten levels of ten references would be 10^9 copies if expanded.
    let mut dtd = String::from("<!ENTITY lol0 \"lol\">");
    for i in 1..10 {
        let refs = format!("&lol{};", i - 1).repeat(10);
        dtd.push_str(&format!("<!ENTITY lol{i} \"{refs}\">"));
    }
    let doc = format!(
        "<?xml version=\"1.0\"?><!DOCTYPE rss [{dtd}]><rss version=\"2.0\"><channel><title>&lol9;</title>\
         <item><guid>1</guid><title>&lol9;</title><description>&lol9;&lol9;</description></item></channel></rss>"
    );
    let feed = serve_and_parse("application/rss+xml", doc.into_bytes()).await.unwrap();
    assert_eq!(feed.items.len(), 1);
    assert!(feed.items[0].body.len() < 100, "expanded: {} bytes", feed.items[0].body.len());
    assert_eq!(feed.items[0].title.as_deref(), Some("&lol9;"));
}

#[tokio::test]
async fn external_entities_are_never_resolved() {
    let dir = tempfile_dir();
    let secret = dir.join("secret.txt");
    std::fs::write(&secret, "TOP-SECRET-CONTENT").unwrap();
    let doc = format!(
        "<?xml version=\"1.0\"?><!DOCTYPE rss [<!ENTITY xxe SYSTEM \"file://{}\"><!ENTITY web SYSTEM \"http://127.0.0.1:9/x\">]>\
         <rss version=\"2.0\"><channel><title>t</title><item><guid>1</guid><title>&xxe;</title>\
         <description>&web; and &xxe;</description></item></channel></rss>",
        secret.display()
    );
    let feed = serve_and_parse("application/rss+xml", doc.into_bytes()).await.unwrap();
    let item = &feed.items[0];
    assert!(!item.body.contains("TOP-SECRET") && !item.title.as_deref().unwrap_or("").contains("TOP-SECRET"));
    assert_eq!(item.body, "&web; and &xxe;");
    let _ = std::fs::remove_dir_all(dir);
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("newsdedup-xxe-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test]
async fn fifty_thousand_items_in_one_feed() {
    let mut doc = String::with_capacity(12 << 20);
    doc.push_str("<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Firehose</title>");
    for i in 0..50_000 {
        doc.push_str(&format!(
            "<item><guid>item-{i}</guid><title>Item {i}</title><link>https://firehose.example/{i}</link>\
             <description>Body of item {i}.</description></item>"
        ));
    }
    doc.push_str("</channel></rss>");
    let feed = serve_and_parse("application/rss+xml", doc.into_bytes()).await.unwrap();
    assert_eq!(feed.items.len(), 50_000);
    let keys: std::collections::HashSet<&str> = feed.items.iter().map(|i| i.guid.as_str()).collect();
    assert_eq!(keys.len(), 50_000);
    assert_eq!(feed.items[49_999].guid, "item-49999");
}

#[tokio::test]
async fn items_with_no_guid_no_link_no_date() {
    let feed = serve_and_parse("application/rss+xml", fixture("no-guid-link-or-date.xml")).await.unwrap();
    let sources: Vec<KeySource> = feed.items.iter().map(|i| i.key_source).collect();
    assert_eq!(sources, [KeySource::Link, KeySource::ContentHash, KeySource::ContentHash]);
    assert_eq!(feed.items[0].guid, "https://bare.example/only-link?page=2", "tracking parameters are not identity");
    assert!(feed.items.iter().all(|i| i.published_at.is_none()));
    // Stable across fetches.
    let again = serve_and_parse("application/rss+xml", fixture("no-guid-link-or-date.xml")).await.unwrap();
    assert_eq!(
        feed.items.iter().map(|i| &i.guid).collect::<Vec<_>>(),
        again.items.iter().map(|i| &i.guid).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn dates_far_in_the_future_or_before_1970_are_not_believed() {
    let feed = serve_and_parse("application/rss+xml", fixture("unbelievable-dates.xml")).await.unwrap();
    let dates: Vec<(String, Option<String>)> =
        feed.items.iter().map(|i| (i.guid.clone(), i.published_at.map(|d| d.to_rfc3339()))).collect();
    assert_eq!(
        dates,
        [
            ("future".to_string(), None),
            ("epoch".to_string(), None),
            ("old".to_string(), None),
            ("garbage".to_string(), None),
            ("fine".to_string(), Some("2026-05-30T08:00:00+00:00".to_string())),
        ]
    );
}

#[tokio::test]
async fn duplicate_guids_are_disambiguated() {
    let feed = serve_and_parse("application/rss+xml", fixture("duplicate-guids.xml")).await.unwrap();
    let titles: Vec<&str> = feed.items.iter().map(|i| i.title.as_deref().unwrap()).collect();
    assert_eq!(titles, ["First story", "Second story", "Listed twice", "Scheme twin"]);
    let keys: std::collections::HashSet<&str> = feed.items.iter().map(|i| i.guid.as_str()).collect();
    assert_eq!(keys.len(), 4);
    assert!(feed.items[0].guid.starts_with("https://dup.example/#"));
}

#[tokio::test]
async fn a_youtube_feed_with_empty_descriptions_survives() {
    let feed = serve_and_parse("application/atom+xml; charset=UTF-8", fixture("youtube-channel.xml")).await.unwrap();
    assert_eq!(feed.items.len(), 3);
    assert!(feed.items[0].body.starts_with("The valley road was closed"));
    assert_eq!(feed.items[1].body, "");
    assert_eq!(feed.items[2].body, "Snow closed the pass for the second time this week.");
    assert_eq!(feed.items[2].platform_id.as_deref(), Some("youtube:AAAAAAAAAA3"));
}
