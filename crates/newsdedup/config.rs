//! Settings: parsed, merged over the defaults, validated, and turned into the stages' settings.
//!
//! `config/default.toml` is compiled into the binary and is the single source of the defaults:
//! a user's file is merged over it key by key, then the result is deserialized into typed
//! structs that refuse unknown keys and values that make no sense, so a typo in a config file
//! is an error at start-up, not a silently ignored setting.

use anyhow::{bail, Context, Result};
use serde::de::{self, Deserializer};
use serde::Deserialize;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The defaults, documented: the file people copy to start their own.
pub const DEFAULT_TOML: &str = include_str!("../../config/default.toml");

/// The built-in boilerplate rule packs, one per language.
pub const BUILTIN_PACKS: &[(&str, &str)] = &[
    ("builtin:en", include_str!("../../config/boilerplate/en.toml")),
    ("builtin:ru", include_str!("../../config/boilerplate/ru.toml")),
    ("builtin:uk", include_str!("../../config/boilerplate/uk.toml")),
    ("builtin:de", include_str!("../../config/boilerplate/de.toml")),
    ("builtin:fr", include_str!("../../config/boilerplate/fr.toml")),
    ("builtin:es", include_str!("../../config/boilerplate/es.toml")),
    ("builtin:pt", include_str!("../../config/boilerplate/pt.toml")),
    ("builtin:it", include_str!("../../config/boilerplate/it.toml")),
    ("builtin:tr", include_str!("../../config/boilerplate/tr.toml")),
    ("builtin:common", include_str!("../../config/boilerplate/common.toml")),
];

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub fetch: FetchConfig,
    pub schedule: ScheduleConfig,
    pub normalise: NormaliseConfig,
    pub dedup: DedupConfig,
    pub daemon: DaemonConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FetchConfig {
    pub concurrency: NonZeroUsize,
    pub per_host_concurrency: NonZeroUsize,
    pub connect_timeout: HumanDuration,
    pub timeout: HumanDuration,
    pub read_timeout: HumanDuration,
    pub max_body_bytes: u64,
    pub max_decompressed_bytes: u64,
    pub max_redirects: usize,
    pub user_agent: String,
    pub max_host_wait: HumanDuration,
    pub refuse_private_addresses: bool,
    /// Per-host overrides, keyed by `host` or `host:port`.
    pub hosts: std::collections::BTreeMap<String, HostOverride>,
}

/// Settings for one host (`[fetch.hosts."bridge.example.org"]`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HostOverride {
    /// Fetches this host serves at once, instead of `per_host_concurrency`.
    pub concurrency: Option<NonZeroUsize>,
    /// A Retry-After from this host delays only the feed that got it.
    pub separate_waits: bool,
    /// Fetch from this host even when it is on a private address and
    /// `refuse_private_addresses` is on.
    pub allow_private_address: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleConfig {
    pub interval: HumanDuration,
    pub min_interval: HumanDuration,
    pub max_interval: HumanDuration,
    pub jitter: f64,
    pub retry_after: HumanDuration,
    pub max_backoff: HumanDuration,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NormaliseConfig {
    pub builtin_packs: bool,
    pub packs: Vec<PathBuf>,
    /// Cut blocks of boilerplate-looking lines at the head and tail of items.
    pub edges: bool,
    /// Rules for single feeds.
    #[serde(default)]
    pub feed: Vec<FeedRulesConfig>,
    pub learn: LearnConfig,
}

/// Rule packs and inline rules that apply to one feed only.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedRulesConfig {
    /// The feed's address, as given to `feeds add` (relative paths resolve against the config
    /// file's folder).
    pub url: String,
    #[serde(default)]
    pub packs: Vec<PathBuf>,
    #[serde(default)]
    pub rule: Vec<newsdedup_normaliser::rules::RuleSpec>,
}

/// Learned per-feed templates.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LearnConfig {
    pub enabled: bool,
    pub min_stories: u32,
    pub min_share: f64,
    pub window: u32,
    pub keep_stories: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DedupConfig {
    pub max_distance: u32,
    pub min_words_for_near: usize,
    pub window: HumanDuration,
}

