//! [`TlsFiles`]: a CA and a server certificate made with the `openssl` CLI, for TLS servers.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use cement::testing::ServerError;

/// A throwaway CA (`ca.crt`) and a certificate it signed (`server.crt`, key `server.key`) for
/// `localhost` and `127.0.0.1`, made with the `openssl` CLI (EC P-256, valid two days) in a
/// temporary directory that is removed when the last clone is dropped.
///
/// The certificate is good for both ends of a TLS connection (`serverAuth` and `clientAuth`):
/// Redis Cluster nodes present it to each other on the cluster bus. A TLS fixture
/// ([`RedisServer::builder().tls(..)`](super::ServerBuilder::tls),
/// [`RedisCluster::start_tls`](super::RedisCluster::start_tls)) keeps a clone, so the files
/// outlive a `restart`. Clients trust [`ca`](Self::ca) (`tls_ca_file`); the certificates of
/// another `generate()` call are signed by another CA, which clients do not trust.
///
/// ```
/// use cement_ext::testing::TlsFiles;
///
/// let files = TlsFiles::generate()?;
/// assert!(files.ca().is_file() && files.cert().is_file() && files.key().is_file());
/// let other = TlsFiles::generate()?;
/// assert_ne!(std::fs::read(files.ca()).unwrap(), std::fs::read(other.ca()).unwrap());
/// # Ok::<(), cement::testing::ServerError>(())
/// ```
#[derive(Debug, Clone)]
pub struct TlsFiles {
    dir: Arc<Dir>,
}

/// The directory of a [`TlsFiles`], removed on drop.
#[derive(Debug)]
struct Dir(PathBuf);

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const SERVER: &str = "tls certificates";

impl TlsFiles {
    /// Makes a new CA and a certificate signed by it, in a new temporary directory.
    pub fn generate() -> Result<Self, ServerError> {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "cement-tls-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path)
            .map_err(|e| ServerError::io(SERVER, format!("cannot create {}", path.display()), e))?;
        let dir = Dir(path);
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
        openssl(&dir.0, &ca)?;
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
        openssl(&dir.0, &csr)?;
        let ext = dir.0.join("ext.cnf");
        std::fs::write(
            &ext,
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
             extendedKeyUsage=serverAuth,clientAuth\n",
        )
        .map_err(|e| ServerError::io(SERVER, format!("cannot write {}", ext.display()), e))?;
        openssl(
            &dir.0,
            &[
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
            ],
        )?;
        Ok(TlsFiles { dir: Arc::new(dir) })
    }

    /// The CA certificate (PEM): what clients trust (`tls_ca_file`, `redis-cli --cacert`).
    pub fn ca(&self) -> PathBuf {
        self.dir.0.join("ca.crt")
    }

    /// The certificate (PEM) for `localhost` and `127.0.0.1`, signed by [`ca`](Self::ca).
    pub fn cert(&self) -> PathBuf {
        self.dir.0.join("server.crt")
    }

    /// The certificate's private key (PEM, unencrypted).
    pub fn key(&self) -> PathBuf {
        self.dir.0.join("server.key")
    }
}

fn openssl(dir: &Path, args: &[&str]) -> Result<(), ServerError> {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .map_err(|e| {
            ServerError::io(
                SERVER,
                "cannot run openssl (install it: apt-get install openssl)",
                e,
            )
        })?;
    if out.status.success() {
        return Ok(());
    }
    Err(ServerError::Protocol {
        server: SERVER,
        what: format!(
            "openssl {} failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ),
    })
}
