//! TLS: a CA and a server certificate made with `openssl` (`TlsFiles`), `rediss://` and
//! `tls = true`.

use std::time::{Duration, Instant};

use cement::Error;
use cement_ext::redis::RedisSettings;
use cement_ext::testing::{RedisServer, TlsFiles};

use crate::assert_within;
use crate::support::redis::{cache, cache_with, raw, settings};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn tls_with_a_ca_file() {
    let certs = TlsFiles::generate().unwrap();
    let tls_port = free_port();
    // The plain port stays open beside the TLS one, to inspect the data with the raw client.
    let server = RedisServer::builder()
        .args(["--tls-port".to_string(), tls_port.to_string()])
        .arg("--tls-cert-file")
        .arg(certs.cert().display().to_string())
        .arg("--tls-key-file")
        .arg(certs.key().display().to_string())
        .arg("--tls-ca-cert-file")
        .arg(certs.ca().display().to_string())
        .args(["--tls-auth-clients", "no"])
        .start()
        .unwrap();

    // rediss:// url + CA file.
    let c = cache_with(RedisSettings {
        url: Some(format!("rediss://localhost:{tls_port}")),
        tls_ca_file: Some(certs.ca()),
        ..settings(1, "tls:")
    });
    c.set("k", "over tls").unwrap();
    assert_eq!(c.get::<String>("k").unwrap().as_deref(), Some("over tls"));
    // tls = true with host/port (an IP address in the certificate's SANs).
    let c2 = cache_with(RedisSettings {
        tls: true,
        tls_ca_file: Some(certs.ca()),
        ..settings(tls_port, "tls:")
    });
    assert_eq!(c2.get::<String>("k").unwrap().as_deref(), Some("over tls"));
    // The plain port sees the same data.
    let stored: Option<Vec<u8>> = redis::cmd("GET")
        .arg("tls:k")
        .query(&mut raw(&server))
        .unwrap();
    assert_eq!(stored.as_deref(), Some(&b"\xCE\x01\x01\"over tls\""[..]));

    // Without the CA, or with another one, the certificate is not trusted: a settings fault
    // (a backend error, not an outage) naming tls_ca_file, no panic.
    let other = TlsFiles::generate().unwrap();
    for ca in [None, Some(other.ca())] {
        let untrusted = cache_with(RedisSettings {
            url: Some(format!("rediss://localhost:{tls_port}")),
            tls_ca_file: ca,
            ..settings(1, "tls:")
        });
        let err = untrusted.get::<String>("k").unwrap_err();
        assert!(matches!(err, Error::Backend { .. }), "{err:?}");
        assert!(
            err.to_string().contains("[cache.redis] tls_ca_file"),
            "{err}"
        );
    }
    // Plain redis:// against the TLS port fails too (reset or timeout), without hanging.
    let plain = cache(tls_port, "tls:");
    let started = Instant::now();
    let err = plain.get::<String>("k").unwrap_err();
    assert!(
        matches!(err, Error::Unavailable { .. } | Error::Timeout { .. }),
        "{err}"
    );
    assert_within(started, Duration::from_secs(3), "plain text to a TLS port");
}
