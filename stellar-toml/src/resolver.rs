//! [`Resolver`]: the stellar.toml cache and the one place outbound requests to
//! network-learned URLs are made.
//!
//! Every request on behalf of a domain goes through [`Resolver::get`] / [`Resolver::post_form`],
//! which enforce the whole policy hop by hop: the scheme rule, the SSRF guard (IP literals here,
//! names in [`GuardedDns`]), at most [`MAX_REDIRECTS`] redirects followed by hand so each target
//! is re-checked, a total timeout over all hops, and a body cap enforced while streaming.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::IpAddr;
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, LOCATION};
use reqwest::{Certificate, Client, ClientBuilder, Method, Response, redirect};
use tokio::sync::Mutex as AsyncMutex;
use tokio::time::Instant;
use url::{Host, Url};

use crate::guard::{GuardedDns, Refused, is_public_ip};
use crate::http::{BodyError, TooLarge, error_chain};
use crate::{Error, StellarToml, StellarTomlSettings};

/// The SEP-1 size limit for a stellar.toml, also used for federation answers.
pub const STELLAR_TOML_MAX_BYTES: usize = 100 * 1024;

/// The most redirects followed for one request; one more is [`Error::TooManyRedirects`].
pub const MAX_REDIRECTS: usize = 3;

/// Above this many cached domains, expired entries are dropped before adding another.
const MAX_CACHE_ENTRIES: usize = 10_000;

const USER_AGENT: &str = concat!(env!("CARGO_PKG_NAME"), "/", env!("CARGO_PKG_VERSION"));

/// A response fetched under the outbound policy, body already read (and capped).
#[derive(Debug, Clone)]
pub struct FetchedResponse {
    /// The HTTP status code of the final response (after redirects).
    pub status: u16,
    /// The `Content-Type` header, when present and ASCII.
    pub content_type: Option<String>,
    /// The URL that answered (after redirects).
    pub url: Url,
    /// The body, at most the `max_bytes` the caller asked for.
    pub body: Vec<u8>,
}

/// One outbound request before it is sent: what [`Resolver::fetch`] repeats hop by hop.
#[derive(Debug, Clone)]
struct Outbound {
    method: Method,
    content_type: Option<&'static str>,
    body: Option<String>,
    bearer: Option<String>,
}

impl Outbound {
    fn get() -> Self {
        Self {
            method: Method::GET,
            content_type: None,
            body: None,
            bearer: None,
        }
    }
}

/// Installs rustls' aws-lc-rs crypto provider as the process default, once.
///
/// reqwest picks its own provider, but rustls users without one (a TLS test server, the
/// servers' own listeners) panic when the process has none or several. Calling this is
/// idempotent and harmless when another provider was installed first.
pub fn install_crypto_provider() {
    // An error only means a default provider is already installed.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// Resolves stellar.toml files and makes outbound requests under the project's HTTP policy.
///
/// Cheap to clone (one `Arc`); share one per process.
#[derive(Clone)]
pub struct Resolver {
    inner: Arc<Inner>,
}

struct Inner {
    overrides: BTreeMap<String, Url>,
    allow_private: bool,
    /// For hosts under the SSRF guard: filtered DNS, no redirects.
    guarded: Client,
    /// For overridden domains (or everything when private addresses are allowed): no redirects.
    open: Client,
    /// For operator-configured URLs.
    trusted: Client,
    extra_roots: Vec<Certificate>,
    connect_timeout: Duration,
    timeout: Duration,
    cache_ttl: Duration,
    negative_cache_ttl: Duration,
    cache: StdMutex<HashMap<String, Arc<AsyncMutex<Option<CacheEntry>>>>>,
}

struct CacheEntry {
    expires: Instant,
    result: Result<Arc<StellarToml>, Error>,
}

impl fmt::Debug for Resolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Resolver")
            .field("overrides", &self.inner.overrides.keys())
            .field("allow_private_addresses", &self.inner.allow_private)
            .field("extra_roots", &self.inner.extra_roots.len())
            .field("timeout", &self.inner.timeout)
            .finish_non_exhaustive()
    }
}