impl DedupConfig {
    /// The deduplicator's settings.
    pub fn to_dedup_config(&self) -> newsdedup_deduplicator::DedupConfig {
        newsdedup_deduplicator::DedupConfig {
            max_distance: self.max_distance,
            min_words_for_near: self.min_words_for_near.try_into().unwrap_or(u32::MAX),
            window_secs: self.window.0.as_secs().try_into().unwrap_or(i64::MAX),
            ..newsdedup_deduplicator::DedupConfig::default()
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DaemonConfig {
    pub tick: HumanDuration,
    pub stop_timeout: HumanDuration,
    /// When set, the daemon prunes stories older than this once a day (as `prune`).
    #[serde(default)]
    pub prune_older_than: Option<HumanDuration>,
}

impl Config {
    /// The defaults (config/default.toml as compiled in).
    pub fn defaults() -> Config {
        Config::from_toml(DEFAULT_TOML, None).expect("config/default.toml is valid")
    }

    /// Reads a config file and merges it over the defaults.
    pub fn load(path: &Path) -> Result<Config> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("cannot read config file {}", path.display()))?;
        Config::from_toml(&text, path.parent()).with_context(|| format!("invalid config file {}", path.display()))
    }

    /// Parses `text` merged over the defaults; relative paths resolve against `base`.
    pub fn from_toml(text: &str, base: Option<&Path>) -> Result<Config> {
        let mut merged: toml::Table = toml::from_str(DEFAULT_TOML).expect("config/default.toml is valid TOML");
        let user: toml::Table = toml::from_str(text).map_err(|e: toml::de::Error| {
            let line = e.span().map_or(0, |s| text[..s.start.min(text.len())].matches('\n').count() + 1);
            anyhow::anyhow!("line {line}: {}", e.message())
        })?;
        merge(&mut merged, user);
        let mut config: Config =
            toml::Value::Table(merged).try_into().map_err(|e: toml::de::Error| anyhow::anyhow!("{}", e.message()))?;
        if let Some(base) = base {
            let feed_packs = config.normalise.feed.iter_mut().flat_map(|f| f.packs.iter_mut());
            for p in config.normalise.packs.iter_mut().chain(feed_packs) {
                if p.is_relative() {
                    *p = base.join(&*p);
                }
            }
        }
        let base_dir = match base {
            Some(b) => b.to_path_buf(),
            None => std::env::current_dir().unwrap_or_default(),
        };
        for f in &mut config.normalise.feed {
            f.url = crate::feedlist::normalise_address(&f.url, &base_dir);
        }
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<()> {
        if self.fetch.max_body_bytes == 0 || self.fetch.max_decompressed_bytes == 0 {
            bail!("fetch.max_body_bytes and fetch.max_decompressed_bytes must be greater than 0");
        }
        if self.fetch.timeout.0.is_zero()
            || self.fetch.read_timeout.0.is_zero()
            || self.fetch.connect_timeout.0.is_zero()
        {
            bail!("fetch.connect_timeout, fetch.timeout and fetch.read_timeout must be longer than 0s");
        }
        for host in self.fetch.hosts.keys() {
            if host.is_empty()
                || host.contains('/')
                || host.chars().any(|c| c.is_ascii_uppercase() || c.is_whitespace())
            {
                bail!("fetch.hosts: {host:?} is not a lowercase host name (with an optional :port)");
            }
        }
        if self.schedule.interval.0.is_zero() {
            bail!("schedule.interval must be longer than 0s");
        }
        if self.schedule.min_interval.0.is_zero() || self.schedule.min_interval.0 > self.schedule.max_interval.0 {
            bail!("schedule.min_interval must be longer than 0s and not longer than schedule.max_interval");
        }
        if !(0.0..=0.5).contains(&self.schedule.jitter) {
            bail!("schedule.jitter must be between 0 and 0.5");
        }
        if self.schedule.retry_after.0 > self.schedule.max_backoff.0 {
            bail!("schedule.retry_after must not be longer than schedule.max_backoff");
        }
        if self.dedup.max_distance > newsdedup_deduplicator::index::MAX_RADIUS {
            bail!("dedup.max_distance must be between 0 and {}", newsdedup_deduplicator::index::MAX_RADIUS);
        }
        if self.daemon.tick.0.is_zero() {
            bail!("daemon.tick must be longer than 0s");
        }
        if self.daemon.prune_older_than.is_some_and(|d| d.0 < Duration::from_secs(86400)) {
            bail!("daemon.prune_older_than must be at least 1d");
        }
        let learn = &self.normalise.learn;
        if learn.min_stories < 2 {
            bail!("normalise.learn.min_stories must be at least 2 (a line in one story is that story's own)");
        }
        if !(learn.min_share > 0.0 && learn.min_share <= 1.0) {
            bail!("normalise.learn.min_share must be greater than 0 and at most 1");
        }
        if learn.keep_stories == 0 {
            bail!("normalise.learn.keep_stories must be greater than 0");
        }
        Ok(())
    }

    /// The rule packs to load: built-in ones (if enabled) then the user's, as (name, text).
    pub fn rule_pack_texts(&self) -> Result<Vec<(String, String)>> {
        let mut packs = Vec::new();
        if self.normalise.builtin_packs {
            packs.extend(BUILTIN_PACKS.iter().map(|(n, t)| (n.to_string(), t.to_string())));
        }
        for path in &self.normalise.packs {
            let text =
                std::fs::read_to_string(path).with_context(|| format!("cannot read rule pack {}", path.display()))?;
            packs.push((path.display().to_string(), text));
        }
        Ok(packs)
    }

    /// The settings of learned templates, as the normaliser takes them.
    pub fn learn_settings(&self) -> newsdedup_normaliser::LearnSettings {
        let l = &self.normalise.learn;
        newsdedup_normaliser::LearnSettings { min_stories: l.min_stories, min_share: l.min_share, window: l.window }
    }

    /// Builds the normaliser: global packs, per-feed rules and layers. Errors name the pack or
    /// rule at fault.
    pub fn normaliser(&self) -> Result<newsdedup_normaliser::Normaliser> {
        use newsdedup_normaliser::{Layers, Normaliser, RuleSet};
        let packs = self.rule_pack_texts()?;
        let rules = RuleSet::from_packs(packs.iter().map(|(n, t)| (n.as_str(), t.as_str())))?;
        let mut normaliser = Normaliser::new(rules).with_layers(Layers { edges: self.normalise.edges });
        for feed in &self.normalise.feed {
            let mut texts = Vec::new();
            for path in &feed.packs {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read rule pack {} of feed {}", path.display(), feed.url))?;
                texts.push((path.display().to_string(), text));
            }
            let source = format!("feed {}", feed.url);
            let rules = RuleSet::build(
                texts.iter().map(|(n, t)| (n.as_str(), t.as_str())),
                feed.rule.iter().map(|r| (source.as_str(), r.clone())),
            )?;
            normaliser = normaliser.with_feed_rules(feed.url.clone(), rules);
        }
        Ok(normaliser)
    }
}

/// Merges `over` into `base`: tables recursively, anything else replaced.
fn merge(base: &mut toml::Table, over: toml::Table) {
    for (key, value) in over {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(key, v);
            }
        }
    }
}

