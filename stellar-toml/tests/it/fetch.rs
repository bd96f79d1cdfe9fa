//! The outbound policy end to end, against local actix-web servers on 127.0.0.1.

use crate::common;

use std::time::{Duration, Instant};

use common::{TOML, overridden, resolver, start};
use stellar_toml::{Error, STELLAR_TOML_MAX_BYTES, StellarTomlSettings, Url};

const DOMAIN: &str = "bank.test";

fn url(s: &str) -> Url {
    Url::parse(s).unwrap()
}

#[actix_web::test]
async fn an_override_to_a_local_http_server_works() {
    let server = start(TOML);
    let resolver = resolver(&overridden(
        "Bank.Test",
        &server.url("/.well-known/stellar.toml"),
    ));
    assert!(resolver.is_overridden("BANK.test."));
    let toml = resolver.stellar_toml("bank.TEST").await.unwrap();
    assert_eq!(
        toml.network_passphrase.as_deref(),
        Some("Test SDF Network ; September 2015")
    );
    // The overridden domain may name a plain-http federation server.
    assert_eq!(
        resolver.federation_server(DOMAIN).await.unwrap().as_str(),
        "http://127.0.0.1:1/federation"
    );
    assert_eq!(
        resolver.auth_server(DOMAIN).await,
        Err(Error::MissingField("AUTH_SERVER"))
    );
    server.stop().await;
}

#[actix_web::test]
async fn plain_http_is_refused_for_a_domain_that_is_not_overridden() {
    let server = start(TOML);
    let resolver = resolver(&overridden(
        DOMAIN,
        &server.url("/.well-known/stellar.toml"),
    ));
    let target = url(&server.url("/echo"));
    assert!(matches!(
        resolver.get("example.com", &target, 1024).await,
        Err(Error::InsecureUrl(_))
    ));
    assert!(matches!(
        resolver.check_url("example.com", "http://example.com/federation"),
        Err(Error::InsecureUrl(_))
    ));
    assert!(
        resolver
            .check_url("example.com", "https://example.com/federation")
            .is_ok()
    );
    assert!(
        resolver
            .check_url(DOMAIN, "http://127.0.0.1/federation")
            .is_ok()
    );
    for bad_scheme in [
        "ftp://example.com/x",
        "file:///etc/passwd",
        "data:text/plain,hi",
    ] {
        assert!(matches!(
            resolver.check_url(DOMAIN, bad_scheme),
            Err(Error::InsecureUrl(_))
        ));
    }
    assert!(matches!(
        resolver.check_url(DOMAIN, "not a url"),
        Err(Error::InvalidUrl(_))
    ));
    for bad_domain in ["", "bad domain", "a..b", "-x.com", "x*y.com"] {
        assert!(matches!(
            resolver.check_url(bad_domain, "https://example.com/"),
            Err(Error::InvalidDomain(_))
        ));
        assert!(matches!(
            resolver.stellar_toml(bad_domain).await,
            Err(Error::InvalidDomain(_))
        ));
    }
    server.stop().await;
}

#[actix_web::test]
async fn the_ssrf_guard_refuses_internal_addresses_for_other_domains() {
    let server = start(TOML);
    let port = server.addr.port();
    let resolver = resolver(&StellarTomlSettings::default());
    // A name that resolves to loopback, through the guarded DNS resolver.
    let result = resolver.stellar_toml("localhost").await;
    assert!(
        matches!(result, Err(Error::RefusedAddress(_))),
        "{result:?}"
    );
    let by_name = url(&format!("https://localhost:{port}/"));
    assert!(matches!(
        resolver.get("example.com", &by_name, 1024).await,
        Err(Error::RefusedAddress(_))
    ));
    // IP literals, which never reach a DNS resolver.
    for literal in [
        format!("https://127.0.0.1:{port}/"),
        format!("https://[::1]:{port}/"),
        "https://10.0.0.1/".to_owned(),
        "https://169.254.169.254/latest/meta-data".to_owned(),
        "https://[::ffff:127.0.0.1]/".to_owned(),
        "https://0x7f.1/".to_owned(),
        "https://0.0.0.0/".to_owned(),
    ] {
        let result = resolver.get("example.com", &url(&literal), 1024).await;
        assert!(
            matches!(result, Err(Error::RefusedAddress(_))),
            "{literal}: {result:?}"
        );
    }
    assert_eq!(server.hits("/"), 0);
    server.stop().await;
}

