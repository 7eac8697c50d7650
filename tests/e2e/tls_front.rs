//! A TLS front for the local PostgreSQL or RabbitMQ, on a loopback port of the test's own,
//! with a certificate authority the test makes: clients speak TLS to it, it speaks plain to the
//! real server. PostgreSQL asks for TLS inside its own protocol (an `SSLRequest`, answered `S`
//! before the handshake); AMQP over TLS starts with the handshake.

use std::{path::PathBuf, sync::Arc};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};
use tokio_rustls::TlsAcceptor;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Postgres,
    Amqp,
}

/// PostgreSQL's `SSLRequest`: its length (8), then the code 80877103.
const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];

pub struct TlsFront {
    pub port: u16,
    /// The PEM of the CA that signed the front's certificate (for `localhost` and 127.0.0.1).
    pub ca_file: PathBuf,
    task: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl TlsFront {
    pub async fn start(protocol: Protocol, upstream: &str) -> TlsFront {
        let dir = tempfile::tempdir().expect("a directory for the CA");
        let ca_key = KeyPair::generate().expect("a CA key");
        let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "crowd test CA");
        let ca_cert = ca.self_signed(&ca_key).expect("the CA certificate");
        let ca_file = dir.path().join("ca.pem");
        std::fs::write(&ca_file, ca_cert.pem()).expect("write the CA");
        let issuer = Issuer::new(ca, ca_key);
        let key = KeyPair::generate().expect("a server key");
        let cert = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .expect("server parameters")
            .signed_by(&key, &issuer)
            .expect("the server certificate");
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let server = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(
                vec![CertificateDer::from(cert.der().to_vec())],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            )
            .expect("the server's TLS settings");
        let acceptor = TlsAcceptor::from(Arc::new(server));
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the front");
        let port = listener.local_addr().expect("its address").port();
        let upstream = upstream.to_string();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (acceptor, upstream) = (acceptor.clone(), upstream.clone());
                tokio::spawn(async move {
                    let _ = relay(protocol, acceptor, client, &upstream).await;
                });
            }
        });
        TlsFront {
            port,
            ca_file,
            task,
            _dir: dir,
        }
    }
}

async fn relay(
    protocol: Protocol,
    acceptor: TlsAcceptor,
    mut client: TcpStream,
    upstream: &str,
) -> std::io::Result<()> {
    if protocol == Protocol::Postgres {
        let mut request = [0u8; 8];
        client.read_exact(&mut request).await?;
        if request != SSL_REQUEST {
            return Ok(()); // A plain start-up: this front speaks TLS only.
        }
        client.write_all(b"S").await?;
    }
    let mut tls = acceptor.accept(client).await?;
    let mut server = TcpStream::connect(upstream).await?;
    tokio::io::copy_bidirectional(&mut tls, &mut server).await?;
    Ok(())
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        self.task.abort();
    }
}