impl Resolver {
    /// Builds the HTTP clients and reads the extra CA file.
    ///
    /// # Errors
    /// [`Error::Config`] when an override URL is not an http(s) URL, an override key is not a
    /// domain, a timeout is zero, the CA file is unreadable or holds no certificate, the system
    /// DNS configuration cannot be read, or a client cannot be built.
    pub fn new(settings: &StellarTomlSettings) -> Result<Self, Error> {
        install_crypto_provider();
        if settings.connect_timeout_seconds == 0 || settings.timeout_seconds == 0 {
            return Err(Error::Config(
                "connect_timeout_seconds and timeout_seconds must be at least 1".to_owned(),
            ));
        }
        let overrides = parse_overrides(&settings.overrides)?;
        let extra_roots = match &settings.extra_ca_file {
            Some(path) => read_ca_file(path)?,
            None => Vec::new(),
        };
        let connect_timeout = Duration::from_secs(settings.connect_timeout_seconds);
        let timeout = Duration::from_secs(settings.timeout_seconds);
        let base = || {
            base_builder(&extra_roots, connect_timeout)
                .timeout(timeout)
                .redirect(redirect::Policy::none())
        };
        let open = build(base())?;
        let guarded = if settings.allow_private_addresses {
            open.clone()
        } else {
            build(base().dns_resolver(GuardedDns::from_system().map_err(Error::Config)?))?
        };
        let trusted = build(
            base_builder(&extra_roots, connect_timeout)
                .timeout(timeout)
                .redirect(redirect::Policy::limited(MAX_REDIRECTS)),
        )?;
        Ok(Self {
            inner: Arc::new(Inner {
                overrides,
                allow_private: settings.allow_private_addresses,
                guarded,
                open,
                trusted,
                extra_roots,
                connect_timeout,
                timeout,
                cache_ttl: Duration::from_secs(settings.cache_ttl_seconds),
                negative_cache_ttl: Duration::from_secs(settings.negative_cache_ttl_seconds),
                cache: StdMutex::new(HashMap::new()),
            }),
        })
    }

    /// The stellar.toml of `domain`, from the cache when fresh.
    ///
    /// Fetched from `https://DOMAIN/.well-known/stellar.toml`, or from the override URL. A
    /// success is cached for `cache_ttl_seconds`, a failure for `negative_cache_ttl_seconds`;
    /// concurrent callers for the same domain share one fetch.
    ///
    /// # Errors
    /// [`Error::InvalidDomain`]; [`Error::NotFound`] for a 404 and [`Error::Status`] for any
    /// other non-2xx; [`Error::InvalidToml`]; and every error of [`Resolver::get`].
    pub async fn stellar_toml(&self, domain: &str) -> Result<Arc<StellarToml>, Error> {
        let domain = self.normalize_domain(domain)?;
        let slot = self.cache_slot(&domain);
        let mut entry = slot.lock().await;
        if let Some(cached) = entry.as_ref()
            && cached.expires > Instant::now()
        {
            return cached.result.clone();
        }
        let result = self.fetch_stellar_toml(&domain).await;
        let ttl = match &result {
            Ok(_) => self.inner.cache_ttl,
            Err(e) => {
                tracing::debug!(%domain, error = %e, "stellar.toml fetch failed");
                self.inner.negative_cache_ttl
            }
        };
        *entry = (!ttl.is_zero()).then(|| CacheEntry {
            expires: Instant::now() + ttl,
            result: result.clone(),
        });
        result
    }

    /// The `FEDERATION_SERVER` of `domain`'s stellar.toml, checked with [`Resolver::check_url`].
    ///
    /// # Errors
    /// Those of [`Resolver::stellar_toml`], [`Error::MissingField`], and those of
    /// [`Resolver::check_url`].
    pub async fn federation_server(&self, domain: &str) -> Result<Url, Error> {
        let toml = self.stellar_toml(domain).await?;
        let url = toml
            .federation_server
            .as_deref()
            .ok_or(Error::MissingField("FEDERATION_SERVER"))?;
        self.check_url(domain, url)
    }

    /// The `AUTH_SERVER` of `domain`'s stellar.toml, checked with [`Resolver::check_url`].
    ///
    /// # Errors
    /// Those of [`Resolver::stellar_toml`], [`Error::MissingField`], and those of
    /// [`Resolver::check_url`].
    pub async fn auth_server(&self, domain: &str) -> Result<Url, Error> {
        let toml = self.stellar_toml(domain).await?;
        let url = toml
            .auth_server
            .as_deref()
            .ok_or(Error::MissingField("AUTH_SERVER"))?;
        self.check_url(domain, url)
    }

