//! TLS: a CA and a server certificate made with `openssl`, `rediss://` and `tls = true`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use cement::Error;
use cement_ext::redis::RedisSettings;
use cement_ext::testing::RedisServer;

use crate::assert_within;
use crate::support::redis::{cache, cache_with, raw, settings};

/// A CA and a server certificate for `localhost` / `127.0.0.1`, made with the `openssl` CLI.
struct Certificates {
    dir: PathBuf,
}

impl Certificates {
    fn generate() -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "cement-redis-tls-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let openssl = |args: &[&str]| {
            let out = Command::new("openssl")
                .args(args)
                .current_dir(&dir)
                .output()
                .unwrap_or_else(|e| {
                    panic!("cannot run openssl ({e}); install it: apt-get install openssl")
                });
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        let mut ca = vec![
            "req",
            "-x509",
            "-days",
            "2",
            "-subj",
            "/CN=cement test CA",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
        ];
        ca.extend(ec);
        ca.extend([
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ]);
        openssl(&ca);
        let mut csr = vec![
            "req",
            "-new",
            "-subj",
            "/CN=localhost",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ];
        csr.extend(ec);
        openssl(&csr);
        std::fs::write(
            dir.join("ext.cnf"),
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        openssl(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-out",
            "server.crt",
            "-extfile",
            "ext.cnf",
        ]);
        Certificates { dir }
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }
}

impl Drop for Certificates {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn tls_with_a_ca_file() {
    let certs = Certificates::generate();
    let tls_port = free_port();
    let server = RedisServer::builder()
        .args(["--tls-port".to_string(), tls_port.to_string()])
        .args([
            "--tls-cert-file",
            &certs.path("server.crt"),
            "--tls-key-file",
            &certs.path("server.key"),
        ])
        .args([
            "--tls-ca-cert-file",
            &certs.path("ca.crt"),
            "--tls-auth-clients",
            "no",
        ])
        .start()
        .unwrap();
    assert!(Path::new(&certs.path("ca.crt")).exists());

    // rediss:// url + CA file.
    let c = cache_with(RedisSettings {
        url: Some(format!("rediss://localhost:{tls_port}")),
        tls_ca_file: Some(certs.path("ca.crt").into()),
        ..settings(1, "tls:")
    });
    c.set("k", "over tls").unwrap();
    assert_eq!(c.get::<String>("k").unwrap().as_deref(), Some("over tls"));
    // tls = true with host/port (an IP address in the certificate's SANs).
    let c2 = cache_with(RedisSettings {
        tls: true,
        tls_ca_file: Some(certs.path("ca.crt").into()),
        ..settings(tls_port, "tls:")
    });
    assert_eq!(c2.get::<String>("k").unwrap().as_deref(), Some("over tls"));
    // The plain port sees the same data.
    let stored: Option<Vec<u8>> = redis::cmd("GET")
        .arg("tls:k")
        .query(&mut raw(&server))
        .unwrap();
    assert_eq!(stored.as_deref(), Some(&b"\xCE\x01\x01\"over tls\""[..]));

    // Without the CA, the certificate is not trusted: a clear error, no panic.
    let untrusted = cache_with(RedisSettings {
        url: Some(format!("rediss://localhost:{tls_port}")),
        ..settings(1, "tls:")
    });
    let err = untrusted.get::<String>("k").unwrap_err();
    assert!(err.to_string().contains("tls_ca_file"), "{err}");
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