#[actix_web::test]
async fn allow_private_addresses_lifts_the_guard() {
    let server = start(TOML);
    let port = server.addr.port();
    let resolver = resolver(&StellarTomlSettings {
        allow_private_addresses: true,
        ..StellarTomlSettings::default()
    });
    // The plain-http server cannot speak TLS, so the request fails in the handshake, not in
    // the guard: the connection was allowed.
    for target in [
        format!("https://localhost:{port}/"),
        format!("https://127.0.0.1:{port}/"),
    ] {
        let result = resolver.get("example.com", &url(&target), 1024).await;
        assert!(
            matches!(result, Err(Error::Transport(_))),
            "{target}: {result:?}"
        );
    }
    server.stop().await;
}

#[actix_web::test]
async fn a_body_over_the_cap_is_too_large_even_without_content_length() {
    let server = start(TOML);
    let resolver = resolver(&overridden(DOMAIN, &server.url("/big")));
    assert_eq!(
        resolver.stellar_toml(DOMAIN).await,
        Err(Error::TooLarge {
            limit: STELLAR_TOML_MAX_BYTES
        })
    );
    // A cap of exactly the size passes; one byte less fails (Content-Length known here).
    let toml_url = url(&server.url("/.well-known/stellar.toml"));
    let ok = resolver.get(DOMAIN, &toml_url, TOML.len()).await.unwrap();
    assert_eq!(ok.body, TOML.as_bytes());
    assert_eq!(ok.content_type.as_deref(), Some("text/plain"));
    assert_eq!(
        resolver
            .get(DOMAIN, &toml_url, TOML.len() - 1)
            .await
            .unwrap_err(),
        Error::TooLarge {
            limit: TOML.len() - 1
        }
    );
    server.stop().await;
}

#[actix_web::test]
async fn status_errors_for_stellar_toml() {
    let server = start(TOML);
    let mut settings = overridden(DOMAIN, &server.url("/missing"));
    settings
        .overrides
        .insert("broken.test".to_owned(), server.url("/error"));
    let resolver = resolver(&settings);
    assert_eq!(
        resolver.stellar_toml(DOMAIN).await,
        Err(Error::NotFound {
            url: server.url("/missing")
        })
    );
    assert_eq!(
        resolver.stellar_toml("broken.test").await,
        Err(Error::Status {
            url: server.url("/error"),
            status: 500
        })
    );
    // `get` hands any status back to the caller.
    let missing = resolver
        .get(DOMAIN, &url(&server.url("/missing")), 1024)
        .await
        .unwrap();
    assert_eq!(missing.status, 404);
    server.stop().await;
}

#[actix_web::test]
async fn invalid_toml_from_the_server() {
    let server = start("this is = = not toml");
    let resolver = resolver(&overridden(
        DOMAIN,
        &server.url("/.well-known/stellar.toml"),
    ));
    assert!(matches!(
        resolver.stellar_toml(DOMAIN).await,
        Err(Error::InvalidToml(_))
    ));
    server.stop().await;
}

