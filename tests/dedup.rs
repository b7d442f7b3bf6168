//! Deduplication end to end: edited reposts joining their story, unrelated items with one
//! channel's footer kept apart, the canonical item, re-runs, algorithm upgrades, and what
//! `show` and `explain` say about it.

use crate::util::Env;

const BANK: &str = "The central bank raised its main interest rate by half a point on Thursday, the largest \
    increase in more than twenty years, saying that prices were still rising far too fast for comfort.\n\
    Officials said inflation had stayed above the target for eleven months in a row and that further \
    increases could follow before the end of the year if wages kept growing at the current pace.\n\
    Markets had expected a smaller move, and the currency rose sharply against the dollar and the euro \
    after the announcement, while shares of banks and house builders fell in afternoon trading.\n\
    The governor told reporters that the decision was unanimous and that the bank would publish new \
    forecasts for growth and unemployment next month, shortly after the spring budget is presented.";

const FOOTBALL: &str = "The national football team won its third match in a row on Saturday, beating the visitors \
    by two goals to nil in front of a crowd of more than forty thousand people at the new stadium.\n\
    The coach said the players had worked hard all week and deserved the result, and that the squad would \
    travel to the capital on Monday to prepare for the qualifier against the group leaders next week.\n\
    Both goals came in the second half, the first from a corner and the second from a long counter attack \
    that the home supporters greeted with the loudest cheer of the afternoon.";

const FOOTER: &str = "Welcome to the channel, your fastest way to stay informed every single day of the week\n\
    Subscribe and turn on notifications so you never miss a story from anywhere around the world\n\
    Follow us on social media for more headlines and live updates as soon as they happen\n\
    Disclaimer: all news content belongs to the original publishers and is shared for information only\n\
    For business enquiries please write to our team and we will answer within two working days\n\
    Thank you for watching and see you tomorrow with the next short summary of the day's events";

fn paragraphs(text: &str) -> String {
    text.lines().map(|l| format!("<p>{}</p>", l.trim())).collect()
}

fn rss(title: &str, items: &[(&str, &str, &str, &str)]) -> String {
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><rss version=\"2.0\"><channel><title>{title}</title>\
         <link>https://{title}.example/</link><description>x</description>"
    );
    for (guid, item_title, published, body) in items {
        out.push_str(&format!(
            "<item><title>{item_title}</title><guid>{guid}</guid><link>https://{title}.example/{guid}</link>\
             <pubDate>{published}</pubDate><description><![CDATA[{}]]></description></item>",
            paragraphs(body)
        ));
    }
    out.push_str("</channel></rss>");
    out
}

fn publisher(env: &Env) -> String {
    let doc = rss(
        "gazette",
        &[
            ("bank", "Bank raises rates", "Thu, 04 Jan 2024 09:00:00 GMT", BANK),
            ("football", "Third win in a row", "Sat, 06 Jan 2024 18:00:00 GMT", FOOTBALL),
        ],
    );
    env.write("gazette.xml", &doc).display().to_string()
}

/// A reupload channel: a cut-down copy of the bank story with typos, a copy of the football
/// story, and two one-sentence items about other things; every item ends with the same long
/// footer that no rule knows.
fn channel(env: &Env) -> String {
    let cut = &BANK[..BANK.len() * 45 / 100];
    let cut = cut.replace("interest", "intrest").replace("largest", "lagrest");
    let bank = format!("{cut}\n{FOOTER}");
    let football = format!("{FOOTBALL}\n{FOOTER}");
    let short1 = format!("Heavy snow closed the main roads into the city on Tuesday morning.\n{FOOTER}");
    let short2 = format!("A new museum of modern design opened its doors to the public at the weekend.\n{FOOTER}");
    let doc = rss(
        "channel",
        &[
            ("c1", "BREAKING: rates up!", "Thu, 04 Jan 2024 12:00:00 GMT", &bank),
            ("c2", "Team wins again", "Sat, 06 Jan 2024 20:00:00 GMT", &football),
            ("c3", "Snow", "Tue, 09 Jan 2024 08:00:00 GMT", &short1),
            ("c4", "Museum", "Sun, 07 Jan 2024 10:00:00 GMT", &short2),
        ],
    );
    env.write("channel.xml", &doc).display().to_string()
}

fn item_id(env: &Env, guid: &str) -> i64 {
    env.sql().query_row("SELECT id FROM items WHERE guid = ?1", [guid], |r| r.get(0)).unwrap()
}

fn story_of(env: &Env, guid: &str) -> i64 {
    env.sql().query_row("SELECT story_id FROM items WHERE guid = ?1", [guid], |r| r.get(0)).unwrap()
}