    /// GETs `url` on behalf of `domain` (the domain whose stellar.toml named it), under the
    /// whole policy. Any status is returned as is, except that redirects are followed.
    ///
    /// # Errors
    /// [`Error::InvalidDomain`], [`Error::InsecureUrl`] (scheme rule), [`Error::RefusedAddress`]
    /// (SSRF guard), [`Error::TooManyRedirects`], [`Error::InvalidUrl`] (bad `Location`),
    /// [`Error::TooLarge`] when the body exceeds `max_bytes`, [`Error::Timeout`] and
    /// [`Error::Transport`].
    pub async fn get(
        &self,
        domain: &str,
        url: &Url,
        max_bytes: usize,
    ) -> Result<FetchedResponse, Error> {
        self.fetch(domain, url, Outbound::get(), max_bytes).await
    }

    /// POSTs `form` as `application/x-www-form-urlencoded` to `url` on behalf of `domain`,
    /// under the same policy as [`Resolver::get`]. A 307/308 redirect repeats the POST; the
    /// other redirects continue with a GET, as browsers do.
    ///
    /// # Errors
    /// As [`Resolver::get`].
    pub async fn post_form(
        &self,
        domain: &str,
        url: &Url,
        form: &[(&str, &str)],
        max_bytes: usize,
    ) -> Result<FetchedResponse, Error> {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let request = Outbound {
            method: Method::POST,
            content_type: Some("application/x-www-form-urlencoded"),
            body: Some(body),
            bearer: None,
        };
        self.fetch(domain, url, request, max_bytes).await
    }

    /// Sends `method` to `url` on behalf of `domain` with an optional JSON body and bearer
    /// token (the SEP-10 JWT of the SEP-12 and SEP-31 calls), under the same policy as
    /// [`Resolver::get`]. The token goes to the origin named only: a redirect elsewhere
    /// loses it.
    ///
    /// # Errors
    /// As [`Resolver::get`].
    pub async fn send_json(
        &self,
        domain: &str,
        method: Method,
        url: &Url,
        bearer: Option<&str>,
        json: Option<String>,
        max_bytes: usize,
    ) -> Result<FetchedResponse, Error> {
        let request = Outbound {
            method,
            content_type: json.is_some().then_some("application/json"),
            body: json,
            bearer: bearer.map(str::to_owned),
        };
        self.fetch(domain, url, request, max_bytes).await
    }

    /// Checks the scheme rule for a URL named by `domain`'s stellar.toml: `https`, or `http`
    /// only when `domain` is overridden.
    ///
    /// # Errors
    /// [`Error::InvalidDomain`], [`Error::InvalidUrl`] when `url` does not parse,
    /// [`Error::InsecureUrl`] when the scheme is not allowed.
    pub fn check_url(&self, domain: &str, url: &str) -> Result<Url, Error> {
        let domain = self.normalize_domain(domain)?;
        let url = Url::parse(url.trim()).map_err(|e| Error::InvalidUrl(format!("{url}: {e}")))?;
        self.check_scheme(self.is_overridden(&domain), &url)?;
        Ok(url)
    }

    /// A client for URLs the operator configured (callbacks, Horizon, peer servers): extra CA,
    /// timeouts, no proxy, up to [`MAX_REDIRECTS`] redirects, but no SSRF guard, and plain
    /// http allowed.
    pub fn trusted_client(&self) -> Client {
        self.inner.trusted.clone()
    }

    /// A builder for a client like [`Resolver::trusted_client`] (extra CA, connect timeout, no
    /// proxy, at most [`MAX_REDIRECTS`] redirects) but without the total timeout, for
    /// long-lived responses such as event streams.
    pub fn trusted_client_builder(&self) -> ClientBuilder {
        base_builder(&self.inner.extra_roots, self.inner.connect_timeout)
            .redirect(redirect::Policy::limited(MAX_REDIRECTS))
    }

    /// Whether `domain` (any case, with or without a trailing dot) has an override.
    pub fn is_overridden(&self, domain: &str) -> bool {
        self.inner.overrides.contains_key(&normalize(domain))
    }

    /// The URL the stellar.toml of `domain` is fetched from.
    ///
    /// # Errors
    /// [`Error::InvalidDomain`].
    pub fn stellar_toml_url(&self, domain: &str) -> Result<Url, Error> {
        let domain = self.normalize_domain(domain)?;
        if let Some(url) = self.inner.overrides.get(&domain) {
            return Ok(url.clone());
        }
        Url::parse(&format!("https://{domain}/.well-known/stellar.toml"))
            .map_err(|_| Error::InvalidDomain(domain))
    }