#[actix_web::test]
async fn up_to_three_redirects_are_followed_and_the_fourth_is_refused() {
    let server = start(TOML);
    let resolver = resolver(&overridden(DOMAIN, &server.url("/redirect/3")));
    let three = resolver
        .get(DOMAIN, &url(&server.url("/redirect/3")), 1024)
        .await
        .unwrap();
    assert_eq!(
        (three.status, three.body.as_slice()),
        (200, b"done".as_slice())
    );
    assert_eq!(three.url.path(), "/redirect/0");
    assert_eq!(
        resolver
            .get(DOMAIN, &url(&server.url("/redirect/4")), 1024)
            .await
            .unwrap_err(),
        Error::TooManyRedirects
    );
    assert_eq!(
        server.hits("/redirect/0"),
        1,
        "the fourth redirect is not followed"
    );
    // The stellar.toml fetch follows them too.
    assert!(
        matches!(
            resolver.stellar_toml(DOMAIN).await,
            Err(Error::InvalidToml(_))
        ),
        "`done` is not TOML, but it was reached"
    );
    server.stop().await;
}

#[actix_web::test]
async fn each_redirect_target_is_rechecked() {
    let server = start(TOML);
    let port = server.addr.port();
    let resolver = resolver(&overridden(
        DOMAIN,
        &server.url("/.well-known/stellar.toml"),
    ));
    let via = |to: &str, status: u16| {
        let mut u = url(&server.url("/redirect-to"));
        u.query_pairs_mut()
            .append_pair("to", to)
            .append_pair("status", &status.to_string());
        u
    };
    // A scheme the policy does not allow.
    for to in ["ftp://127.0.0.1/x", "file:///etc/passwd"] {
        let result = resolver.get(DOMAIN, &via(to, 302), 1024).await;
        assert!(
            matches!(result, Err(Error::InsecureUrl(_))),
            "{to}: {result:?}"
        );
    }
    // Another host, or another port of the same host, is guarded even for an overridden
    // domain: the exemption is its URL's origin (scheme, host, port), not its host.
    let other_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    for to in [
        format!("http://127.0.0.1:{other_port}/secret-internal"),
        format!("http://localhost:{port}/redirect/0"),
        "http://10.0.0.1/".to_owned(),
        "http://[::1]/".to_owned(),
    ] {
        let result = resolver.get(DOMAIN, &via(&to, 307), 1024).await;
        assert!(
            matches!(result, Err(Error::RefusedAddress(_))),
            "{to}: {result:?}"
        );
    }
    // The same host stays exempt; a relative Location works.
    let same = resolver
        .get(DOMAIN, &via("/redirect/0", 301), 1024)
        .await
        .unwrap();
    assert_eq!(same.body, b"done");
    // A non-overridden domain may never be sent to plain http, even by a redirect.
    assert!(matches!(
        resolver.check_url("example.com", via("/x", 302).as_str()),
        Err(Error::InsecureUrl(_))
    ));
    server.stop().await;
}

#[actix_web::test]
async fn post_form_sends_a_urlencoded_body_and_keeps_it_on_307() {
    let server = start(TOML);
    let resolver = resolver(&overridden(
        DOMAIN,
        &server.url("/.well-known/stellar.toml"),
    ));
    let echo = url(&server.url("/echo"));
    let form = [("data", "a b&c=d"), ("sig", "x/y+z")];
    let answer = resolver
        .post_form(DOMAIN, &echo, &form, 1024)
        .await
        .unwrap();
    assert_eq!(
        String::from_utf8(answer.body).unwrap(),
        "POST application/x-www-form-urlencoded data=a+b%26c%3Dd&sig=x%2Fy%2Bz"
    );
    let mut redirect = url(&server.url("/redirect-to"));
    redirect
        .query_pairs_mut()
        .append_pair("to", "/echo")
        .append_pair("status", "307");
    let kept = resolver
        .post_form(DOMAIN, &redirect, &form, 1024)
        .await
        .unwrap();
    assert!(String::from_utf8(kept.body).unwrap().starts_with("POST "));
    let mut see_other = url(&server.url("/redirect-to"));
    see_other
        .query_pairs_mut()
        .append_pair("to", "/echo")
        .append_pair("status", "303");
    let switched = resolver
        .post_form(DOMAIN, &see_other, &form, 1024)
        .await
        .unwrap();
    assert_eq!(String::from_utf8(switched.body).unwrap(), "GET  ");
    server.stop().await;
}

