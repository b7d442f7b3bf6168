//! Politeness and caution settings from the config, and the feeds that share a host's pause.

use crate::config::FetchConfig;
use anyhow::Result;
use newsdedup_fetcher::hosts::{host_of, HostRule, Hosts, HostsConfig};
use newsdedup_model::FeedId;
use newsdedup_store::Store;
use std::sync::Arc;

/// The per-host limits and pauses, as configured.
pub fn hosts(fetch: &FetchConfig, max_block: std::time::Duration) -> Arc<Hosts> {
    let rules = fetch
        .hosts
        .iter()
        .map(|(host, o)| {
            (host.clone(), HostRule { concurrency: o.concurrency.map(|c| c.get()), separate_waits: o.separate_waits })
        })
        .collect();
    Hosts::new(HostsConfig {
        per_host: fetch.per_host_concurrency.get(),
        max_wait: fetch.max_host_wait.0,
        max_block,
        rules,
    })
}

/// Host names exempt from `refuse_private_addresses`.
pub fn private_hosts_allowed(fetch: &FetchConfig) -> Vec<String> {
    fetch
        .hosts
        .iter()
        .filter(|(_, o)| o.allow_private_address)
        .map(|(host, _)| host.split(':').next().unwrap_or(host).to_string())
        .collect()
}

/// The other feeds on `host` (as [`host_of`] spells it), which share its Retry-After pause.
pub fn feeds_on_host(store: &Store, host: &str, except: FeedId) -> Result<Vec<FeedId>> {
    Ok(store
        .active_feeds()?
        .into_iter()
        .filter(|f| f.id != except)
        .filter(|f| {
            url::Url::parse(&f.url).is_ok_and(|u| matches!(u.scheme(), "http" | "https") && host_of(&u) == host)
        })
        .map(|f| f.id)
        .collect())
}

/// Checks an address from an imported feed list. With `refuse_private_addresses` on, the
/// list is taken as untrusted: local paths are refused (an imported "feed" must not read the
/// machine's files into the database), and so are hosts that are private address literals
/// (names are checked again after DNS resolution at every fetch).
pub fn check_imported(address: &str, fetch: &FetchConfig) -> Result<()> {
    let source = newsdedup_fetcher::Source::parse(address)?;
    if !fetch.refuse_private_addresses {
        return Ok(());
    }
    match source {
        newsdedup_fetcher::Source::File(_) => {
            anyhow::bail!("local paths are not imported while fetch.refuse_private_addresses is on")
        }
        newsdedup_fetcher::Source::Http(url) => {
            let policy = newsdedup_fetcher::guard::AddressPolicy {
                refuse_private: true,
                allowed_hosts: private_hosts_allowed(fetch),
            };
            policy.check_url(&url)?;
            Ok(())
        }
    }
}