    /// Forgets every cached stellar.toml and failure.
    pub fn clear_cache(&self) {
        self.inner
            .cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clear();
    }

    fn normalize_domain(&self, domain: &str) -> Result<String, Error> {
        let normalized = normalize(domain);
        if self.inner.overrides.contains_key(&normalized)
            || stellar_base::address::is_dns_name(&normalized)
        {
            Ok(normalized)
        } else {
            Err(Error::InvalidDomain(domain.to_owned()))
        }
    }

    /// The per-domain cache slot; its async lock makes concurrent misses share one fetch.
    fn cache_slot(&self, domain: &str) -> Arc<AsyncMutex<Option<CacheEntry>>> {
        let mut cache = self
            .inner
            .cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if cache.len() >= MAX_CACHE_ENTRIES && !cache.contains_key(domain) {
            let now = Instant::now();
            // Keep fresh entries and slots another task is filling right now.
            cache.retain(|_, slot| match slot.try_lock() {
                Ok(entry) => entry.as_ref().is_some_and(|e| e.expires > now),
                Err(_) => true,
            });
            if cache.len() >= MAX_CACHE_ENTRIES {
                cache.retain(|_, slot| slot.try_lock().is_err());
            }
        }
        Arc::clone(cache.entry(domain.to_owned()).or_default())
    }

    async fn fetch_stellar_toml(&self, domain: &str) -> Result<Arc<StellarToml>, Error> {
        let url = self.stellar_toml_url(domain)?;
        let response = self.get(domain, &url, STELLAR_TOML_MAX_BYTES).await?;
        match response.status {
            200..=299 => {}
            404 => {
                return Err(Error::NotFound {
                    url: response.url.to_string(),
                });
            }
            status => {
                return Err(Error::Status {
                    url: response.url.to_string(),
                    status,
                });
            }
        }
        let text = std::str::from_utf8(&response.body)
            .map_err(|_| Error::InvalidToml("not UTF-8".to_owned()))?;
        StellarToml::parse(text).map(Arc::new)
    }

    /// One request with the total timeout over every hop.
    async fn fetch(
        &self,
        domain: &str,
        url: &Url,
        request: Outbound,
        max_bytes: usize,
    ) -> Result<FetchedResponse, Error> {
        let domain = self.normalize_domain(domain)?;
        let overridden = self.is_overridden(&domain);
        tokio::time::timeout(
            self.inner.timeout,
            self.fetch_hops(overridden, url, request, max_bytes),
        )
        .await
        .map_err(|_| Error::Timeout)?
    }

    async fn fetch_hops(
        &self,
        overridden: bool,
        url: &Url,
        mut outbound: Outbound,
        max_bytes: usize,
    ) -> Result<FetchedResponse, Error> {
        let origin = url.origin();
        let mut url = url.clone();
        let mut redirects = 0;
        loop {
            self.check_scheme(overridden, &url)?;
            // The exemption of overridden domains covers the origin (scheme, host and port) the
            // caller named; a redirect anywhere else, another port of the same host included,
            // is guarded like a network-learned one.
            let exempt = overridden && url.origin() == origin;
            let client = self.client_for(exempt, &url)?;
            let mut request = client.request(outbound.method.clone(), url.clone());
            if let (Some(content_type), Some(body)) = (outbound.content_type, &outbound.body) {
                request = request
                    .header(CONTENT_TYPE, content_type)
                    .body(body.clone());
            }
            if let Some(token) = outbound
                .bearer
                .as_deref()
                .filter(|_| url.origin() == origin)
            {
                request = request.bearer_auth(token);
            }
            tracing::debug!(%url, "outbound request");
            let response = request.send().await.map_err(transport_error)?;
            let status = response.status().as_u16();
            let location = response.headers().get(LOCATION);
            let Some(location) = location.filter(|_| matches!(status, 301 | 302 | 303 | 307 | 308))
            else {
                return read_capped(response, max_bytes).await;
            };
            redirects += 1;
            if redirects > MAX_REDIRECTS {
                return Err(Error::TooManyRedirects);
            }
            let location = location
                .to_str()
                .map_err(|_| Error::InvalidUrl("non-ASCII Location header".to_owned()))?;
            let next = url
                .join(location)
                .map_err(|e| Error::InvalidUrl(format!("{location}: {e}")))?;
            if !matches!(status, 307 | 308) {
                outbound = Outbound::get();
            }
            tracing::debug!(from = %url, to = %next, status, "following redirect");
            url = next;
        }
    }

