//! TLS to PostgreSQL and RabbitMQ, with rustls. What a URL asks for is read here, apart from the
//! drivers, so that a URL asking for TLS never connects in plain text: `sslmode=require`,
//! `verify-ca` or `verify-full` in `DATABASE_URL` (and `sslrootcert=` for a private CA), and
//! `amqps://` in `AMQP_URL` (and `cacertfile=`, as RabbitMQ's own URIs name it). The server's
//! certificate is always verified, chain and name, against the system's roots and that CA:
//! stricter than libpq's `require`, which encrypts without checking whom it talks to.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

use anyhow::Context;
use url::Url;

/// A `DATABASE_URL` read for TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostgresTls {
    /// The URL without the settings tokio-postgres does not read itself (`sslmode`,
    /// `sslrootcert`), with `sslmode=disable` or `require` in their place.
    pub url: String,
    /// TLS is asked for: without it the connection fails.
    pub required: bool,
    /// A CA to trust besides the system's.
    pub root_cert: Option<PathBuf>,
}

/// What `database_url` asks of TLS. Without `sslmode`, or with `disable`, `allow` or `prefer`,
/// the connection is plain, as it always was here; `require`, `verify-ca` and `verify-full`
/// make it TLS, verified, or no connection at all.
pub fn postgres(database_url: &str) -> anyhow::Result<PostgresTls> {
    let (mut settings, rebuild): (
        Vec<(String, String)>,
        Box<dyn Fn(&[(String, String)]) -> String>,
    ) = if database_url.contains("://") {
        let url = Url::parse(database_url).context("parsing DATABASE_URL")?;
        let pairs = url.query_pairs().into_owned().collect();
        let rebuild = move |pairs: &[(String, String)]| {
            let mut url = url.clone();
            url.set_query(None);
            if !pairs.is_empty() {
                url.query_pairs_mut().extend_pairs(pairs);
            }
            url.to_string()
        };
        (pairs, Box::new(rebuild))
    } else {
        // libpq's `key=value key=value` form.
        let pairs = database_url
            .split_whitespace()
            .filter_map(|pair| pair.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let rebuild = |pairs: &[(String, String)]| {
            pairs
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        (pairs, Box::new(rebuild))
    };
    let take = |settings: &mut Vec<(String, String)>, key: &str| {
        let value = settings
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone());
        settings.retain(|(k, _)| k != key);
        value
    };
    let mode = take(&mut settings, "sslmode");
    let root_cert = take(&mut settings, "sslrootcert").map(PathBuf::from);
    let required = match mode.as_deref() {
        None | Some("disable" | "allow" | "prefer") => false,
        Some("require" | "verify-ca" | "verify-full") => true,
        Some(other) => anyhow::bail!(
            "DATABASE_URL: sslmode={other} is none of disable, allow, prefer, require, verify-ca, \
             verify-full"
        ),
    };
    settings.push((
        "sslmode".into(),
        if required { "require" } else { "disable" }.into(),
    ));
    Ok(PostgresTls {
        url: rebuild(&settings),
        required,
        root_cert,
    })
}

/// The CA `amqp_url` names in `cacertfile=`, read; `None` when it names none.
pub fn amqp_ca(amqp_url: &str) -> anyhow::Result<Option<String>> {
    let Ok(url) = Url::parse(amqp_url) else {
        return Ok(None); // The driver says what is wrong with it.
    };
    let Some((_, path)) = url.query_pairs().find(|(k, _)| k == "cacertfile") else {
        return Ok(None);
    };
    let pem = std::fs::read_to_string(path.as_ref())
        .with_context(|| format!("reading cacertfile {path} of AMQP_URL"))?;
    Ok(Some(pem))
}

/// A rustls client that trusts the system's roots and, if given, the CAs in `extra` (PEM).
pub fn client_config(extra: Option<&Path>) -> anyhow::Result<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    roots.add_parsable_certificates(native.certs);
    if let Some(path) = extra {
        let pem = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let certs = rustls_pemfile_certs(&pem)
            .with_context(|| format!("reading the certificates in {}", path.display()))?;
        anyhow::ensure!(!certs.is_empty(), "{} holds no certificate", path.display());
        for cert in certs {
            roots
                .add(cert)
                .with_context(|| format!("a certificate of {}", path.display()))?;
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS versions")?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

fn rustls_pemfile_certs(
    pem: &[u8],
) -> anyhow::Result<Vec<rustls::pki_types::CertificateDer<'static>>> {
    use rustls::pki_types::{pem::PemObject, CertificateDer};
    Ok(CertificateDer::pem_slice_iter(pem).collect::<Result<Vec<_>, _>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_that_asks_for_tls_gets_it_and_one_that_does_not_stays_plain() {
        let tls = postgres(
            "postgres://u:p@db.example:5432/crowd?sslmode=verify-full&sslrootcert=/etc/ca.pem&application_name=x",
        )
        .expect("read");
        assert!(tls.required);
        assert_eq!(tls.root_cert, Some(PathBuf::from("/etc/ca.pem")));
        assert_eq!(
            tls.url,
            "postgres://u:p@db.example:5432/crowd?application_name=x&sslmode=require"
        );
        for plain in [
            "postgres://u@h/db",
            "postgres://u@h/db?sslmode=prefer",
            "postgres://u@h/db?sslmode=disable",
        ] {
            let tls = postgres(plain).expect("read");
            assert!(!tls.required, "{plain}");
            assert!(tls.url.ends_with("sslmode=disable"), "{}", tls.url);
        }
        let kv = postgres("host=h dbname=crowd sslmode=require").expect("read");
        assert!(kv.required);
        assert_eq!(kv.url, "host=h dbname=crowd sslmode=require");
    }

    #[test]
    fn an_unknown_sslmode_is_an_error_that_lists_the_known_ones() {
        let e = postgres("postgres://u@h/db?sslmode=always").expect_err("refused");
        assert!(format!("{e}").contains("verify-full"), "{e}");
    }
}