/// A duration written as a number and a unit: "500ms", "90s", "30m", "6h", "7d".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HumanDuration(pub Duration);

impl HumanDuration {
    pub fn parse(s: &str) -> Result<HumanDuration, String> {
        let s = s.trim();
        let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let (num, unit) = s.split_at(split);
        let n: u64 =
            num.parse().map_err(|_| format!("invalid duration {s:?}: expected a number and a unit, like \"30m\""))?;
        let secs = match unit.trim() {
            "ms" => return Ok(HumanDuration(Duration::from_millis(n))),
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86400,
            other => return Err(format!("invalid duration {s:?}: unknown unit {other:?} (use ms, s, m, h or d)")),
        };
        n.checked_mul(secs)
            .map(|s| HumanDuration(Duration::from_secs(s)))
            .ok_or_else(|| format!("duration {s:?} is too long"))
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        HumanDuration::parse(&s).map_err(de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_defaults_parse() {
        let c = Config::defaults();
        assert_eq!(c.fetch.concurrency.get(), 16);
        assert_eq!(c.schedule.interval.0, Duration::from_secs(1800));
        assert!(c.normalise.builtin_packs);
    }

    #[test]
    fn a_user_file_overrides_only_what_it_names() {
        let c = Config::from_toml("[schedule]\ninterval = \"2h\"\n", None).unwrap();
        assert_eq!(c.schedule.interval.0, Duration::from_secs(7200));
        assert_eq!(c.schedule.retry_after.0, Duration::from_secs(300));
        assert_eq!(c.fetch.concurrency.get(), 16);
    }

    #[test]
    fn typos_and_bad_values_are_errors() {
        assert!(Config::from_toml("[fetch]\nconcurency = 4\n", None).is_err());
        assert!(Config::from_toml("[fetch]\nconcurrency = 0\n", None).is_err());
        assert!(Config::from_toml("[schedule]\ninterval = \"soon\"\n", None).is_err());
        assert!(Config::from_toml("[dedup]\nmax_distance = 99\n", None).is_err());
        assert!(Config::from_toml("[schedule]\njitter = 2.0\n", None).is_err());
        assert!(Config::from_toml("[schedule]\nmin_interval = \"2d\"\n", None).is_err());
        assert!(Config::from_toml("[fetch.hosts.\"Bridge.Example\"]\nseparate_waits = true\n", None).is_err());
        assert!(Config::from_toml("[fetch.hosts.\"bridge.example\"]\nseperate_waits = true\n", None).is_err());
        assert!(Config::from_toml("not toml at all [", None).is_err());
        assert!(Config::from_toml("[daemon]\nprune_older_than = \"1h\"\n", None).is_err());
        let c = Config::from_toml("[daemon]\nprune_older_than = \"90d\"\n", None).unwrap();
        assert_eq!(c.daemon.prune_older_than, Some(HumanDuration(Duration::from_secs(90 * 86400))));
        assert_eq!(Config::defaults().daemon.prune_older_than, None);
    }

    #[test]
    fn per_host_overrides_merge_over_the_defaults() {
        let c = Config::from_toml(
            "[fetch.hosts.\"bridge.example:3000\"]\nconcurrency = 4\nseparate_waits = true\n\
             [fetch.hosts.\"feeds.lan\"]\nallow_private_address = true\n",
            None,
        )
        .unwrap();
        let bridge = &c.fetch.hosts["bridge.example:3000"];
        assert_eq!(bridge.concurrency.map(NonZeroUsize::get), Some(4));
        assert!(bridge.separate_waits && !bridge.allow_private_address);
        assert!(c.fetch.hosts["feeds.lan"].allow_private_address);
        assert_eq!(c.fetch.per_host_concurrency.get(), 2);
    }

    #[test]
    fn per_feed_rules_and_learning_settings() {
        let c = Config::from_toml(
            "[normalise.learn]\nmin_stories = 4\n\n[[normalise.feed]]\nurl = \"https://example.org/feed.xml\"\n\
             [[normalise.feed.rule]]\nid = \"example.footer\"\nwhere = \"tail\"\npattern = '^the example weekly wrap'\n\
             comment = \"Example's own footer\"\n",
            None,
        )
        .unwrap();
        assert_eq!(c.learn_settings().min_stories, 4);
        assert_eq!(c.normalise.feed[0].url, "https://example.org/feed.xml");
        let n = c.normaliser().unwrap();
        use newsdedup_normaliser::Normaliser;
        let raw = newsdedup_model::RawItem {
            guid: "g".into(),
            key_source: newsdedup_model::KeySource::Guid,
            link: None,
            title: None,
            published_at: None,
            updated_at: None,
            body: "The story.\nThe Example Weekly Wrap".into(),
            body_kind: newsdedup_model::BodyKind::Text,
            platform_id: None,
        };
        let for_feed = Normaliser::finish(&n.analyse(Some("https://example.org/feed.xml"), &raw), &Default::default());
        assert_eq!(for_feed.clean_text, "The story.");
        let elsewhere = Normaliser::finish(&n.analyse(Some("https://other.org/feed.xml"), &raw), &Default::default());
        assert_eq!(elsewhere.clean_text, "The story.\nThe Example Weekly Wrap");
        // A bad pattern in a feed rule is an error naming the feed.
        let bad = Config::from_toml(
            "[[normalise.feed]]\nurl = \"https://example.org/feed.xml\"\n[[normalise.feed.rule]]\nid = \"x\"\n\
             where = \"any\"\npattern = '(unclosed'\ncomment = \"c\"\n",
            None,
        )
        .unwrap();
        let err = format!("{:#}", bad.normaliser().unwrap_err());
        assert!(err.contains("feed https://example.org/feed.xml"), "{err}");
        assert!(Config::from_toml("[normalise.learn]\nmin_stories = 1\n", None).is_err());
        assert!(Config::from_toml("[normalise.learn]\nmin_share = 0.0\n", None).is_err());
    }

    #[test]
    fn builtin_packs_compile() {
        let c = Config::defaults();
        let texts = c.rule_pack_texts().unwrap();
        let set =
            newsdedup_normaliser::RuleSet::from_packs(texts.iter().map(|(n, t)| (n.as_str(), t.as_str()))).unwrap();
        assert!(set.len() > 10);
    }

    #[test]
    fn durations() {
        assert_eq!(HumanDuration::parse("500ms").unwrap().0, Duration::from_millis(500));
        assert_eq!(HumanDuration::parse("7d").unwrap().0, Duration::from_secs(7 * 86400));
        assert!(HumanDuration::parse("5 weeks").is_err());
        assert!(HumanDuration::parse("").is_err());
    }
}