#[actix_web::test]
async fn a_slow_server_times_out() {
    let server = start(TOML);
    let resolver = resolver(&StellarTomlSettings {
        timeout_seconds: 1,
        ..overridden(DOMAIN, &server.url("/slow"))
    });
    let started = Instant::now();
    assert_eq!(resolver.stellar_toml(DOMAIN).await, Err(Error::Timeout));
    // The server would answer after 3 s.
    assert!(started.elapsed() < Duration::from_secs(3));
    server.stop().await;
}

#[actix_web::test]
async fn a_zero_timeout_or_a_bad_override_is_a_config_error() {
    let zero = StellarTomlSettings {
        timeout_seconds: 0,
        ..StellarTomlSettings::default()
    };
    assert!(matches!(
        stellar_toml::Resolver::new(&zero),
        Err(Error::Config(_))
    ));
    for bad in ["not a url", "ftp://127.0.0.1/stellar.toml"] {
        assert!(matches!(
            stellar_toml::Resolver::new(&overridden(DOMAIN, bad)),
            Err(Error::Config(_))
        ));
    }
}

#[actix_web::test]
async fn the_cache_serves_repeat_calls_without_a_request() {
    let server = start(TOML);
    let resolver = resolver(&overridden(
        DOMAIN,
        &server.url("/.well-known/stellar.toml"),
    ));
    let first = resolver.stellar_toml(DOMAIN).await.unwrap();
    let second = resolver.stellar_toml("BANK.TEST").await.unwrap();
    assert!(std::sync::Arc::ptr_eq(&first, &second));
    assert_eq!(server.hits("/.well-known/stellar.toml"), 1);
    // Clones share the cache.
    resolver.clone().stellar_toml(DOMAIN).await.unwrap();
    assert_eq!(server.hits("/.well-known/stellar.toml"), 1);
    resolver.clear_cache();
    resolver.stellar_toml(DOMAIN).await.unwrap();
    assert_eq!(server.hits("/.well-known/stellar.toml"), 2);
    server.stop().await;
}

#[actix_web::test]
async fn concurrent_misses_share_one_fetch() {
    let server = start(TOML);
    let resolver = resolver(&overridden(
        DOMAIN,
        &server.url("/.well-known/stellar.toml"),
    ));
    let calls = (0..5).map(|_| resolver.stellar_toml(DOMAIN));
    let results = futures_util::future::join_all(calls).await;
    assert!(results.iter().all(Result::is_ok));
    assert_eq!(server.hits("/.well-known/stellar.toml"), 1);
    server.stop().await;
}

#[actix_web::test]
async fn the_cache_expires_after_its_ttl() {
    let server = start(TOML);
    let resolver = resolver(&StellarTomlSettings {
        cache_ttl_seconds: 1,
        ..overridden(DOMAIN, &server.url("/.well-known/stellar.toml"))
    });
    resolver.stellar_toml(DOMAIN).await.unwrap();
    actix_web::rt::time::sleep(Duration::from_millis(1100)).await;
    resolver.stellar_toml(DOMAIN).await.unwrap();
    assert_eq!(server.hits("/.well-known/stellar.toml"), 2);
    server.stop().await;
}

#[actix_web::test]
async fn a_404_is_cached_briefly() {
    let server = start(TOML);
    let resolver = resolver(&overridden(DOMAIN, &server.url("/missing")));
    for _ in 0..3 {
        assert!(matches!(
            resolver.stellar_toml(DOMAIN).await,
            Err(Error::NotFound { .. })
        ));
    }
    assert_eq!(server.hits("/missing"), 1);

    let uncached = common::resolver(&StellarTomlSettings {
        negative_cache_ttl_seconds: 0,
        ..overridden(DOMAIN, &server.url("/missing"))
    });
    for _ in 0..2 {
        assert!(uncached.stellar_toml(DOMAIN).await.is_err());
    }
    assert_eq!(server.hits("/missing"), 3);
    server.stop().await;
}
