//! Name resolution for discovered endpoints: every A and AAAA address of a name, from the
//! system resolver (getaddrinfo, which honours /etc/hosts and resolv.conf) or from nameservers of
//! the caller's own (hickory-resolver, UDP then TCP); or the targets of a name's `_clamd._tcp`
//! SRV records with their ports (hickory-resolver, on the caller's nameservers or those of
//! /etc/resolv.conf). Answers are not cached here: the caller re-resolves on its own schedule
//! (`discoverInterval`), whatever the records' TTL says.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_resolver::config::{LookupIpStrategy, NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::RData;
use hickory_resolver::TokioResolver;

use crate::error::ClamError;

/// How names are resolved.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ResolverSpec {
  /// The system resolver.
  #[default]
  System,
  /// These nameservers (`resolver: ['ip:port']`).
  Nameservers(Vec<SocketAddr>),
}

/// A client's resolver; hickory's is built with the first resolution (on the runtime).
pub struct Resolver {
  spec: ResolverSpec,
  dns: std::sync::OnceLock<Result<TokioResolver, String>>,
}

/// How long one resolution may take before it counts as a resolver failure.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

impl Resolver {
  pub fn new(spec: ResolverSpec) -> Resolver {
    Resolver {
      spec,
      dns: std::sync::OnceLock::new(),
    }
  }

  /// hickory's resolver: on the caller's nameservers, or (for SRV with the system resolver) on
  /// those of /etc/resolv.conf, with its search domains.
  fn dns(&self) -> Result<&TokioResolver, ClamError> {
    self
      .dns
      .get_or_init(|| match &self.spec {
        ResolverSpec::Nameservers(servers) => Resolver::build(servers, vec![]),
        ResolverSpec::System => {
          let conf = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
          let (servers, search) = resolv_conf(&conf);
          if servers.is_empty() {
            return Err("no nameserver in /etc/resolv.conf: pass `resolver` for SRV discovery".into());
          }
          Resolver::build(&servers, search)
        }
      })
      .as_ref()
      .map_err(|e| ClamError::Internal(e.clone()))
  }

  fn build(servers: &[SocketAddr], search: Vec<String>) -> Result<TokioResolver, String> {
    let name_servers = servers
      .iter()
      .map(|addr| {
        let mut server = NameServerConfig::udp_and_tcp(addr.ip());
        for connection in &mut server.connections {
          connection.port = addr.port();
        }
        server
      })
      .collect();
    let mut opts = ResolverOpts::default();
    // Both families take work; each answer is fresh (the client keeps what it learnt).
    opts.ip_strategy = LookupIpStrategy::Ipv4AndIpv6;
    opts.cache_size = 0;
    opts.timeout = Duration::from_secs(2);
    opts.attempts = 2;
    let search = search.iter().filter_map(|d| d.parse().ok()).collect();
    TokioResolver::builder_with_config(
      ResolverConfig::from_parts(None, search, name_servers),
      TokioRuntimeProvider::default(),
    )
    .with_options(opts)
    .build()
    .map_err(|e| format!("the resolver could not be set up: {e}"))
  }

  /// Every address of `name`, IPv4 first, without duplicates. A name with no address, or a
  /// resolver that does not answer, is `ENOTFOUND`.
  pub async fn resolve(&self, name: &str) -> Result<Vec<IpAddr>, ClamError> {
    let not_found = || ClamError::NotFound { host: name.to_string() };
    if let Ok(ip) = name.parse::<IpAddr>() {
      return Ok(vec![ip]);
    }
    let lookup = async {
      match &self.spec {
        ResolverSpec::System => tokio::net::lookup_host((name, 0))
          .await
          .map(|addrs| addrs.map(|a| a.ip()).collect::<Vec<_>>())
          .map_err(|_| not_found()),
        ResolverSpec::Nameservers(_) => {
          let resolver = self.dns()?;
          // An absolute name: no search domains are tried on the caller's nameservers.
          let fqdn = if name.ends_with('.') {
            name.to_string()
          } else {
            format!("{name}.")
          };
          resolver
            .lookup_ip(fqdn)
            .await
            .map(|found| found.iter().collect::<Vec<_>>())
            .map_err(|_| not_found())
        }
      }
    };
    let ips = tokio::time::timeout(RESOLVE_TIMEOUT, lookup)
      .await
      .unwrap_or_else(|_| Err(not_found()))?;
    let ips = tidy(ips);
    if ips.is_empty() {
      return Err(not_found());
    }
    Ok(ips)
  }
}