    fn check_scheme(&self, overridden: bool, url: &Url) -> Result<(), Error> {
        match url.scheme() {
            "https" => Ok(()),
            "http" if overridden => Ok(()),
            _ => Err(Error::InsecureUrl(url.to_string())),
        }
    }

    /// Picks the client for `url` and applies the SSRF guard to IP-literal hosts, which never
    /// reach the guarded DNS resolver.
    fn client_for(&self, exempt: bool, url: &Url) -> Result<&Client, Error> {
        if exempt || self.inner.allow_private {
            return Ok(&self.inner.open);
        }
        let literal: Option<IpAddr> = match url.host() {
            Some(Host::Ipv4(ip)) => Some(ip.into()),
            Some(Host::Ipv6(ip)) => Some(ip.into()),
            Some(Host::Domain(name)) => name.parse().ok(),
            None => return Err(Error::InvalidUrl(format!("{url}: no host"))),
        };
        match literal {
            Some(ip) if !is_public_ip(ip) => Err(Error::RefusedAddress(ip.to_string())),
            _ => Ok(&self.inner.guarded),
        }
    }
}

/// Lower-case, without a trailing dot.
fn normalize(domain: &str) -> String {
    let domain = domain.trim();
    domain
        .strip_suffix('.')
        .unwrap_or(domain)
        .to_ascii_lowercase()
}

fn parse_overrides(raw: &BTreeMap<String, String>) -> Result<BTreeMap<String, Url>, Error> {
    raw.iter()
        .map(|(domain, url)| {
            let key = normalize(domain);
            if key.is_empty() {
                return Err(Error::Config("empty domain in overrides".to_owned()));
            }
            let parsed = Url::parse(url)
                .map_err(|e| Error::Config(format!("override for {domain}: {url}: {e}")))?;
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err(Error::Config(format!(
                    "override for {domain}: {url} is not an http(s) URL"
                )));
            }
            Ok((key, parsed))
        })
        .collect()
}

fn read_ca_file(path: &std::path::Path) -> Result<Vec<Certificate>, Error> {
    let pem = std::fs::read(path)
        .map_err(|e| Error::Config(format!("extra_ca_file {}: {e}", path.display())))?;
    let certs = Certificate::from_pem_bundle(&pem)
        .map_err(|e| Error::Config(format!("extra_ca_file {}: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(Error::Config(format!(
            "extra_ca_file {}: no PEM certificate found",
            path.display()
        )));
    }
    Ok(certs)
}

/// What every client shares: extra roots, connect timeout, no proxy, our user agent.
fn base_builder(extra_roots: &[Certificate], connect_timeout: Duration) -> ClientBuilder {
    Client::builder()
        .no_proxy()
        .connect_timeout(connect_timeout)
        .user_agent(USER_AGENT)
        .tls_certs_merge(extra_roots.iter().cloned())
}

fn build(builder: ClientBuilder) -> Result<Client, Error> {
    builder
        .build()
        .map_err(|e| Error::Config(format!("cannot build the HTTP client: {}", error_chain(&e))))
}

async fn read_capped(response: Response, max_bytes: usize) -> Result<FetchedResponse, Error> {
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let url = response.url().clone();
    let body = crate::http::read_capped(response, max_bytes)
        .await
        .map_err(|e| match e {
            BodyError::TooLarge(TooLarge { limit }) => Error::TooLarge { limit },
            BodyError::Transport(e) => transport_error(e),
        })?;
    Ok(FetchedResponse {
        status,
        content_type,
        url,
        body,
    })
}

/// Maps a reqwest error: timeouts, the SSRF guard's refusal (found in the source chain), or a
/// transport error with the whole chain, since reqwest's own message is terse.
fn transport_error(error: reqwest::Error) -> Error {
    if error.is_timeout() {
        return Error::Timeout;
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&error);
    while let Some(e) = source {
        if let Some(refused) = e.downcast_ref::<Refused>() {
            return Error::RefusedAddress(refused.to_string());
        }
        source = e.source();
    }
    Error::Transport(error_chain(&error))
}