#[test]
fn edited_reposts_join_their_story_and_items_sharing_only_a_footer_do_not() {
    let env = Env::new();
    let (p, c) = (publisher(&env), channel(&env));
    env.ok(&["ingest", &p, &c]);
    assert_eq!(story_of(&env, "c1"), story_of(&env, "bank"), "the cut-down copy with typos joins");
    assert_eq!(story_of(&env, "c2"), story_of(&env, "football"));
    assert_ne!(story_of(&env, "c3"), story_of(&env, "c4"), "one-sentence items with the same footer stay apart");
    assert_ne!(story_of(&env, "c3"), story_of(&env, "bank"));
    assert_eq!(env.count("SELECT count(*) FROM stories"), 4);
    // What the items record about their match.
    let (method, matched, similarity, distance): (String, i64, f64, i64) = env
        .sql()
        .query_row("SELECT match_method, matched_item_id, similarity, distance FROM items WHERE guid = 'c1'", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .unwrap();
    assert_eq!((method.as_str(), matched), ("near", item_id(&env, "bank")));
    assert!(similarity >= 0.8, "{similarity}");
    assert!((0..=64).contains(&distance));
    // Every item has its sketch and its place in the candidate window.
    assert_eq!(env.count("SELECT count(*) FROM items WHERE sketch IS NULL OR dedup_time IS NULL"), 0);
}

#[test]
fn show_and_explain_say_why() {
    let env = Env::new();
    let (p, c) = (publisher(&env), channel(&env));
    env.ok(&["ingest", &p, &c]);
    let (bank, repost) = (item_id(&env, "bank"), item_id(&env, "c1"));

    let shown = env.ok(&["show", &story_of(&env, "bank").to_string()]);
    assert!(shown.contains(&format!("canonical item #{bank}")), "{shown}");
    assert!(shown.contains("near (matched item #"), "{shown}");
    assert!(shown.contains("text similarity"), "{shown}");

    let why = env.ok(&["explain", &repost.to_string()]);
    assert!(why.contains(&format!("item #{bank} of")), "{why}");
    assert!(why.contains("near duplicate"), "{why}");
    assert!(why.contains("of the shorter text's phrases appear in the other"), "{why}");

    let why = env.ok(&["explain", &item_id(&env, "c3").to_string()]);
    assert!(why.contains("it started its story"), "{why}");
    assert!(why.contains("Nearest other stories:"), "{why}");
    assert!(why.contains(&format!("(item #{}", item_id(&env, "c4"))), "the other short item is the nearest: {why}");

    let json: serde_json::Value = serde_json::from_str(&env.ok(&["explain", &repost.to_string(), "--json"])).unwrap();
    assert_eq!(json["match_method"], "near");
    assert_eq!(json["matched_item_id"], bank);
    assert!(json["reason"].as_str().unwrap().contains("confirmed"));

    let out = env.run(&["explain", "999999"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no item with id 999999"));
}

#[test]
fn an_earlier_published_copy_arriving_later_becomes_canonical() {
    let env = Env::new();
    let (p, c) = (publisher(&env), channel(&env));
    // The repost is stored first; the original, published three hours earlier, comes later.
    env.ok(&["ingest", &c]);
    let story = story_of(&env, "c1");
    let canonical: i64 =
        env.sql().query_row("SELECT canonical_item_id FROM stories WHERE id = ?1", [story], |r| r.get(0)).unwrap();
    assert_eq!(canonical, item_id(&env, "c1"));
    env.ok(&["ingest", &p]);
    assert_eq!(story_of(&env, "bank"), story);
    let (canonical, count): (i64, i64) = env
        .sql()
        .query_row("SELECT canonical_item_id, item_count FROM stories WHERE id = ?1", [story], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!((canonical, count), (item_id(&env, "bank"), 2));
}

#[test]
fn the_same_inputs_give_the_same_stories_and_a_rerun_changes_nothing() {
    let stories = |env: &Env| -> Vec<(String, i64, String)> {
        let conn = env.sql();
        let mut stmt = conn.prepare("SELECT guid, story_id, match_method FROM items ORDER BY guid").unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).unwrap().collect::<Result<_, _>>().unwrap()
    };
    let (a, b) = (Env::new(), Env::new());
    for env in [&a, &b] {
        let (p, c) = (publisher(env), channel(env));
        env.ok(&["ingest", &p, &c]);
    }
    assert_eq!(stories(&a), stories(&b));
    let before = stories(&a);
    let (p, c) = (a.path("gazette.xml"), a.path("channel.xml"));
    let out = a.ok(&["ingest", p.to_str().unwrap(), c.to_str().unwrap()]);
    assert!(out.contains("0 new"), "{out}");
    assert_eq!(stories(&a), before);
}

#[test]
fn an_item_updated_in_place_is_decided_again() {
    let env = Env::new();
    let p = publisher(&env);
    // A feed first carries a placeholder, then the full bank story under the same guid.
    let early = rss("wire", &[("w1", "Developing", "Thu, 04 Jan 2024 10:00:00 GMT", "Details to follow shortly.")]);
    let path = env.write("wire.xml", &early).display().to_string();
    env.ok(&["ingest", &p, &path]);
    assert_ne!(story_of(&env, "w1"), story_of(&env, "bank"));
    let late = rss("wire", &[("w1", "Bank raises rates", "Thu, 04 Jan 2024 10:00:00 GMT", BANK)]);
    env.write("wire.xml", &late);
    let out = env.ok(&["ingest", &path]);
    assert!(out.contains("1 updated"), "{out}");
    assert_eq!(story_of(&env, "w1"), story_of(&env, "bank"));
    // The placeholder's story is gone with it.
    assert_eq!(env.count("SELECT count(*) FROM stories"), 2);
}

#[test]
fn fingerprints_of_an_older_algorithm_are_recomputed_on_open() {
    let env = Env::new();
    let (p, c) = (publisher(&env), channel(&env));
    env.ok(&["ingest", &p, &c]);
    let before: Vec<(i64, i64)> = {
        let conn = env.sql();
        let mut stmt = conn.prepare("SELECT id, fingerprint FROM items ORDER BY id").unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().collect::<Result<_, _>>().unwrap()
    };
    {
        // A database written by a release with other fingerprint and sketch algorithms.
        let conn = env.sql();
        conn.execute_batch(
            "UPDATE meta SET value = '1' WHERE key = 'fingerprint_version'; \
             DELETE FROM meta WHERE key = 'sketch_version'; \
             UPDATE items SET fingerprint = 0, lead_fingerprint = NULL, sketch = NULL;",
        )
        .unwrap();
    }
    // Any command that writes opens the writer, which brings them up to date first.
    env.ok(&["ingest", &p]);
    let after: Vec<(i64, i64)> = {
        let conn = env.sql();
        let mut stmt = conn.prepare("SELECT id, fingerprint FROM items ORDER BY id").unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().collect::<Result<_, _>>().unwrap()
    };
    assert_eq!(before, after);
    assert_eq!(env.count("SELECT count(*) FROM items WHERE sketch IS NULL"), 0);
    assert_eq!(env.count("SELECT count(*) FROM meta WHERE key IN ('fingerprint_version', 'sketch_version')"), 2);
}

/// Two Chinese stories about the central bank that end with the same paragraph (a
/// spokesman's stock sentence), and a storm story.
const RATE_CUT: &str =
    "中国人民银行周五宣布，将于下月起下调金融机构存款准备金率零点五个百分点，此举预计将释放长期资金约一万亿元。\n\
    分析人士认为，此次降准旨在支持实体经济的发展，缓解企业融资压力，同时稳定市场预期。\n\
    央行有关负责人表示，将继续实施稳健的货币政策，保持流动性合理充裕，促进经济平稳运行。";
const RATE_HOLD: &str = "中国人民银行周一宣布，本月一年期贷款市场报价利率维持不变，符合市场普遍预期。\n\
    分析人士认为，在经济复苏态势仍需巩固的背景下，央行保持政策稳定有助于稳定市场预期。\n\
    央行有关负责人表示，将继续实施稳健的货币政策，保持流动性合理充裕，促进经济平稳运行。";
const TYPHOON: &str = "今年第十五号台风于周四凌晨在福建沿海登陆，登陆时中心附近最大风力达到十四级。\n\
    受台风影响，当地多趟航班和列车停运，数万名居民被紧急转移到安全地带。\n\
    气象部门提醒，未来两天沿海地区仍将出现强降雨，请公众注意防范山洪和地质灾害。";

#[test]
fn chinese_reposts_with_a_changed_character_or_cut_short_join_their_story() {
    let env = Env::new();
    let publisher = rss(
        "xinwen",
        &[
            ("cut", "央行宣布下调存款准备金率", "Fri, 05 Jan 2024 09:00:00 GMT", RATE_CUT),
            ("hold", "央行维持贷款市场报价利率不变", "Mon, 08 Jan 2024 09:00:00 GMT", RATE_HOLD),
            ("storm", "强台风登陆东南沿海", "Thu, 04 Jan 2024 06:00:00 GMT", TYPHOON),
        ],
    );
    // One character changed in each story (的 for 得, 在 for 再), and the channel's footer.
    let footer = "感谢收看！记得点赞关注，订阅我的频道获取更多新闻。\n更多精彩内容请访问我们的官方网站。";
    let edited = |text: &str| format!("{}\n{footer}", text.replacen("的", "得", 1).replacen("在", "再", 1));
    let channel = rss(
        "pindao",
        &[
            ("c-cut", "【快讯】央行宣布下调存款准备金率", "Fri, 05 Jan 2024 12:00:00 GMT", &edited(RATE_CUT)),
            ("c-hold", "【快讯】央行维持利率不变", "Mon, 08 Jan 2024 12:00:00 GMT", &edited(RATE_HOLD)),
            ("c-storm", "【快讯】强台风登陆", "Thu, 04 Jan 2024 09:00:00 GMT", &edited(TYPHOON)),
        ],
    );
    // The first two paragraphs only.
    let first_two = |text: &str| text.lines().take(2).collect::<Vec<_>>().join("\n");
    let digest = rss(
        "zhaiyao",
        &[
            ("d-cut", "央行降准", "Fri, 05 Jan 2024 15:00:00 GMT", &first_two(RATE_CUT)),
            ("d-storm", "台风登陆", "Thu, 04 Jan 2024 15:00:00 GMT", &first_two(TYPHOON)),
        ],
    );
    let files = [("xinwen.xml", publisher), ("pindao.xml", channel), ("zhaiyao.xml", digest)]
        .map(|(name, doc)| env.write(name, &doc).display().to_string());
    env.ok(&["ingest", &files[0], &files[1], &files[2]]);
    for (repost, story) in
        [("c-cut", "cut"), ("c-hold", "hold"), ("c-storm", "storm"), ("d-cut", "cut"), ("d-storm", "storm")]
    {
        assert_eq!(story_of(&env, repost), story_of(&env, story), "{repost} joins {story}");
    }
    assert_ne!(story_of(&env, "cut"), story_of(&env, "hold"), "stories sharing their last paragraph stay apart");
    assert_eq!(env.count("SELECT count(*) FROM stories"), 3);
}

#[test]
fn a_copy_written_with_armenian_cherokee_and_small_capital_look_alikes_is_the_same_text() {
    let env = Env::new();
    let original = publisher(&env);
    // Every o, u and s of the article written with Armenian օ and ս and a small capital ꜱ,
    // every capital T with a Cherokee Ꭲ: hardly a word of it is spelled the same.
    let doctored: String = BANK
        .chars()
        .map(|c| match c {
            'o' => 'օ',
            'u' => 'ս',
            's' => 'ꜱ',
            'T' => 'Ꭲ',
            c => c,
        })
        .collect();
    let copy = rss("mirror", &[("m1", "Bank raises rates", "Thu, 04 Jan 2024 11:00:00 GMT", &doctored)]);
    let copy = env.write("mirror.xml", &copy).display().to_string();
    env.ok(&["ingest", &original, &copy]);
    assert_eq!(story_of(&env, "m1"), story_of(&env, "bank"));
    let method: String =
        env.sql().query_row("SELECT match_method FROM items WHERE guid = 'm1'", [], |r| r.get(0)).unwrap();
    assert_eq!(method, "exact", "the copy folds to the article's very words");
    // The text is kept as the copy wrote it.
    let clean: String =
        env.sql().query_row("SELECT clean_text FROM items WHERE guid = 'm1'", [], |r| r.get(0)).unwrap();
    assert!(clean.starts_with("Ꭲhe central bank raiꜱed"), "{clean}");
}

#[test]
fn a_repost_full_of_typos_joins_its_story_on_its_text() {
    let env = Env::new();
    let original = publisher(&env);
    // Twelve words misspelt, each by one letter: changed, dropped, doubled or two swapped.
    // As written, a quarter of the repost's three-word phrases are not in the article.
    let mut typos = BANK.to_string();
    for (word, typo) in [
        ("central", "cetnral"),
        ("increase", "increse"),
        ("prices", "pricces"),
        ("Officials", "Oficials"),
        ("inflation", "inflatoin"),
        ("eleven", "elevan"),
        ("further", "furhter"),
        ("Markets", "Marktes"),
        ("currency", "curency"),
        ("announcement", "anouncement"),
        ("governor", "govenror"),
        ("forecasts", "forcasts"),
    ] {
        typos = typos.replacen(word, typo, 1);
    }
    let copy = rss("typist", &[("t1", "Rates up", "Thu, 04 Jan 2024 13:00:00 GMT", &typos)]);
    let copy = env.write("typist.xml", &copy).display().to_string();
    env.ok(&["ingest", &original, &copy]);
    assert_eq!(story_of(&env, "t1"), story_of(&env, "bank"));
    let why = env.ok(&["explain", &item_id(&env, "t1").to_string()]);
    assert!(why.contains("once single-letter typos are forgiven"), "{why}");
}