impl Resolver {
  /// The targets of `_clamd._tcp.<name>`'s SRV records, each target's every address with the
  /// record's port. Priority and weight are not consulted: every target takes work. No record,
  /// or no address for any target, is `ENOTFOUND`.
  pub async fn resolve_srv(&self, name: &str) -> Result<Vec<(IpAddr, u16)>, ClamError> {
    let not_found = || ClamError::NotFound {
      host: format!("_clamd._tcp.{name}"),
    };
    let lookup = async {
      let resolver = self.dns()?;
      let records = resolver
        .srv_lookup(format!("_clamd._tcp.{name}"))
        .await
        .map_err(|_| not_found())?;
      let targets: Vec<(String, u16)> = records
        .answers()
        .iter()
        .filter_map(|r| match &r.data {
          RData::SRV(srv) => Some((srv.target.to_string(), srv.port)),
          _ => None,
        })
        .collect();
      let mut found = Vec::new();
      for (target, port) in targets {
        if let Ok(ips) = resolver.lookup_ip(target.as_str()).await {
          found.extend(tidy(ips.iter().collect()).into_iter().map(|ip| (ip, port)));
        }
      }
      Ok::<_, ClamError>(found)
    };
    let mut found = tokio::time::timeout(RESOLVE_TIMEOUT, lookup)
      .await
      .unwrap_or_else(|_| Err(not_found()))?;
    found.sort_by_key(|(ip, port)| (ip.is_ipv6(), *ip, *port));
    found.dedup();
    found.truncate(MAX_ADDRESSES);
    if found.is_empty() {
      return Err(not_found());
    }
    Ok(found)
  }
}

/// The nameservers (port 53) and search domains of a resolv.conf.
fn resolv_conf(text: &str) -> (Vec<SocketAddr>, Vec<String>) {
  let mut servers = Vec::new();
  let mut search = Vec::new();
  for line in text.lines() {
    let mut words = line.split_whitespace();
    match words.next() {
      Some("nameserver") => {
        if let Some(ip) = words.next().and_then(|w| w.split('%').next()?.parse::<IpAddr>().ok()) {
          servers.push(SocketAddr::new(ip, 53));
        }
      }
      Some("search") | Some("domain") => search = words.map(|w| w.trim_end_matches('.').to_string()).collect(),
      _ => {}
    }
  }
  (servers, search)
}

/// At most this many addresses of one name become endpoints (each has its own pool): a name
/// answered with thousands cannot make the client open thousands of connections.
pub const MAX_ADDRESSES: usize = 256;

/// IPv4 first, each address once, at most `MAX_ADDRESSES`.
fn tidy(mut ips: Vec<IpAddr>) -> Vec<IpAddr> {
  ips.sort_by_key(|ip| ip.is_ipv6());
  let mut seen = std::collections::HashSet::with_capacity(ips.len());
  ips.retain(|ip| seen.insert(*ip));
  ips.truncate(MAX_ADDRESSES);
  ips
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn resolv_conf_gives_nameservers_and_search_domains() {
    let (servers, search) = resolv_conf(
      "# comment\nnameserver 10.96.0.10\nsearch uploads.svc.cluster.local svc.cluster.local\noptions ndots:5\nnameserver fe80::1%eth0\n",
    );
    assert_eq!(
      servers,
      vec![
        "10.96.0.10:53".parse::<SocketAddr>().unwrap(),
        "[fe80::1]:53".parse().unwrap()
      ]
    );
    assert_eq!(search, vec!["uploads.svc.cluster.local", "svc.cluster.local"]);
  }

  #[test]
  fn answers_are_tidied_ipv4_first_once_each_and_capped() {
    let v6: IpAddr = "::1".parse().unwrap();
    let a = IpAddr::from([10, 0, 0, 1]);
    let b = IpAddr::from([10, 0, 0, 2]);
    assert_eq!(tidy(vec![v6, a, b, a, v6]), vec![a, b, v6]);
    let many: Vec<IpAddr> = (0..1000u32)
      .map(|i| IpAddr::from((0x0a00_0000 + i).to_be_bytes()))
      .collect();
    assert_eq!(tidy(many).len(), MAX_ADDRESSES);
  }

  #[tokio::test]
  async fn ip_literals_resolve_to_themselves() {
    let r = Resolver::new(ResolverSpec::System);
    assert_eq!(
      r.resolve("127.0.0.9").await.unwrap(),
      vec![IpAddr::from([127, 0, 0, 9])]
    );
  }

  #[tokio::test]
  async fn an_unknown_name_is_enotfound() {
    let r = Resolver::new(ResolverSpec::System);
    let err = r.resolve("no-such-host.invalid").await.unwrap_err();
    assert_eq!(err.code(), "ENOTFOUND");
  }

  #[tokio::test]
  async fn a_silent_nameserver_is_enotfound() {
    // A UDP socket that never answers stands in for a dead nameserver.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let r = Resolver::new(ResolverSpec::Nameservers(vec![silent.local_addr().unwrap()]));
    let err = r.resolve("clamd.test").await.unwrap_err();
    assert_eq!(err.code(), "ENOTFOUND");
  }
}
